"""The fan-out makes each delivery's first try itself: a job only for retries.

Against real receivers on 127.0.0.1 and huey's own queue (immediate mode in tests): the
jobs enqueued are recorded with huey's ENQUEUED signal.
"""

# The fixtures imported from test_notifications are named as test arguments.
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone
from huey.contrib.djhuey import HUEY
from huey.signals import SIGNAL_ENQUEUED

from npsloop.notifications import services, tasks
from npsloop.notifications.models import Channel, Delivery, Rule
from tests.receivers import Receiver
from tests.test_api_support import respond
from tests.test_notifications import (  # noqa: F401 (fixtures)
    allow_loopback,
    rate,
    receiver,
    rule,
    verify,
    webhook_channel,
)


@pytest.fixture(autouse=True)
def _no_paused_channels():
    # The pause is per process: a channel id from another test must not carry one over.
    services._queued_until.clear()
    yield
    services._queued_until.clear()


@pytest.fixture
def jobs():
    """(task name, args, eta) of every job enqueued during the test."""
    seen: list[tuple[str, tuple, dt.datetime | None]] = []

    def record(signal, task, *args, **kwargs) -> None:
        seen.append((task.name, tuple(task.args), task.eta))

    HUEY.signal(SIGNAL_ENQUEUED)(record)
    yield seen
    HUEY.disconnect_signal(record, SIGNAL_ENQUEUED)


def names(seen) -> list[str]:
    return [name for name, _args, _eta in seen]


def slack_channel(org, url: str) -> Channel:
    return Channel.objects.create(
        organization=org.organization, kind=Channel.Kind.SLACK, name="Team", url=url
    )


def test_first_try_is_made_by_the_fan_out_job_without_a_delivery_job(
    org_a, contact, rate, receiver, jobs
):
    hook = webhook_channel(org_a, receiver.url + "/hook")
    slack = slack_channel(org_a, receiver.url + "/slack")
    rule(org_a, Rule.Trigger.RESPONSE, hook, slack)

    rate(contact, 3)

    assert names(jobs) == ["fan_out_response_task"]  # no send job: both sent inline
    assert sorted(r.path for r in receiver.requests) == ["/hook", "/slack"]
    for delivery in Delivery.objects.all():
        assert delivery.state == Delivery.State.DELIVERED
        assert delivery.attempts == 1 and delivery.claimed_at is not None
        assert [a.status for a in delivery.attempt_log.all()] == [200]
    webhook = next(r for r in receiver.requests if r.path == "/hook")
    assert verify(hook, webhook)["data"]["response"]["score"] == 3


def test_a_failed_first_try_enqueues_a_retry_job_with_backoff(org_a, contact, rate, receiver, jobs):
    channel = webhook_channel(org_a, receiver.url)
    rule(org_a, Rule.Trigger.RESPONSE, channel)
    receiver.reply(503, "busy")
    before = timezone.now()

    rate(contact, 9)

    delivery = Delivery.objects.get()
    assert delivery.state == Delivery.State.SCHEDULED
    assert delivery.attempts == 1 and delivery.last_status == 503
    assert delivery.next_attempt_at > before + dt.timedelta(seconds=5)  # backed off
    assert names(jobs) == ["fan_out_response_task", "send_delivery_task"]
    _name, args, eta = jobs[-1]
    assert args == (delivery.pk,)
    assert eta is not None and abs(
        eta.replace(tzinfo=dt.UTC) - delivery.next_attempt_at
    ) < dt.timedelta(seconds=1)

    # The retry job, when its time has come, sends it with the same webhook-id.
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert services.send_delivery(delivery.pk) == "delivered"
    assert [r.headers["webhook-id"] for r in receiver.requests] == [delivery.event_id] * 2
    assert services.send_delivery(delivery.pk) == "not-claimed"


def test_a_crash_between_the_commit_and_the_post_is_taken_back_by_the_reconciler(
    org_a, contact, survey, receiver
):
    channel = webhook_channel(org_a, receiver.url)
    rule(org_a, Rule.Trigger.RESPONSE, channel)
    response = respond(survey, contact, 6)  # its after-commit work does not run

    # The fan-out stores the row claimed; its after-commit POST never runs (the worker died).
    assert services.fan_out_response(response_id=response.pk, created=True, comment_added=False)
    delivery = Delivery.objects.get()
    assert delivery.state == Delivery.State.SENDING and delivery.attempts == 1
    assert receiver.requests == []

    # Within the claim timeout the row is left alone (its worker may still be sending).
    assert services.reconcile()["returned"] == 0
    assert receiver.requests == []
    # A replayed fan-out does not store or send it again either.
    assert services.reconcile_fan_out(now=response.updated_at + dt.timedelta(minutes=5)) == 0

    stale = timezone.now() - dt.timedelta(seconds=settings.NPSLOOP_CLAIM_TIMEOUT_SECONDS + 1)
    Delivery.objects.filter(pk=delivery.pk).update(claimed_at=stale)
    assert services.reconcile()["returned"] == 1  # taken back and its job enqueued at once

    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.DELIVERED
    assert [r.headers["webhook-id"] for r in receiver.requests] == [delivery.event_id]
    assert services.reconcile()["returned"] == 0
    assert len(receiver.requests) == 1  # once


def test_a_duplicate_trigger_sends_once(org_a, contact, rate, receiver, jobs):
    channel = webhook_channel(org_a, receiver.url)
    rule(org_a, Rule.Trigger.RESPONSE, channel)
    response = rate(contact, 10)

    # The same rating event again (a job run twice): stored once, sent once.
    tasks.fan_out_response_task(response.pk, True, False, [])
    assert Delivery.objects.count() == 1
    assert len(receiver.requests) == 1
    assert names(jobs) == ["fan_out_response_task"] * 2


def test_a_slow_receiver_sends_its_channel_through_the_queue_not_the_others(
    org_a, survey, rate, receiver, jobs
):
    from npsloop.contacts.services import upsert_contact

    slow = Receiver()
    try:
        hook = webhook_channel(org_a, slow.url)
        slack = slack_channel(org_a, receiver.url)
        rule(org_a, Rule.Trigger.RESPONSE, hook)
        rule(org_a, Rule.Trigger.RESPONSE, slack)
        slow.reply(200, "late", delay=1.5)  # the client waits 1 s: a timeout

        first, _ = upsert_contact(organization=org_a.organization, email="one@example.com")
        rate(first, 2)
        assert Delivery.objects.get(channel=hook).last_error.startswith("No answer")
        jobs.clear()

        second, _ = upsert_contact(organization=org_a.organization, email="two@example.com")
        rate(second, 4)
        # The webhook now goes through a delivery job (run at once in tests); Slack stays inline.
        sent_by_job = [args[0] for name, args, _eta in jobs if name == "send_delivery_task"]
        later = Delivery.objects.filter(response__contact=second)
        assert sent_by_job == [later.get(channel=hook).pk]
        assert later.get(channel=slack).state == Delivery.State.DELIVERED
        assert later.get(channel=hook).state == Delivery.State.DELIVERED
    finally:
        slow.stop()


def test_a_channel_in_two_rules_gets_the_event_once_and_the_others_still_get_it(
    org_a, contact, rate, receiver, jobs
):
    hook = webhook_channel(org_a, receiver.url + "/hook")
    slack = slack_channel(org_a, receiver.url + "/slack")
    rule(org_a, Rule.Trigger.RESPONSE, hook)
    rule(org_a, Rule.Trigger.RESPONSE, hook, slack)  # the webhook is due twice

    rate(contact, 8)

    assert sorted(r.path for r in receiver.requests) == ["/hook", "/slack"]
    assert Delivery.objects.filter(state=Delivery.State.DELIVERED).count() == 2
    assert names(jobs) == ["fan_out_response_task"]


def test_past_the_inline_limit_deliveries_get_jobs(
    org_a, contact, rate, receiver, jobs, monkeypatch
):
    monkeypatch.setattr(services, "INLINE_MAX", 1)
    hook = webhook_channel(org_a, receiver.url + "/hook")
    slack = slack_channel(org_a, receiver.url + "/slack")
    rule(org_a, Rule.Trigger.RESPONSE, hook, slack)

    rate(contact, 7)

    assert names(jobs) == ["fan_out_response_task", "send_delivery_task"]
    assert sorted(r.path for r in receiver.requests) == ["/hook", "/slack"]
    assert Delivery.objects.filter(state=Delivery.State.DELIVERED).count() == 2


def test_past_the_inline_time_budget_the_rest_go_back_to_the_queue_untried(
    org_a, contact, rate, receiver, jobs, monkeypatch
):
    """The first tries of one fan-out stop after INLINE_BUDGET_SECONDS: the rows not
    tried yet go back to the queue with their try not spent, and arrive once."""
    monkeypatch.setattr(services, "INLINE_BUDGET_SECONDS", 0.0)  # no time for any
    hook = webhook_channel(org_a, receiver.url + "/hook")
    slack = slack_channel(org_a, receiver.url + "/slack")
    rule(org_a, Rule.Trigger.RESPONSE, hook, slack)

    rate(contact, 7)

    assert names(jobs) == ["fan_out_response_task", "send_delivery_task", "send_delivery_task"]
    assert sorted(r.path for r in receiver.requests) == ["/hook", "/slack"]
    for delivery in Delivery.objects.all():
        assert delivery.state == Delivery.State.DELIVERED
        assert delivery.attempts == 1  # the released row's try was not counted twice
        assert delivery.attempt_log.count() == 1


def test_a_row_that_cannot_be_recorded_does_not_hold_back_the_others(
    org_a, contact, rate, receiver, jobs, monkeypatch
):
    hook = webhook_channel(org_a, receiver.url + "/hook")
    slack = slack_channel(org_a, receiver.url + "/slack")
    rule(org_a, Rule.Trigger.RESPONSE, hook, slack)
    real = services._record

    def flaky(delivery, result, ms):
        if delivery.channel_id == hook.pk:
            raise RuntimeError("the database said no")
        return real(delivery, result, ms)

    monkeypatch.setattr(services, "_record", flaky)
    rate(contact, 7)

    assert Delivery.objects.get(channel=slack).state == Delivery.State.DELIVERED
    # The webhook's row stays claimed: the reconciler takes it back after the timeout.
    assert Delivery.objects.get(channel=hook).state == Delivery.State.SENDING
