"""Reads for the survey's Segment tab: decisions by reason and the latest events."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone

from npsloop.ingest.events import traits_of
from npsloop.ingest.models import IngestEvent
from npsloop.invitations.models import Decision, Invitation
from npsloop.surveys.models import Survey

RECENT_EVENTS = 50
RECENT_DAYS = 30


@dataclass(frozen=True)
class ReasonCount:
    reason: str
    label: str
    outcome: str  # "scheduled" or "skipped"
    recent: int  # in the last RECENT_DAYS days
    total: int


@dataclass(frozen=True)
class EventRow:
    event: IngestEvent
    email: str  # from the event's traits, when it has one
    decision: Decision | None  # for an identify call, once it is processed


def decision_counts(
    survey: Survey, *, now: dt.datetime | None = None, days: int = RECENT_DAYS
) -> list[ReasonCount]:
    """Segment decisions of the survey by reason, recent and all time, in one query.

    Every reason is listed (zero when it never happened), in the order the send
    rules check them, so the table reads the same from one day to the next.
    """
    since = (now or timezone.now()) - dt.timedelta(days=days)
    rows = (
        Decision.objects.filter(survey=survey, source=Invitation.Source.SEGMENT)
        .values("reason")
        .annotate(total=Count("id"), recent=Count("id", filter=Q(created_at__gte=since)))
        .order_by()
    )
    found = {row["reason"]: row for row in rows}
    return [
        ReasonCount(
            reason=reason.value,
            label=str(reason.label),
            outcome=(
                Decision.Outcome.SCHEDULED
                if reason == Decision.Reason.SCHEDULED
                else Decision.Outcome.SKIPPED
            ),
            recent=found.get(reason.value, {}).get("recent", 0),
            total=found.get(reason.value, {}).get("total", 0),
        )
        for reason in Decision.Reason
    ]


def recent_events(survey: Survey, *, limit: int = RECENT_EVENTS) -> list[EventRow]:
    """The survey's latest events as received, each identify with its decision: two queries."""
    events = list(
        IngestEvent.objects.filter(survey=survey)
        .only(
            "id",
            "message_id",
            "type",
            "user_id",
            "anonymous_id",
            "timestamp",
            "received_at",
            "payload",
            "state",
            "contact_id",
        )
        .order_by("-received_at", "-id")[:limit]
    )
    refs = {e.message_id for e in events if e.type == "identify"}
    decisions: dict[str, Decision] = {}
    if refs:
        # Oldest first, so the newest decision for a ref wins (a re-processed event).
        for decision in Decision.objects.filter(survey=survey, event_ref__in=refs).order_by(
            "created_at", "id"
        ):
            decisions[decision.event_ref] = decision
    rows = []
    for event in events:
        email = traits_of(event.payload).get("email") if isinstance(event.payload, dict) else None
        rows.append(
            EventRow(
                event=event,
                email=email if isinstance(email, str) else "",
                decision=decisions.get(event.message_id) if event.type == "identify" else None,
            )
        )
    return rows
