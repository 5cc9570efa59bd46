"""Notifications: from a domain event to stored deliveries, and each delivery sent once.

A response or contact event runs a fan-out job: every active rule whose trigger and
saved filter match gets one Delivery row per channel, keyed by (channel, event id) so
a trigger that fires twice stores one. The fan-out job stores each row already claimed
by itself, commits, and makes the first try at once (no job per delivery); a row stored
otherwise (test, re-send, replay, a slow channel) gets a delivery job, which claims it
with one conditional UPDATE. Each try is logged and either finishes the row or
schedules the next one with backoff (the receiver's Retry-After wins when longer) and a
job for it. A lost job is re-enqueued by the reconciler; a claim lost with its worker
(a crash between the commit and the POST) is taken back after the claim timeout.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from collections.abc import Iterable
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Prefetch
from django.utils import timezone

from npsloop.accounts.models import Membership, Organization
from npsloop.contacts.models import Contact
from npsloop.notifications import payloads
from npsloop.notifications.channels import ChannelError, Outcome, sender_for
from npsloop.notifications.models import Attempt, Channel, Delivery, Rule
from npsloop.responses import filters
from npsloop.responses.models import Response, ResponseEvent
from npsloop.web.backoff import retry_delay

log = logging.getLogger(__name__)

State = Delivery.State
Trigger = Rule.Trigger
# One delivery a fan-out stores: (channel, event id, event, rule or None for a Zapier hook).
Due = tuple[Channel, str, dict[str, Any], Rule | None]
# With web.backoff's delays, 14 tries keep going for more than 24 hours even with the
# shortest jitter: a receiver that is down for a day loses nothing.
MAX_ATTEMPTS = 14
# Zapier REST hook subscriptions: event name → the rule trigger it stands for.
ZAPIER_EVENTS = {"new_response": Trigger.RESPONSE, "new_comment": Trigger.COMMENT}
# Responses the reconciler looks at per organization and run.
REPLAY_BATCH = 1000
# While the queue has work waiting, a due row is most likely still in it: the reconciler
# waits this long before enqueuing it again (or replaying a fan-out).
BUSY_LOST_AFTER = dt.timedelta(minutes=30)
# Channels that can take a digest (a ticket per digest would make no sense).
DIGEST_KINDS = {Channel.Kind.EMAIL, Channel.Kind.WEBHOOK, Channel.Kind.SLACK}
# A first try from the fan-out that failed or took longer than this sends the channel's
# next deliveries (in this worker process, for INLINE_PAUSE) through the queue as jobs:
# a slow or broken receiver must not hold up the other channels of the same event.
INLINE_SLOW_SECONDS = 1.0
INLINE_PAUSE_SECONDS = 60.0
# At most this many first tries per fan-out: the last one's claim must not be held for
# long (the reconciler takes a claim back after NPSLOOP_CLAIM_TIMEOUT_SECONDS).
INLINE_MAX = 10
# … and only while the fan-out's first tries have taken less than this together; the
# rest go back to the queue untried (each try may take OUTBOUND_TIMEOUT per read).
INLINE_BUDGET_SECONDS = 15.0
_queued_until: dict[int, float] = {}  # channel id → time.monotonic() of the pause's end


# --- fan-out ---------------------------------------------------------------------------


def _matches(rule: Rule, response_id: int) -> bool:
    if rule.saved_filter_id is None:
        return True
    flt = filters.parse(rule.saved_filter.query)
    return filters.compile_filter(rule.organization, flt).filter(pk=response_id).exists()


def _load_response(response_id: int) -> Response | None:
    # A slice, not .first(): no ORDER BY to build for a lookup by primary key.
    found = list(
        Response.objects.select_related("survey", "contact", "assignee")
        .prefetch_related("tags")
        .filter(pk=response_id)[:1]
    )
    return found[0] if found else None


def fan_out_response(
    *,
    response_id: int,
    created: bool,
    comment_added: bool,
    changes: Iterable[str] = (),
    replay: bool = False,
) -> int:
    """Store a delivery for every rule and Zapier hook the response change concerns.

    `replay` (the reconciler): only the rating and comment events, whose ids are stable.
    """
    response = _load_response(response_id)
    if response is None:
        return 0
    changes = list(changes)
    if not created and not comment_added and not changes and not replay:
        changes = ["score"]  # the customer clicked another rating
    triggers: list[tuple[str, str, dict[str, Any]]] = []  # (trigger, event id, payload)
    if created:
        event = payloads.response_event(payloads.RESPONSE_CREATED, response)
        triggers.append((Trigger.RESPONSE, payloads.event_id("created", response.pk), event))
    if comment_added:
        event = payloads.response_event(payloads.RESPONSE_UPDATED, response, changes=["comment"])
        at = payloads.iso(response.commented_at or response.updated_at)
        triggers.append((Trigger.COMMENT, payloads.event_id("comment", response.pk, at), event))
    if (changes or comment_added) and not replay:
        event = payloads.response_event(
            payloads.RESPONSE_UPDATED, response, changes=changes or ["comment"]
        )
        # Microseconds: two quick changes of the same kind are two events.
        at = response.updated_at.isoformat()
        key = payloads.event_id("updated", response.pk, at, ",".join(changes))
        triggers.append((Trigger.UPDATED, key, event))
    due: list[Due] = []
    for trigger, key, event in triggers:
        for rule in _active_rules(response.organization_id, trigger):
            if not _matches(rule, response.pk):
                continue
            due += [(channel, key, event, rule) for channel in rule.live]
        due += [(c, key, event, None) for c in _zapier_hooks(response.organization_id, trigger)]
    # The reconciler's replay enqueues jobs: it must not make one job POST a thousand times.
    return _store_all(due, response=response, send_now=not replay)


def reconcile_fan_out(
    *,
    now: dt.datetime | None = None,
    window: dt.timedelta = dt.timedelta(minutes=15),
    grace: dt.timedelta = dt.timedelta(minutes=2),
) -> int:
    """Run the fan-out again for recent ratings and comments, in case a job was lost.

    Safe to repeat: deliveries are keyed by (channel, event id), so what was stored
    before is not stored again. Tag/status changes are not replayed (their jobs carry
    what changed); a lost one of those is not rebuilt.
    """
    now = now or timezone.now()
    if queue_busy():
        grace = max(grace, BUSY_LOST_AFTER)
    organizations = set(
        Rule.objects.filter(
            active=True, trigger__in=[Trigger.RESPONSE, Trigger.COMMENT]
        ).values_list("organization_id", flat=True)
    ) | set(
        Channel.objects.filter(kind=Channel.Kind.ZAPIER, active=True).values_list(
            "organization_id", flat=True
        )
    )
    stored = 0
    for organization_id in organizations:
        # A delivery made after the last change: fanned out. The rest are checked again (bounded:
        # one that matches no rule is looked at once a minute while in the window).
        recent = (
            Response.objects.filter(
                organization_id=organization_id,
                updated_at__gte=now - window,
                updated_at__lt=now - grace,
            )
            .exclude(
                Exists(
                    Delivery.objects.filter(
                        response_id=OuterRef("pk"), created_at__gte=OuterRef("updated_at")
                    )
                )
            )
            .order_by("-updated_at")
            .values_list("pk", "created_at", "commented_at")[:REPLAY_BATCH]
        )
        for pk, created_at, commented_at in recent:
            stored += fan_out_response(
                response_id=pk,
                created=created_at >= now - window,
                comment_added=bool(commented_at and commented_at >= now - window),
                replay=True,
            )
    return stored


def fan_out_unsubscribed(*, contact_id: int) -> int:
    contact = Contact.objects.filter(pk=contact_id).first()
    if contact is None or contact.unsubscribed_at is None:
        return 0
    event = payloads.unsubscribed_event(contact)
    key = payloads.event_id("unsubscribed", contact.pk, payloads.iso(contact.unsubscribed_at))
    due: list[Due] = []
    for rule in _active_rules(contact.organization_id, Trigger.UNSUBSCRIBED):
        due += [(channel, key, event, rule) for channel in rule.live]
    return _store_all(due, send_now=True)


def _active_rules(organization_id: int, trigger: str) -> list[Rule]:
    # The active channels come with the rules: one query, not one per rule.
    return list(
        Rule.objects.filter(organization_id=organization_id, trigger=trigger, active=True)
        .select_related("saved_filter", "organization")
        .prefetch_related(
            Prefetch("channels", queryset=Channel.objects.filter(active=True), to_attr="live")
        )
        .order_by("pk")
    )


def queue_busy() -> bool:
    """Whether jobs are waiting in the queue (then a due row is probably among them)."""
    from huey.contrib.djhuey import HUEY

    try:
        return HUEY.pending_count() > 0
    except Exception:  # an unreachable queue: let the reconciler try
        return False


def _zapier_hooks(organization_id: int, trigger: str) -> list[Channel]:
    events = [name for name, t in ZAPIER_EVENTS.items() if t == trigger]
    if not events:
        return []
    return list(
        Channel.objects.filter(
            organization_id=organization_id, kind=Channel.Kind.ZAPIER, active=True, event__in=events
        )
    )


def _store_all(due: list[Due], *, response: Response | None = None, send_now: bool) -> int:
    """Store a fan-out's deliveries; returns how many were new.

    With `send_now` (a worker's fan-out), each row whose channel is not paused is stored
    already claimed by this worker, which tries it itself once the row is committed: no
    job per delivery. A crash before or during the POST leaves a claimed row that the
    reconciler takes back after the claim timeout. The other rows get a job after commit.
    """
    at = timezone.now()
    rows = []
    inline_left = INLINE_MAX if send_now else 0
    for channel, key, event, rule in due:
        claim = {}
        if inline_left and _inline_allowed(channel):
            claim = {"state": State.SENDING, "claimed_at": at, "attempts": 1}
            inline_left -= 1
        rows.append(
            _new_delivery(channel, key, event, rule=rule, response=response, at=at, **claim)
        )
    stored = _insert_new(rows)
    claimed = [delivery for delivery in stored if delivery.state == State.SENDING]
    for delivery in stored:
        if delivery.state == State.SCHEDULED:
            transaction.on_commit(partial(_enqueue, delivery.pk, at))
    if claimed:
        transaction.on_commit(partial(_send_claimed, claimed))
    return len(stored)


def _new_delivery(
    channel: Channel,
    key: str,
    event: dict[str, Any],
    *,
    rule: Rule | None,
    response: Response | None,
    at: dt.datetime,
    **fields: Any,
) -> Delivery:
    """An unsaved delivery of `event` to `channel`, due at `at`."""
    return Delivery(
        organization_id=channel.organization_id,
        channel=channel,
        rule=rule,
        response=response,
        event_id=key,
        event_type=event["type"],
        payload=event,
        next_attempt_at=at,
        **fields,
    )


def _insert_new(rows: list[Delivery]) -> list[Delivery]:
    """Insert the rows with one statement; those stored before are left out."""
    if not rows:
        return []
    try:
        with transaction.atomic():
            return Delivery.objects.bulk_create(rows)
    except IntegrityError:
        pass
    # Some event was stored before for its channel (a trigger that fired twice): one by one.
    stored = []
    for row in rows:
        row.pk, row._state.adding = None, True  # as before the rolled-back insert
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            continue
        stored.append(row)
    return stored


def _store(
    channel: Channel,
    key: str,
    event: dict[str, Any],
    *,
    rule: Rule | None = None,
    response: Response | None = None,
    is_test: bool = False,
) -> Delivery | None:
    """Store one delivery and enqueue it after commit; None when it already exists."""
    now = timezone.now()
    delivery = _new_delivery(channel, key, event, rule=rule, response=response, at=now)
    delivery.is_test = is_test
    try:
        with transaction.atomic():
            delivery.save(force_insert=True)
    except IntegrityError:
        return None  # the same event for the same channel: stored before, sent once
    transaction.on_commit(lambda: _enqueue(delivery.pk, now))
    return delivery


def _inline_allowed(channel: Channel) -> bool:
    return _queued_until.get(channel.pk, 0.0) <= time.monotonic()


def _send_claimed(deliveries: list[Delivery]) -> list[str]:
    """The first try of rows this worker stored claimed (and committed): no job needed.

    The successes are recorded together (one commit); a failure on its own, as any try.
    If recording fails, the rows stay "sending" and the reconciler takes them back after
    the claim timeout (the receiver may then get the event twice, with the same id).
    """
    tried: list[tuple[Delivery, Outcome | ChannelError, int]] = []
    began = time.monotonic()
    untried = list(deliveries)
    while untried and time.monotonic() - began < INLINE_BUDGET_SECONDS:
        delivery = untried.pop(0)
        result, ms = _try(delivery)
        tried.append((delivery, result, ms))
        if isinstance(result, ChannelError) or ms > INLINE_SLOW_SECONDS * 1000:
            _queued_until[delivery.channel_id] = time.monotonic() + INLINE_PAUSE_SECONDS
    results: list[str] = []
    successes = [t for t in tried if isinstance(t[1], Outcome)]
    try:
        with transaction.atomic():
            results += [_record(*t) for t in successes]
    except Exception:
        # One bad row must not leave the others "sending" (and sent again later).
        log.exception("deliveries %s: recording together failed", [t[0].pk for t in successes])
        results = [_record_alone(*t) for t in successes]
    results += [_record_alone(*t) for t in tried if isinstance(t[1], ChannelError)]
    if untried:
        _release(untried)
    return results


def _record_alone(delivery: Delivery, result: Outcome | ChannelError, ms: int) -> str:
    try:
        return _record(delivery, result, ms)
    except Exception:
        log.exception("delivery %s: could not record its try", delivery.pk)
        return "error"


def _release(deliveries: list[Delivery]) -> None:
    """Claimed rows not tried within the budget: back to the queue, their try not spent."""
    now = timezone.now()
    for delivery in deliveries:
        released = Delivery.objects.filter(pk=delivery.pk, state=State.SENDING).update(
            state=State.SCHEDULED, claimed_at=None, attempts=F("attempts") - 1, next_attempt_at=now
        )
        if released:
            _enqueue(delivery.pk, now)


def _enqueue(delivery_id: int, at: dt.datetime) -> None:
    from npsloop.notifications import tasks

    try:
        tasks.enqueue_delivery(delivery_id, at)
    except Exception:
        # The row is committed; the reconciler enqueues it.
        log.exception("could not enqueue delivery %s; the reconciler will", delivery_id)


# --- sending ---------------------------------------------------------------------------


def send_delivery(delivery_id: int) -> str:
    """Try one due delivery, if this call wins the claim. Returns what happened."""
    now = timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, state=State.SCHEDULED, next_attempt_at__lte=now
    ).update(state=State.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if claimed != 1:
        return "not-claimed"
    delivery = Delivery.objects.select_related("channel", "organization", "response").get(
        pk=delivery_id
    )
    return _attempt(delivery)


def _attempt(delivery: Delivery) -> str:
    """One try of a delivery claimed by the caller: send, log, finish or schedule a retry."""
    return _record(delivery, *_try(delivery))


def _try(delivery: Delivery) -> tuple[Outcome | ChannelError, int]:
    """Send a claimed delivery; what came of it and how long it took (ms). Writes nothing."""
    channel = delivery.channel
    if not channel.active and not delivery.is_test:
        return ChannelError("The channel is disabled.", retryable=False), 0
    started = time.monotonic()
    try:
        result: Outcome | ChannelError = sender_for(channel.kind)(channel, delivery)
    except ChannelError as error:
        result = error
    except Exception as error:  # a bug in a channel must not leave the row "sending"
        log.exception("delivery %s: channel %s crashed", delivery.pk, channel.kind)
        result = ChannelError(f"Internal error: {type(error).__name__}")
    return result, int((time.monotonic() - started) * 1000)


def _record(delivery: Delivery, result: Outcome | ChannelError, ms: int) -> str:
    """Log a try and finish the row, or schedule its next try."""
    if isinstance(result, ChannelError):
        return _failed(delivery, result, ms)
    channel, outcome = delivery.channel, result
    _finish(
        delivery,
        State.DELIVERED,
        status=outcome.status,
        ms=ms,
        delivered_at=timezone.now(),
        external_url=outcome.external_url,
    )
    if outcome.external_url and delivery.response_id:
        ResponseEvent.objects.create(
            response_id=delivery.response_id,
            kind="ticket",
            detail=f"{channel.get_kind_display()}: {outcome.external_url}",
        )
    return "delivered"


def _finish(
    delivery: Delivery, state: str, *, status: int | None, ms: int, error: str = "", **fields: Any
) -> bool:
    # One commit for the log line and the row (none of its own inside a caller's).
    with transaction.atomic(savepoint=False):
        Attempt.objects.create(
            delivery=delivery,
            status=status,
            ok=state == State.DELIVERED,
            error=error,
            duration_ms=ms,
        )
        # Conditional on "sending": a reconciler that took a stale claim back owns the row.
        return bool(
            Delivery.objects.filter(pk=delivery.pk, state=State.SENDING).update(
                state=state, last_status=status, last_error=error, last_duration_ms=ms, **fields
            )
        )


def _failed(delivery: Delivery, error: ChannelError, ms: int) -> str:
    detail = str(error)[:2000]
    if error.gone:
        _finish(delivery, State.FAILED, status=error.status, ms=ms, error=detail)
        disable_channel(delivery.channel, reason=f"The receiver answered 410 Gone: {detail}")
        return "gone"
    if delivery.is_test or not error.retryable or delivery.attempts >= MAX_ATTEMPTS:
        _finish(delivery, State.FAILED, status=error.status, ms=ms, error=detail)
        if not delivery.is_test and error.retryable:
            disable_channel(
                delivery.channel,
                reason=f"Deliveries failed for more than a day; the last error: {detail}",
            )
        log.warning("delivery %s failed: %s", delivery.pk, detail)
        return "failed"
    retry_at = timezone.now() + retry_delay(delivery.attempts, retry_after=error.retry_after)
    if _finish(
        delivery,
        State.SCHEDULED,
        status=error.status,
        ms=ms,
        error=detail,
        next_attempt_at=retry_at,
    ):
        _enqueue(delivery.pk, retry_at)
    return "retry"


def disable_channel(channel: Channel, *, reason: str) -> bool:
    """Stop a channel that keeps failing, and tell its owner by email."""
    changed = Channel.objects.filter(pk=channel.pk, active=True).update(
        active=False, disabled_reason=reason[:2000], disabled_at=timezone.now()
    )
    channel.active = False  # a fan-out still holding this object sends it nothing more
    if changed and channel.kind != Channel.Kind.ZAPIER:
        # Zapier's 410 is an unsubscribe, nothing to tell anyone about.
        from npsloop.notifications.emails import send_channel_disabled

        try:
            send_channel_disabled(channel=channel, reason=reason)
        except Exception:
            log.exception("could not tell the owner that channel %s was disabled", channel.pk)
    return bool(changed)


def enable_channel(*, channel: Channel) -> None:
    Channel.objects.filter(pk=channel.pk).update(active=True, disabled_reason="", disabled_at=None)


def resend(*, delivery: Delivery) -> bool:
    """Send a delivery again now, with the same event id (the receiver can tell)."""
    now = timezone.now()
    changed = Delivery.objects.filter(
        pk=delivery.pk, state__in=[State.FAILED, State.DELIVERED, State.SCHEDULED]
    ).update(state=State.SCHEDULED, attempts=0, next_attempt_at=now)
    if changed:
        transaction.on_commit(lambda: _enqueue(delivery.pk, now))
    return bool(changed)


def send_test(*, channel: Channel) -> Delivery:
    """A sample event to one channel now, logged like any delivery (never retried)."""
    now = timezone.now()
    event = payloads.test_event(channel.organization.name, now)
    key = f"msg_test_{secrets.token_hex(12)}"
    delivery = _store(channel, key, event, is_test=True)
    assert delivery is not None  # a fresh random id cannot collide
    return delivery


def send_response_to(*, channel: Channel, response: Response) -> Delivery | None:
    """One response to one channel by hand (the inbox's ticket button); once per channel."""
    loaded = _load_response(response.pk)
    assert loaded is not None
    event = payloads.response_event(payloads.RESPONSE_CREATED, loaded)
    key = payloads.event_id("manual", response.pk, channel.pk)
    return _store(channel, key, event, response=loaded)


def reconcile(*, lost_after: dt.timedelta = dt.timedelta(minutes=2)) -> dict[str, int]:
    """Return stale claims to the pool and enqueue due deliveries nobody picked up."""
    now = timezone.now()
    stale_before = now - dt.timedelta(seconds=settings.NPSLOOP_CLAIM_TIMEOUT_SECONDS)
    stale = Delivery.objects.filter(state=State.SENDING, claimed_at__lt=stale_before)
    stale.filter(attempts__gte=MAX_ATTEMPTS).update(
        state=State.FAILED, last_error="The worker stopped while sending, on every attempt."
    )
    # A stale claim's worker is gone (e.g. it crashed between storing a row claimed and
    # its POST): no job is waiting for the row, so one is enqueued at once.
    taken_back = list(stale.values_list("pk", flat=True)[:5000])
    returned = stale.filter(pk__in=taken_back).update(state=State.SCHEDULED, next_attempt_at=now)
    for pk in taken_back:
        _enqueue(pk, now)
    if queue_busy():
        # Re-enqueuing rows whose jobs are still waiting would only lengthen the queue.
        lost_after = max(lost_after, BUSY_LOST_AFTER)
    due = list(
        Delivery.objects.filter(state=State.SCHEDULED, next_attempt_at__lte=now - lost_after)
        .order_by("next_attempt_at")
        .values_list("pk", "next_attempt_at")[:5000]
    )
    for pk, at in due:
        _enqueue(pk, at)
    return {"returned": returned, "enqueued": len(due)}


# --- digests ---------------------------------------------------------------------------

PERIODS = {
    Trigger.HOURLY: dt.timedelta(hours=1),
    Trigger.DAILY: dt.timedelta(days=1),
    Trigger.WEEKLY: dt.timedelta(days=7),
}


def _period_end(rule: Rule, now: dt.datetime) -> dt.datetime:
    """The last period boundary at or before now, in the organization's time zone.

    Hourly on the hour, daily at midnight, weekly on Monday at midnight.
    """
    local = now.astimezone(rule.organization.zone)
    if rule.trigger == Trigger.HOURLY:
        return local.replace(minute=0, second=0, microsecond=0)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if rule.trigger == Trigger.WEEKLY:
        midnight -= dt.timedelta(days=midnight.weekday())
    # Re-attach the zone: a DST change between local and midnight shifts the offset.
    return midnight.replace(tzinfo=None).replace(tzinfo=rule.organization.zone)


def run_digests(*, now: dt.datetime | None = None) -> int:
    """Send every digest whose period has ended; returns how many deliveries were stored."""
    now = now or timezone.now()
    stored = 0
    rules = Rule.objects.filter(active=True, trigger__in=list(PERIODS)).select_related(
        "saved_filter", "organization"
    )
    for rule in rules:
        end = _period_end(rule, now)
        start = rule.digest_until or (end - PERIODS[rule.trigger])
        if end <= start:
            continue
        # The claim: only the worker that moves digest_until sends this period.
        with transaction.atomic():
            if not Rule.objects.filter(pk=rule.pk, digest_until=rule.digest_until).update(
                digest_until=end
            ):
                continue
            stored += _store_digest(rule, start, end)
    return stored


def _store_digest(rule: Rule, start: dt.datetime, end: dt.datetime) -> int:
    flt = filters.parse(rule.saved_filter.query if rule.saved_filter_id else "")
    matching = filters.compile_filter(rule.organization, flt).filter(
        created_at__gte=start, created_at__lt=end
    )
    total = matching.count()
    if not total:
        return 0
    newest = list(
        matching.select_related("survey", "contact", "assignee")
        .prefetch_related("tags")
        .order_by("-created_at", "-pk")[:100]
    )
    event = payloads.digest_event(
        rule_name=rule.name, start=start, end=end, responses=newest, total=total
    )
    key = payloads.event_id("digest", rule.pk, payloads.iso(end))
    stored = 0
    for channel in rule.channels.filter(active=True, kind__in=DIGEST_KINDS):
        stored += bool(_store(channel, key, event, rule=rule))
    return stored


# --- management ------------------------------------------------------------------------


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: whsec_ + base64 of 32 random bytes."""
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def organization_owner_emails(organization: Organization) -> list[str]:
    return list(
        Membership.objects.filter(organization=organization, role=Membership.Role.OWNER)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
