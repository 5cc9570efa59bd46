"""Writing responses back to Segment.

A response change creates (or joins) a scheduled SegmentSync row; a job claims
the row with one conditional UPDATE, reads the response as it is now, sends one
identify call and records the outcome. A job that runs twice, or two workers,
send once; a lost job is re-enqueued by the reconciler.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from npsloop.contacts.models import Contact
from npsloop.responses.models import Response
from npsloop.segment_sync.models import SegmentSync
from npsloop.segment_sync.transport import Identify, SegmentError, send_identify
from npsloop.web.backoff import MAX_RETRY_AFTER, retry_delay  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

State = SegmentSync.State
# With the delays below, 14 attempts keep trying for at least 24 hours (even with the
# shortest jitter): an outage of a day loses nothing.
MAX_ATTEMPTS = 14


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_traits(*, response: Response, prefix: str) -> dict[str, Any]:
    # All three traits every time: a new rating without a comment must not stay
    # paired with the comment of an earlier survey in the user's profile.
    return {
        f"{prefix}rating": int(response.score),
        f"{prefix}comment": response.comment,
        f"{prefix}date": _iso(response.updated_at or response.created_at),
    }


def identity_of(contact: Contact) -> tuple[str | None, str | None]:
    """(userId, anonymousId) as Segment knows the contact; the email when it knows neither."""
    user_id = contact.external_id or None
    anonymous_id = contact.anonymous_id or None
    if not user_id and not anonymous_id:
        user_id = contact.email
    return user_id, anonymous_id


def schedule_sync(*, response_id: int, now: dt.datetime | None = None) -> SegmentSync | None:
    """Record that a response changed; returns the new row, or None when none is needed.

    None when the survey has no write key, or when a scheduled row for the response
    already exists: that row reads the response at send time, so it carries this change.
    """
    now = now or timezone.now()
    # Only the three values needed, no model and no ordering: this runs after every
    # rating, and for most surveys Segment is off.
    found = list(
        Response.objects.filter(pk=response_id).values_list(
            "organization_id", "survey_id", "survey__segment_write_key"
        )[:1]
    )
    if not found or not found[0][2].strip():
        return None
    organization_id, survey_id, _key = found[0]
    with transaction.atomic():
        # Only a row still "scheduled" has not read the response yet; one being sent
        # may have read it before this change, so then a new row is needed.
        if SegmentSync.objects.filter(response_id=response_id, state=State.SCHEDULED).update(
            changes=F("changes") + 1
        ):
            return None
        sync = SegmentSync.objects.create(
            organization_id=organization_id,
            survey_id=survey_id,
            response_id=response_id,
            next_attempt_at=now,
        )
        transaction.on_commit(lambda: _enqueue(sync.pk, now))
    return sync


def _enqueue(sync_id: int, at: dt.datetime) -> None:
    from npsloop.segment_sync import tasks

    try:
        tasks.enqueue_send(sync_id, at)
    except Exception:
        # The row is committed; the reconciler enqueues it. A queue outage must not
        # turn the customer's rating page into an error.
        log.exception("could not enqueue Segment sync %s; the reconciler will", sync_id)


def _message_id(sync: SegmentSync, identify: dict[str, Any]) -> str:
    # Stable for the same content, so Segment drops a retry whose first try did arrive;
    # different when a coalesced change altered the traits, so that one is not dropped.
    canonical = json.dumps(identify, sort_keys=True, default=str).encode()
    digest = hashlib.sha256(canonical).hexdigest()[:16]
    return f"npsloop-sync-{sync.pk}-v{digest}"


def send_sync(sync_id: int) -> str:
    """Send one due sync, if this call wins the claim. Returns what happened."""
    now = timezone.now()
    claimed = SegmentSync.objects.filter(
        pk=sync_id, state=State.SCHEDULED, next_attempt_at__lte=now
    ).update(state=State.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if claimed != 1:
        return "not-claimed"
    # Read after the claim: every change committed before it is in what we send.
    sync = SegmentSync.objects.select_related("survey", "response__contact").get(pk=sync_id)
    write_key = sync.survey.segment_write_key.strip()
    contact = sync.response.contact
    if not write_key:
        _move(sync, State.FAILED, last_error="The survey no longer has a Segment write key.")
        return "failed"
    if contact is None:
        _move(sync, State.FAILED, last_error="The response has no contact (erased).")
        return "failed"
    user_id, anonymous_id = identity_of(contact)
    traits = build_traits(response=sync.response, prefix=sync.survey.trait_prefix)
    timestamp = sync.response.updated_at or sync.response.created_at
    message_id = _message_id(
        sync,
        {"userId": user_id, "anonymousId": anonymous_id, "traits": traits, "at": timestamp},
    )
    identify = Identify(write_key, user_id, anonymous_id, traits, timestamp, message_id)
    try:
        send_identify(identify)
    except SegmentError as error:
        return _failed(sync, error, now, traits=traits, message_id=message_id)
    _move(
        sync,
        State.SENT,
        sent_at=timezone.now(),
        payload=traits,
        message_id=message_id,
        last_error="",
    )
    return "sent"


def _move(sync: SegmentSync, state: str, **fields: Any) -> bool:
    # Conditional on "sending": if the reconciler took a stale claim back meanwhile,
    # the row stays with its new owner (a resend has the same messageId).
    return bool(
        SegmentSync.objects.filter(pk=sync.pk, state=State.SENDING).update(state=state, **fields)
    )


def _failed(
    sync: SegmentSync,
    error: SegmentError,
    now: dt.datetime,
    *,
    traits: dict[str, Any],
    message_id: str,
) -> str:
    detail = str(error)[:2000]
    if not error.retryable or sync.attempts >= MAX_ATTEMPTS:
        _move(sync, State.FAILED, last_error=detail, payload=traits, message_id=message_id)
        log.warning("Segment sync %s failed: %s", sync.pk, detail)
        return "failed"
    retry_at = now + retry_delay(sync.attempts, retry_after=error.retry_after)
    if _move(
        sync,
        State.SCHEDULED,
        next_attempt_at=retry_at,
        last_error=detail,
        payload=traits,
        message_id=message_id,
    ):
        _enqueue(sync.pk, retry_at)
    log.info("Segment sync %s: %s; next try at %s", sync.pk, detail, retry_at.isoformat())
    return "retry"


def retry_now(*, sync: SegmentSync) -> bool:
    """Send a failed or waiting sync again at once (admin action), with a fresh budget."""
    now = timezone.now()
    changed = SegmentSync.objects.filter(
        pk=sync.pk, state__in=[State.FAILED, State.SCHEDULED]
    ).update(state=State.SCHEDULED, attempts=0, next_attempt_at=now, last_error="")
    if changed:
        _enqueue(sync.pk, now)
    return bool(changed)


def reconcile(*, lost_after: dt.timedelta = dt.timedelta(minutes=2)) -> dict[str, int]:
    """Return stale claims to the pool and enqueue due syncs nobody picked up.

    Enqueuing twice is harmless: the claim makes the second job a no-op.
    """
    now = timezone.now()
    stale_before = now - dt.timedelta(seconds=settings.NPSLOOP_CLAIM_TIMEOUT_SECONDS)
    stale = SegmentSync.objects.filter(state=State.SENDING, claimed_at__lt=stale_before)
    # A row whose worker died on every attempt would otherwise come back forever.
    stale.filter(attempts__gte=MAX_ATTEMPTS).update(
        state=State.FAILED, last_error="The worker stopped while sending, on every attempt."
    )
    returned = stale.update(state=State.SCHEDULED, next_attempt_at=now)
    due = list(
        SegmentSync.objects.filter(state=State.SCHEDULED, next_attempt_at__lte=now - lost_after)
        .order_by("next_attempt_at")
        .values_list("pk", "next_attempt_at")[:5000]
    )
    for pk, at in due:
        _enqueue(pk, at)
    if returned or due:
        log.info(
            "segment reconcile: %d stale claims returned, %d due syncs enqueued", returned, len(due)
        )
    return {"returned": returned, "enqueued": len(due)}
