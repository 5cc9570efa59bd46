"""Retention: anonymise or delete what is older than RETENTION_MONTHS.

Run daily by a job (tasks.py) and by `npsloop manage retention [--dry-run]`.
Everything is scoped per organization and done in batches, one short
transaction each, so the web stays responsive (SQLite takes its write lock per
batch, not for the whole run). Every step selects only rows that still hold
something to remove, so a second run finds nothing to do.

"Older than N months" means created before the cutoff, now minus N calendar
months; a row created exactly at the cutoff is kept. A contact counts as old
only when it was created before the cutoff and has shown no sign of life
since: no invitation, response or send decision since the cutoff, none
scheduled, not seen by Segment since. Its email stays when it unsubscribed or
bounced, since that row is what keeps npsloop from emailing the address again.

anonymise (default) keeps every score, date, state and count (the NPS, trends and
metrics stay the same) and removes what says who someone was or what they
wrote, as the API's erasure (npsloop.api.erasure) does for one person.
delete removes old responses, contacts, events, emails and decisions. The dashboard's
roll-ups (npsloop.insights.rollups) are told the days that change; deletions tell them
by the delete signals.
See docs/operations.md for the table of what happens to which data.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from npsloop.accounts.models import Organization
from npsloop.api.erasure import ERASED, ERASED_DOMAIN
from npsloop.contacts.models import Contact
from npsloop.ingest.models import IngestEvent
from npsloop.insights import rollups
from npsloop.invitations.models import Decision, Invitation, InvitationEvent
from npsloop.mail.models import OutboundEmail
from npsloop.notifications.models import Delivery
from npsloop.responses.models import Note, Response, ResponseEvent, ShareLink
from npsloop.segment_sync.models import SegmentSync

ANONYMISE, DELETE = "anonymise", "delete"
MODES = (ANONYMISE, DELETE)
BATCH_SIZE = 500

_ACTIVE_INVITATION = [Invitation.State.SCHEDULED, Invitation.State.SENDING]
_UNSUPPRESSED = Q(unsubscribed_at__isnull=True, bounced_at__isnull=True)
_CONTACT_PERSONAL = (
    ~Q(first_name="")
    | ~Q(last_name="")
    | ~Q(external_id="")
    | ~Q(anonymous_id="")
    | ~Q(gender="")
    | ~Q(language="")
    | ~Q(properties={})
    | Q(signed_up_at__isnull=False)
    | Q(last_seen_at__isnull=False)
    | Q(traits_updated_at__isnull=False)
)
_CONTACT_BLANK = {
    "external_id": "",
    "anonymous_id": "",
    "first_name": "",
    "last_name": "",
    "gender": "",
    "language": "",
    "properties": {},
    "signed_up_at": None,
    "last_seen_at": None,
    "traits_updated_at": None,
}


def months_before(when: dt.datetime, months: int) -> dt.datetime:
    """`when` minus calendar months; the 31st becomes the month's last day."""
    index = when.year * 12 + (when.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


@dataclass
class OrganizationReport:
    organization_id: int
    name: str
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class RetentionReport:
    mode: str
    months: int
    cutoff: dt.datetime
    dry_run: bool
    organizations: list[OrganizationReport] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for org in self.organizations:
            for key, value in org.counts.items():
                totals[key] = totals.get(key, 0) + value
        return totals


@dataclass(frozen=True)
class Step:
    name: str
    rows: QuerySet  # the rows that still hold something to remove
    apply: Callable[[QuerySet], int]  # acts on one batch of them, returns how many


def _update(**values) -> Callable[[QuerySet], int]:
    return lambda qs: qs.update(**values)


def _delete(qs: QuerySet) -> int:
    _total, per_model = qs.delete()
    return per_model.get(qs.model._meta.label, 0)


def _erase_contacts(qs: QuerySet) -> int:
    # The same shape as the API's erasure: an address no one owns, unique per row.
    email = Concat(
        Value("erased-"), Cast("id", output_field=CharField()), Value(f"@{ERASED_DOMAIN}")
    )
    _contacts_change_rollups(qs)
    return qs.update(email=email, **_CONTACT_BLANK)


# Bulk updates leave updated_at alone (on responses a newer one would replay their
# notifications), so the dashboard's roll-ups are told which days change: they group
# by gender and properties and count comments.
def _contacts_change_rollups(qs: QuerySet) -> None:
    rollups.mark_responses_dirty(Response.objects.filter(contact__in=qs.values("pk")))


def _blank_contacts(qs: QuerySet) -> int:
    _contacts_change_rollups(qs)
    return qs.update(**_CONTACT_BLANK)


def _blank_comments(qs: QuerySet) -> int:
    rollups.mark_responses_dirty(qs)
    return qs.update(comment="")


def old_contacts(organization: Organization, cutoff: dt.datetime) -> QuerySet:
    """Contacts created before the cutoff that have shown no sign of life since."""
    own = {"contact": OuterRef("pk")}
    return (
        Contact.objects.filter(organization=organization, created_at__lt=cutoff)
        .exclude(last_seen_at__gte=cutoff)
        .exclude(
            Exists(
                Invitation.objects.filter(**own).filter(
                    Q(created_at__gte=cutoff) | Q(state__in=_ACTIVE_INVITATION)
                )
            )
        )
        .exclude(Exists(Response.objects.filter(**own, created_at__gte=cutoff)))
        .exclude(Exists(Decision.objects.filter(**own, created_at__gte=cutoff)))
    )


def _steps(
    organization: Organization, *, mode: str, cutoff: dt.datetime, now: dt.datetime
) -> list[Step]:
    org = organization
    responses = Response.objects.filter(organization=org, created_at__lt=cutoff)
    contacts = old_contacts(org, cutoff)
    finished_events = IngestEvent.objects.filter(
        organization=org,
        received_at__lt=cutoff,
        state__in=[IngestEvent.State.DONE, IngestEvent.State.FAILED],
    )
    emails = OutboundEmail.objects.filter(organization=org, created_at__lt=cutoff).exclude(
        status=OutboundEmail.Status.SENDING
    )
    decisions = Decision.objects.filter(organization=org, created_at__lt=cutoff)
    # A blanked payload would be sent again by "re-send": old deliveries go in both modes.
    deliveries = Delivery.objects.filter(
        organization=org,
        created_at__lt=cutoff,
        state__in=[Delivery.State.DELIVERED, Delivery.State.FAILED],
    )
    shares = ShareLink.objects.filter(organization=org, created_at__lt=cutoff).filter(
        Q(expires_at__lte=now) | Q(revoked_at__isnull=False)
    )
    # Both modes keep old invitations of contacts still around (the send rules'
    # minimum interval counts them) and blank the texts of their history.
    invitations = [
        Step(
            "invitation_errors",
            Invitation.objects.filter(organization=org, created_at__lt=cutoff)
            .exclude(state__in=_ACTIVE_INVITATION)
            .exclude(last_error=""),
            _update(last_error=""),
        ),
        Step(
            "invitation_events",
            InvitationEvent.objects.filter(invitation__organization=org, at__lt=cutoff).exclude(
                detail=""
            ),
            _update(detail=""),
        ),
    ]
    suppressed = Step(
        "suppressed_contacts",
        contacts.exclude(_UNSUPPRESSED).filter(_CONTACT_PERSONAL),
        _blank_contacts,
    )
    if mode == DELETE:
        return [
            Step("responses", responses, _delete),
            Step("contacts", contacts.filter(_UNSUPPRESSED), _delete),
            suppressed,
            *invitations,
            Step("decisions", decisions, _delete),
            Step("ingest_events", finished_events, _delete),
            Step("emails", emails, _delete),
            Step("notification_deliveries", deliveries, _delete),
            Step("share_links", shares, _delete),
        ]
    return [
        Step("responses", responses.exclude(comment=""), _blank_comments),
        Step(
            "notes",
            Note.objects.filter(response__organization=org, response__created_at__lt=cutoff),
            _delete,
        ),
        Step(
            "response_events",
            ResponseEvent.objects.filter(
                response__organization=org, response__created_at__lt=cutoff
            ).exclude(detail=""),
            _update(detail=""),
        ),
        Step(
            "segment_syncs",
            SegmentSync.objects.filter(organization=org, response__created_at__lt=cutoff)
            .exclude(state__in=[SegmentSync.State.SCHEDULED, SegmentSync.State.SENDING])
            .filter(~Q(payload={}) | ~Q(last_error="")),
            _update(payload={}, last_error=""),
        ),
        Step(
            "contacts",
            contacts.filter(_UNSUPPRESSED).exclude(email__endswith=f"@{ERASED_DOMAIN}"),
            _erase_contacts,
        ),
        suppressed,
        *invitations,
        Step("decisions", decisions.exclude(detail=""), _update(detail="")),
        Step(
            "ingest_events",
            finished_events.filter(
                ~Q(payload={}) | ~Q(user_id="") | ~Q(anonymous_id="") | ~Q(error="")
            ),
            _update(payload={}, user_id="", anonymous_id="", error=""),
        ),
        Step(
            "emails",
            emails.filter(~Q(to=ERASED) | ~Q(subject=ERASED) | ~Q(raw="") | ~Q(error="")),
            _update(to=ERASED, subject=ERASED, raw="", error=""),
        ),
        Step("notification_deliveries", deliveries, _delete),
        Step("share_links", shares, _delete),
    ]


def _sweep(step: Step, batch_size: int) -> int:
    """Apply the step batch by batch, walking the primary key so it always ends."""
    done, last = 0, None
    while True:
        rows = step.rows.order_by("pk")
        if last is not None:
            rows = rows.filter(pk__gt=last)
        pks = list(rows.values_list("pk", flat=True)[:batch_size])
        if not pks:
            return done
        with transaction.atomic():
            # The step's conditions again: a row that changed meanwhile is left alone.
            done += step.apply(step.rows.filter(pk__in=pks))
        last = pks[-1]


def apply_retention(
    organization: Organization,
    *,
    mode: str,
    cutoff: dt.datetime,
    now: dt.datetime,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
) -> OrganizationReport:
    report = OrganizationReport(organization_id=organization.pk, name=organization.name)
    for step in _steps(organization, mode=mode, cutoff=cutoff, now=now):
        report.counts[step.name] = step.rows.count() if dry_run else _sweep(step, batch_size)
    return report


def run_retention(
    *,
    months: int,
    mode: str,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
) -> RetentionReport:
    if mode not in MODES:
        raise ValueError(f"retention mode {mode!r}: use one of {', '.join(MODES)}")
    if months < 1:
        raise ValueError("retention needs at least 1 month")
    now = now or timezone.now()
    cutoff = months_before(now, months)
    report = RetentionReport(mode=mode, months=months, cutoff=cutoff, dry_run=dry_run)
    for organization in Organization.objects.order_by("pk"):
        report.organizations.append(
            apply_retention(
                organization,
                mode=mode,
                cutoff=cutoff,
                now=now,
                dry_run=dry_run,
                batch_size=batch_size,
            )
        )
    return report
