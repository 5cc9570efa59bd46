"""Scheduling and sending invitations.

The row is the source of truth; a job carries only the id. Sending claims the
row with one conditional UPDATE, so a job that runs twice, or two workers,
send once.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from npsloop.contacts.models import Contact
from npsloop.contacts.signals import contact_unsubscribed
from npsloop.invitations import rules
from npsloop.invitations.emails import build_invitation_email, message_id
from npsloop.invitations.errors import InvitationRefused
from npsloop.invitations.models import Decision, Invitation, InvitationEvent
from npsloop.mail.errors import MailError
from npsloop.mail.services import deliver
from npsloop.surveys.models import Survey
from npsloop.surveys.selectors import language_for
from npsloop.web.backoff import retry_delay
from npsloop.web.dbretry import retry_on_disconnect
from npsloop.web.secrets import random_token

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
State = Invitation.State


def _event(invitation_id: int, kind: str, detail: str = "") -> None:
    InvitationEvent.objects.create(invitation_id=invitation_id, kind=kind, detail=detail)


def schedule_invitation(
    *,
    survey: Survey,
    contact: Contact,
    source: str,
    send_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Invitation:
    """Create a scheduled invitation; the job is enqueued once the transaction commits."""
    now = now or timezone.now()
    if contact.organization_id != survey.organization_id:
        raise ValueError("contact and survey belong to different organizations")
    if contact.unsubscribed_at:
        raise InvitationRefused(_("%(email)s has unsubscribed.") % {"email": contact.email})
    if contact.bounced_at:
        raise InvitationRefused(_("Emails to %(email)s have bounced.") % {"email": contact.email})
    if survey.status == Survey.Status.ARCHIVED:
        raise InvitationRefused(_("The survey is archived."))
    send_at = max(send_at or now, now)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            organization_id=survey.organization_id,
            survey=survey,
            contact=contact,
            key=random_token(18),
            source=source,
            language=language_for(survey, contact.language),
            send_at=send_at,
        )
        _event(invitation.pk, "scheduled", send_at.isoformat(timespec="seconds"))
        transaction.on_commit(lambda: _enqueue(invitation.pk, send_at))
    return invitation


def _enqueue(invitation_id: int, send_at: dt.datetime) -> None:
    from npsloop.invitations import tasks

    tasks.enqueue_send(invitation_id, send_at)


def cancel_invitation(*, invitation: Invitation, reason: str) -> bool:
    changed = Invitation.objects.filter(pk=invitation.pk, state=State.SCHEDULED).update(
        state=State.CANCELLED
    )
    if changed:
        _event(invitation.pk, "cancelled", reason)
    return bool(changed)


def send_invitation(invitation_id: int) -> str:
    """Send one due invitation, if this call wins the claim. Returns what happened."""
    now = timezone.now()
    claimed = Invitation.objects.filter(
        pk=invitation_id, state=State.SCHEDULED, send_at__lte=now
    ).update(state=State.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if claimed != 1:
        return "not-claimed"
    invitation = Invitation.objects.select_related("survey", "contact", "organization").get(
        pk=invitation_id
    )
    contact, survey = invitation.contact, invitation.survey
    if not contact.can_receive or survey.status == Survey.Status.ARCHIVED:
        reason = "contact unsubscribed or bounced" if not contact.can_receive else "survey archived"
        _move(invitation, State.CANCELLED, "cancelled", reason)
        return "cancelled"
    if survey.status == Survey.Status.PAUSED:
        # Back to the pool; resuming the survey enqueues it again.
        _move(invitation, State.SCHEDULED, "held", "survey paused")
        return "held"
    try:
        deliver(
            build_invitation_email(invitation),
            kind="invitation",
            organization=invitation.organization,
            ref=f"invitation:{invitation.pk}",
        )
    except MailError as error:
        return _failed(invitation, error, now)
    # The server took the message: record it even across a short database outage, or
    # the reconciler would send it a second time.
    retry_on_disconnect(
        lambda: Invitation.objects.filter(pk=invitation.pk, state=State.SENDING).update(
            state=State.SENT,
            sent_at=timezone.now(),
            message_id=message_id(invitation),
            last_error="",
        )
    )
    retry_on_disconnect(lambda: _event(invitation.pk, "sent", contact.email))
    return "sent"


def _move(invitation: Invitation, state: str, kind: str, detail: str, **fields) -> None:
    Invitation.objects.filter(pk=invitation.pk, state=State.SENDING).update(state=state, **fields)
    _event(invitation.pk, kind, detail)


def _failed(invitation: Invitation, error: MailError, now: dt.datetime) -> str:
    detail = str(error)
    if error.recipient_refused:
        Contact.objects.filter(pk=invitation.contact_id, bounced_at=None).update(bounced_at=now)
        _move(invitation, State.BOUNCED, "bounced", detail, last_error=detail)
        return "bounced"
    if error.permanent or invitation.attempts >= MAX_ATTEMPTS:
        _move(invitation, State.FAILED, "failed", detail, last_error=detail)
        return "failed"
    retry_at = now + retry_delay(invitation.attempts)
    _move(
        invitation,
        State.SCHEDULED,
        "retry",
        f"{detail}; next try {retry_at:%H:%M:%S}",
        send_at=retry_at,
        last_error=detail,
    )
    _enqueue(invitation.pk, retry_at)
    return "retry"


def reconcile(*, lost_after: dt.timedelta = dt.timedelta(minutes=2)) -> dict[str, int]:
    """Return stale claims to the pool and enqueue due invitations nobody picked up.

    Runs every minute and when a worker starts (lost_after=0). Enqueuing twice is
    harmless: the claim makes the second job a no-op.
    """
    now = timezone.now()
    stale_before = now - dt.timedelta(seconds=settings.NPSLOOP_CLAIM_TIMEOUT_SECONDS)
    stale = list(
        Invitation.objects.filter(state=State.SENDING, claimed_at__lt=stale_before).values_list(
            "pk", flat=True
        )
    )
    returned = 0
    for pk in stale:
        if Invitation.objects.filter(
            pk=pk, state=State.SENDING, claimed_at__lt=stale_before
        ).update(state=State.SCHEDULED):
            returned += 1
            _event(pk, "returned", "the worker that claimed it stopped before finishing")
    due = list(
        Invitation.objects.filter(
            state=State.SCHEDULED,
            send_at__lte=now - lost_after,
            survey__status=Survey.Status.ACTIVE,
        )
        .order_by("send_at")
        .values_list("pk", "send_at")[:5000]
    )
    for pk, send_at in due:
        _enqueue(pk, send_at)
    if returned or due:
        log.info(
            "reconcile: %d stale claims returned, %d due invitations enqueued", returned, len(due)
        )
    return {"returned": returned, "enqueued": len(due)}


def mark_responded(*, invitation_id: int) -> None:
    changed = Invitation.objects.filter(
        pk=invitation_id, state__in=[State.SENT, State.SENDING, State.FAILED]
    ).update(state=State.RESPONDED)
    if changed:
        _event(invitation_id, "responded")


def unsubscribe(*, invitation: Invitation) -> None:
    """The contact gets no more survey emails from this organization."""
    now = timezone.now()
    with transaction.atomic():
        if Contact.objects.filter(pk=invitation.contact_id, unsubscribed_at=None).update(
            unsubscribed_at=now
        ):
            contact_id = invitation.contact_id
            transaction.on_commit(
                lambda: contact_unsubscribed.send(sender=Contact, contact_id=contact_id, at=now)
            )
        pending = Invitation.objects.filter(contact_id=invitation.contact_id, state=State.SCHEDULED)
        for pk in pending.values_list("pk", flat=True):
            if Invitation.objects.filter(pk=pk, state=State.SCHEDULED).update(
                state=State.CANCELLED
            ):
                _event(pk, "cancelled", "contact unsubscribed")
        _event(invitation.pk, "unsubscribed")


def decide_and_schedule(
    *,
    survey: Survey,
    contact: Contact | None,
    email: str,
    email_valid: bool,
    source: str,
    event_ref: str = "",
    now: dt.datetime | None = None,
) -> Decision:
    """Apply the survey's send rules to one contact; record the decision, schedule if due."""
    now = now or timezone.now()
    history = rules.History()
    if contact is not None:
        invitations = Invitation.objects.filter(contact=contact, survey=survey)
        history = rules.History(
            pending=invitations.filter(state__in=[State.SCHEDULED, State.SENDING]).exists(),
            last_surveyed_at=invitations.exclude(
                state__in=[State.CANCELLED, State.FAILED, State.BOUNCED]
            ).aggregate(last=Max(Coalesce("sent_at", "send_at")))["last"],
        )
    verdict = rules.decide(
        rules.Rules(
            min_delay_days=survey.min_delay_days,
            max_delay_days=survey.max_delay_days,
            min_interval_weeks=survey.min_interval_weeks,
            status=survey.status,
            automation=survey.segment_enabled or source != Invitation.Source.SEGMENT,
        ),
        rules.Person(
            email=email,
            email_valid=email_valid,
            created_at=contact.signed_up_at if contact else None,
            unsubscribed=bool(contact and contact.unsubscribed_at),
            bounced=bool(contact and contact.bounced_at),
        ),
        history,
        now,
    )
    invitation = None
    if verdict.scheduled:
        invitation = schedule_invitation(
            survey=survey, contact=contact, source=source, send_at=verdict.send_at, now=now
        )
    return Decision.objects.create(
        organization_id=survey.organization_id,
        survey=survey,
        contact=contact,
        invitation=invitation,
        outcome=Decision.Outcome.SCHEDULED if verdict.scheduled else Decision.Outcome.SKIPPED,
        reason=verdict.reason,
        detail=email[:300] if not email_valid else "",
        source=source,
        event_ref=event_ref[:200],
    )
