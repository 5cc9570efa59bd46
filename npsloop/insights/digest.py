"""The weekly digest: last week's NPS, its trend and the latest detractor comments,
emailed on Monday morning (07:00 in the organization's zone) to members who opted in.

Claim, then act: a DigestDelivery row, unique per member and week, is created before
the email is sent, so a job that runs twice (or two workers) sends one email. A failed
send may be tried again by a later run; a sent one never is.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from npsloop.accounts.models import Membership, Organization
from npsloop.insights import periods
from npsloop.insights.metrics import Metrics, metrics
from npsloop.insights.models import DigestDelivery
from npsloop.insights.nps import round_half_away
from npsloop.insights.trend import Trend, trend
from npsloop.mail.errors import MailError
from npsloop.mail.services import deliver
from npsloop.responses.filters import ResponseFilter, compile_filter
from npsloop.responses.models import Response

log = logging.getLogger(__name__)

SEND_WEEKDAY = 0  # Monday
SEND_HOUR = 7  # 07:00 local time
TREND_WEEKS = 8
DETRACTOR_COMMENTS = 5


def due_week(now: dt.datetime, zone: dt.tzinfo) -> dt.date | None:
    """Monday of the week to report on, when a digest is due at `now` in `zone`: from
    Monday 07:00 to the end of that Monday (a late run catches up); else None."""
    local = now.astimezone(zone)
    if local.weekday() != SEND_WEEKDAY or local.hour < SEND_HOUR:
        return None
    return local.date() - dt.timedelta(days=7)


def member_language(membership: Membership) -> str:
    """The language of the member's digest: theirs (Your settings), else English."""
    return membership.language or settings.LANGUAGE_CODE


@dataclass(frozen=True)
class DigestContent:
    organization: Organization
    week_start: dt.date
    week_end: dt.date
    metrics: Metrics  # last week, with the week before as `previous`
    trend: Trend  # the last TREND_WEEKS weeks, by week
    detractors: tuple[Response, ...]


def digest_content(organization: Organization, week_start: dt.date) -> DigestContent:
    """The numbers of one digest (the same for every member of the organization)."""
    week_start, week_end = periods.week_of(week_start)
    week = ResponseFilter(date_from=week_start, date_to=week_end)
    weeks = dataclasses.replace(
        week, date_from=periods.shift(week_start, periods.WEEK, -(TREND_WEEKS - 1))
    )
    comments = dataclasses.replace(week, categories=("detractor",), comment="with")
    detractors = (
        compile_filter(organization, comments)
        .select_related("contact", "survey")
        .order_by("-created_at", "-id")[:DETRACTOR_COMMENTS]
    )
    return DigestContent(
        organization=organization,
        week_start=week_start,
        week_end=week_end,
        metrics=metrics(organization, week),
        trend=trend(organization, weeks, period=periods.WEEK),
        detractors=tuple(detractors),
    )


def _nps(value: float | None) -> str:
    rounded = round_half_away(value)
    return "—" if rounded is None else str(rounded)


def _signed(value: float | None) -> str:
    rounded = round_half_away(value)
    if rounded is None:
        return ""
    return "±0" if rounded == 0 else f"{rounded:+d}"


def build_digest_email(
    membership: Membership, content: DigestContent, *, language: str
) -> EmailMultiAlternatives:
    org = content.organization
    base = settings.BASE_URL
    with translation.override(language):
        m = content.metrics
        change = _signed(m.delta)
        arrow = {"": "", "±0": "▶"}.get(change, "▲" if change.startswith("+") else "▼")
        week_query = ResponseFilter(date_from=content.week_start, date_to=content.week_end)
        weeks = [
            {
                "name": _("Week of %(day)s") % {"day": date_format(p.start, "j M Y")},
                "nps": _nps(p.summary.nps),
                "count": p.summary.total,
                "too_few": p.summary.too_few,
            }
            for p in content.trend.points
        ]
        context = {
            "organization": org,
            "language": language,
            "week": _("%(start)s to %(end)s")
            % {
                "start": date_format(content.week_start, "j M Y"),
                "end": date_format(content.week_end, "j M Y"),
            },
            "zone": str(org.zone),
            "metrics": m,
            "summary": m.summary,
            "nps": _nps(m.summary.nps),
            "low": _nps(m.summary.confidence[0]) if m.summary.total else "—",
            "high": _nps(m.summary.confidence[1]) if m.summary.total else "—",
            "change": change,
            "arrow": arrow,
            "previous_nps": _nps(m.previous.nps) if m.previous else "—",
            "weeks": weeks,
            "detractors": [
                {
                    "score": r.score,
                    "comment": r.comment,
                    "who": (r.contact.full_name or r.contact.email) if r.contact else "",
                    "survey": r.survey.name,
                    "url": base + reverse("inbox_detail", args=[r.pk]),
                }
                for r in content.detractors
            ],
            "dashboard_url": f"{base}{reverse('dashboard')}?{week_query.to_query()}",
            "settings_url": f"{base}{reverse('dashboard')}#digest",
        }
        if m.summary.total:
            subject = _("Weekly NPS for %(organization)s: %(nps)s") % {
                "organization": org.name,
                "nps": context["nps"] + (f" ({arrow} {change})" if change else ""),
            }
        else:
            subject = _("Weekly NPS for %(organization)s: no responses last week") % {
                "organization": org.name
            }
        body = render_to_string("insights/digest_email.txt", context)
        html = render_to_string("insights/digest_email.html", context)
    message = EmailMultiAlternatives(
        subject=subject.replace("\n", " ").replace("\r", " "),
        body=body,
        from_email=formataddr(("npsloop", parseaddr(settings.DEFAULT_FROM_EMAIL)[1])),
        to=[membership.user.email],
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    return message


def _claim(membership: Membership, week_start: dt.date) -> DigestDelivery | None:
    """The delivery row for this member and week if this call may send it, else None."""
    try:
        with transaction.atomic():
            return DigestDelivery.objects.create(membership=membership, week_start=week_start)
    except IntegrityError:
        pass
    retried = DigestDelivery.objects.filter(
        membership=membership, week_start=week_start, status=DigestDelivery.Status.FAILED
    ).update(status=DigestDelivery.Status.SENDING, error="")
    if retried != 1:
        return None  # sent, or being sent by another worker
    return DigestDelivery.objects.get(membership=membership, week_start=week_start)


def _fail(delivery: DigestDelivery, exc: Exception) -> None:
    DigestDelivery.objects.filter(pk=delivery.pk).update(
        status=DigestDelivery.Status.FAILED,
        error=f"{type(exc).__name__}: {exc}"[:2000],
        finished_at=timezone.now(),
    )


def send_digest(
    *, membership: Membership, week_start: dt.date, content: DigestContent | None = None
) -> str:
    """Send one member the digest of the week starting `week_start`, at most once.

    Returns "sent", "already" (sent before or being sent), "skipped" (not opted in or
    no email address) or "failed".
    """
    week_start = periods.floor(week_start, periods.WEEK)
    if not membership.weekly_digest or not membership.user.email:
        return "skipped"
    delivery = _claim(membership, week_start)
    if delivery is None:
        return "already"
    try:
        if content is None:
            content = digest_content(membership.organization, week_start)
        message = build_digest_email(membership, content, language=member_language(membership))
        record = deliver(
            message,
            kind="digest",
            organization=membership.organization,
            ref=f"digest:{membership.pk}:{week_start.isoformat()}",
        )
    except MailError as exc:
        _fail(delivery, exc)
        log.warning("digest for membership %s failed: %s", membership.pk, exc)
        return "failed"
    except Exception as exc:
        _fail(delivery, exc)  # left "sending", it would never be tried again
        raise
    DigestDelivery.objects.filter(pk=delivery.pk).update(
        status=DigestDelivery.Status.SENT, email=record, finished_at=timezone.now()
    )
    return "sent"


def send_weekly_digests(*, now: dt.datetime) -> dict[str, int]:
    """Send every opted-in member whose organization's Monday 07:00 has come the digest
    of the week before; the numbers are computed once per organization."""
    outcome = {"sent": 0, "already": 0, "skipped": 0, "failed": 0}
    members = (
        Membership.objects.filter(weekly_digest=True, user__is_active=True)
        .select_related("organization", "user")
        .order_by("organization_id", "id")
    )
    by_org: dict[int, list[Membership]] = {}
    for membership in members:
        by_org.setdefault(membership.organization_id, []).append(membership)
    for group in by_org.values():
        organization = group[0].organization
        week_start = due_week(now, organization.zone)
        if week_start is None:
            continue
        done = set(
            DigestDelivery.objects.filter(membership__in=group, week_start=week_start)
            .exclude(status=DigestDelivery.Status.FAILED)
            .values_list("membership_id", flat=True)
        )
        waiting = [m for m in group if m.pk not in done]
        outcome["already"] += len(group) - len(waiting)
        if not waiting:
            continue
        content = digest_content(organization, week_start)
        for membership in waiting:
            outcome[send_digest(membership=membership, week_start=week_start, content=content)] += 1
    return outcome
