"""Accepting Segment events (fast, durable) and processing them (in a job)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from npsloop.contacts.services import apply_identify, mark_seen
from npsloop.ingest.auth import KeyedSurvey
from npsloop.ingest.events import Event, IngestError, locale_of, parse_event, traits_of
from npsloop.ingest.models import IngestEvent
from npsloop.invitations.models import Invitation
from npsloop.invitations.services import decide_and_schedule
from npsloop.surveys.models import Survey

log = logging.getLogger(__name__)
State = IngestEvent.State


@dataclass
class Accepted:
    accepted: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


def accept(
    *,
    survey: Survey | KeyedSurvey,
    raw_events: list[Any],
    default_type: str | None = None,
    shared: dict[str, Any] | None = None,
) -> Accepted:
    """Validate and store the events; committed before the caller answers 200.

    A bad event is reported and skipped; the good ones in the same batch are kept.
    A messageId seen before for this survey is stored once (a retried delivery).
    """
    now = timezone.now()
    result = Accepted()
    events: list[Event] = []
    for index, raw in enumerate(raw_events):
        try:
            events.append(
                parse_event(raw, received_at=now, default_type=default_type, shared=shared)
            )
        except IngestError as error:
            result.rejected.append({"index": index, "code": error.code, "message": error.message})
    rows = [
        IngestEvent(
            organization_id=survey.organization_id,
            survey_id=survey.pk,
            message_id=e.message_id,
            type=e.type,
            user_id=e.user_id,
            anonymous_id=e.anonymous_id,
            timestamp=e.timestamp,
            received_at=now,
            payload=e.payload,
        )
        for e in events
    ]
    if rows:
        with transaction.atomic():
            _insert_new(rows)
            transaction.on_commit(lambda: _enqueue_soon(survey.pk))
    result.accepted = len(rows)
    return result


_INSERT_FIELDS = (
    "organization_id", "survey_id", "message_id", "type", "user_id", "anonymous_id",
    "timestamp", "received_at", "payload", "state", "error",
)  # fmt: skip


def _insert_new(rows: list[IngestEvent]) -> None:
    """INSERT … ON CONFLICT DO NOTHING: a messageId seen before is skipped.

    Plain SQL because bulk_create's array form costs more than the insert itself
    for JSON payloads (measured in bench/ingest.py); the values still go through
    each field's own conversion, so both databases get what the ORM would send.
    """
    fields = [IngestEvent._meta.get_field(name) for name in _INSERT_FIELDS]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    # Table and column names come from the model, never from input.
    table = connection.ops.quote_name(IngestEvent._meta.db_table)
    sql = (
        f"INSERT INTO {table} ({columns}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        "ON CONFLICT (survey_id, message_id) DO NOTHING"
    )
    params = [
        [f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields] for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


# survey id → when its processing job was last scheduled (per process).
_scheduled_at: dict[int, float] = {}
ENQUEUE_EVERY_SECONDS = 1.0
PROCESS_DELAY_SECONDS = 2


def _enqueue_soon(survey_id: int) -> None:
    """One processing job per survey and second, instead of one per request.

    A job scheduled at t runs no earlier than t + 2 s, so it also sees every event
    committed up to a second after t, whose own enqueue was skipped. The
    reconciler still catches a job that was lost.
    """
    from npsloop.ingest import tasks

    if tasks.process_events_task.huey.immediate:
        _enqueue(survey_id)
        return
    now = time.monotonic()
    if now - _scheduled_at.get(survey_id, -1e9) < ENQUEUE_EVERY_SECONDS:
        return
    _scheduled_at[survey_id] = now
    tasks.process_events_task.schedule((survey_id,), delay=PROCESS_DELAY_SECONDS)


def _enqueue(survey_id: int) -> None:
    from npsloop.ingest import tasks

    tasks.process_events_task(survey_id)


def process_pending(*, survey_id: int, limit: int = 500) -> int:
    """Process the survey's new events, oldest first; returns how many this call took."""
    ids = list(
        IngestEvent.objects.filter(survey_id=survey_id, state=State.NEW)
        .order_by("timestamp", "id")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for pk in ids:
        if process_event(pk):
            done += 1
    if len(ids) == limit:
        _enqueue(survey_id)  # more are waiting
    return done


APPLY_ATTEMPTS = 3


def process_event(pk: int) -> bool:
    """Claim one event and apply it; False when another worker has it."""
    now = timezone.now()
    if not IngestEvent.objects.filter(pk=pk, state=State.NEW).update(
        state=State.PROCESSING, claimed_at=now
    ):
        return False
    event = IngestEvent.objects.select_related("survey").get(pk=pk)
    try:
        for attempt in range(1, APPLY_ATTEMPTS + 1):
            try:
                with transaction.atomic():
                    contact = _apply(event)
                    IngestEvent.objects.filter(pk=pk).update(
                        state=State.DONE, processed_at=timezone.now(), contact=contact
                    )
                break
            except IntegrityError:
                # Two identify calls for one new person at once: both inserted the
                # contact and one lost. Again, the contact exists and is updated.
                if attempt == APPLY_ATTEMPTS:
                    raise
    except Exception as exc:  # one bad event must not stop the others
        log.exception("ingest event %s failed", pk)
        IngestEvent.objects.filter(pk=pk).update(state=State.FAILED, error=repr(exc)[:2000])
    return True


def _apply(event: IngestEvent):
    survey = event.survey
    if event.type == "identify":
        result = apply_identify(
            organization=survey.organization,
            user_id=event.user_id,
            anonymous_id=event.anonymous_id,
            traits=traits_of(event.payload),
            locale=locale_of(event.payload),
            timestamp=event.timestamp,
        )
        decide_and_schedule(
            survey=survey,
            contact=result.contact,
            email=result.email,
            email_valid=result.email_valid,
            source=Invitation.Source.SEGMENT,
            event_ref=event.message_id,
            # The rules judge the moment the call arrived, not when a backlog got to it.
            now=event.received_at,
        )
        return result.contact
    if event.type in {"track", "page", "screen"}:
        return mark_seen(
            organization=survey.organization,
            user_id=event.user_id,
            anonymous_id=event.anonymous_id,
            timestamp=event.timestamp,
        )
    return None  # group and alias are counted, nothing more


def reconcile(*, lost_after: dt.timedelta = dt.timedelta(minutes=1)) -> dict[str, int]:
    """Return stale claims and enqueue surveys with events nobody processed."""
    now = timezone.now()
    stale_before = now - dt.timedelta(seconds=settings.NPSLOOP_CLAIM_TIMEOUT_SECONDS)
    returned = IngestEvent.objects.filter(
        state=State.PROCESSING, claimed_at__lt=stale_before
    ).update(state=State.NEW)
    surveys = set(
        IngestEvent.objects.filter(state=State.NEW, received_at__lte=now - lost_after)
        .values_list("survey_id", flat=True)
        .distinct()
    )
    for survey_id in surveys:
        _enqueue(survey_id)
    return {"returned": returned, "surveys": len(surveys)}
