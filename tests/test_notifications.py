"""Notification rules, webhooks (Standard Webhooks), Slack and email, against real receivers."""

from __future__ import annotations

import datetime as dt
import json
import logging
from email import message_from_string
from email.policy import default

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from npsloop.invitations.models import Invitation
from npsloop.invitations.services import schedule_invitation, unsubscribe
from npsloop.mail.models import OutboundEmail
from npsloop.notifications import services
from npsloop.notifications.models import Channel, Delivery, Rule
from npsloop.responses import workflow
from npsloop.responses.models import Response, ResponseEvent, SavedFilter
from npsloop.responses.services import record_rating
from npsloop.web.egress import UnsafeURL, check_url
from tests.receivers import Receiver


@pytest.fixture
def allow_loopback(settings):
    # The guard refuses loopback; tests allow it explicitly, as an operator would.
    settings.NPSLOOP_OUTBOUND_ALLOW = ["127.0.0.1/32"]
    settings.NPSLOOP_OUTBOUND_TIMEOUT = 1.0


@pytest.fixture
def receiver(allow_loopback):
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def rate(survey, django_capture_on_commit_callbacks):
    """Rate (and comment) as the customer does; runs the after-commit jobs."""

    def _rate(contact, score: int, comment: str | None = None) -> Response:
        invitation = Invitation.objects.filter(
            contact=contact, survey=survey
        ).first() or schedule_invitation(
            survey=survey, contact=contact, source=Invitation.Source.API
        )
        Invitation.objects.filter(pk=invitation.pk).update(state=Invitation.State.SENT)
        with django_capture_on_commit_callbacks(execute=True):
            return record_rating(invitation=invitation, score=score, comment=comment)

    return _rate


def webhook_channel(org, url: str, **fields) -> Channel:
    return Channel.objects.create(
        organization=org.organization,
        kind=Channel.Kind.WEBHOOK,
        name="Ops webhook",
        url=url,
        secret=services.new_webhook_secret(),
        created_by=org.user,
        **fields,
    )


def rule(org, trigger: str, *channels: Channel, query: str | None = None) -> Rule:
    saved = None
    if query is not None:
        saved = SavedFilter.objects.create(
            organization=org.organization, name=f"filter {query}", query=query
        )
    made = Rule.objects.create(
        organization=org.organization, name=f"{trigger} rule", trigger=trigger, saved_filter=saved
    )
    made.channels.set(channels)
    return made


def verify(channel: Channel, request) -> dict:
    """Check the signature as a receiver does, with the standardwebhooks library."""
    return Webhook(channel.secret).verify(request.raw, request.headers)


def due_now() -> None:
    Delivery.objects.filter(state=Delivery.State.SCHEDULED).update(next_attempt_at=timezone.now())


def send_due() -> list[str]:
    due_now()
    ids = Delivery.objects.filter(state=Delivery.State.SCHEDULED).values_list("pk", flat=True)
    return [services.send_delivery(pk) for pk in list(ids)]


def test_new_response_is_posted_signed_with_person_and_survey(org_a, contact, rate, receiver):
    channel = webhook_channel(org_a, receiver.url + "/hooks")
    rule(org_a, Rule.Trigger.RESPONSE, channel)

    response = rate(contact, 3)

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.path == "/hooks"
    assert request.headers["Content-Type"] == "application/json"
    event = verify(channel, request)
    assert event["type"] == "response.created"
    assert event["data"]["response"]["id"] == response.pk
    assert event["data"]["response"]["score"] == 3
    assert event["data"]["response"]["category"] == "detractor"
    assert event["data"]["response"]["url"].endswith(f"/inbox/{response.pk}/")
    assert event["data"]["person"]["email"] == "anna.schmidt@example.com"
    assert event["data"]["survey"]["name"] == "Customer NPS"
    delivery = Delivery.objects.get()
    assert request.headers["webhook-id"] == delivery.event_id
    assert delivery.state == Delivery.State.DELIVERED
    assert delivery.last_status == 200
    attempt = delivery.attempt_log.get()
    assert attempt.ok and attempt.status == 200


def test_a_tampered_body_fails_verification(org_a, contact, rate, receiver):
    from standardwebhooks.webhooks import WebhookVerificationError

    channel = webhook_channel(org_a, receiver.url)
    rule(org_a, Rule.Trigger.RESPONSE, channel)
    rate(contact, 9)
    request = receiver.requests[0]
    forged = request.raw.replace(b'"score":9', b'"score":0')
    with pytest.raises(WebhookVerificationError):
        Webhook(channel.secret).verify(forged, request.headers)


def test_the_saved_filter_decides(org_a, survey, rate, receiver):
    from npsloop.contacts.services import upsert_contact

    channel = webhook_channel(org_a, receiver.url)
    rule(org_a, Rule.Trigger.RESPONSE, channel, query="category=detractor")
    happy, _ = upsert_contact(organization=org_a.organization, email="happy@example.com")
    sad, _ = upsert_contact(organization=org_a.organization, email="sad@example.com")

    rate(happy, 10)
    assert receiver.requests == []
    rate(sad, 2)
    assert [verify(channel, r)["data"]["person"]["email"] for r in receiver.requests] == [
        "sad@example.com"
    ]


def test_comment_rule_fires_once_per_comment_and_duplicates_send_once(
    org_a, contact, rate, receiver
):
    channel = webhook_channel(org_a, receiver.url)
    rule(org_a, Rule.Trigger.COMMENT, channel)

    response = rate(contact, 6)
    assert receiver.requests == []  # no comment yet
    rate(contact, 6, "The <b>invoice</b> was wrong")
    assert len(receiver.requests) == 1
    event = verify(channel, receiver.requests[0])
    assert event["type"] == "response.updated"
    assert event["data"]["changes"] == ["comment"]
    assert event["data"]["response"]["comment"] == "The <b>invoice</b> was wrong"

    # The same trigger again (a job run twice): stored once, sent once.
    assert (
        services.fan_out_response(response_id=response.pk, created=False, comment_added=True) == 0
    )
    assert Delivery.objects.count() == 1
    assert len(receiver.requests) == 1


def test_tags_and_status_are_response_updates(
    org_a, contact, rate, receiver, django_capture_on_commit_callbacks
):
    channel = webhook_channel(org_a, receiver.url)
    rule(org_a, Rule.Trigger.UPDATED, channel)
    response = rate(contact, 8)
    responses = Response.objects.filter(pk=response.pk)

    with django_capture_on_commit_callbacks(execute=True):
        workflow.add_tag(responses=responses, name="pricing", actor=org_a.user)
    with django_capture_on_commit_callbacks(execute=True):
        workflow.set_status(responses=responses, status="closed", actor=org_a.user)
    with django_capture_on_commit_callbacks(execute=True):
        workflow.set_status(responses=responses, status="open", actor=org_a.user)

    events = [verify(channel, r) for r in receiver.requests]
    assert [e["data"]["changes"] for e in events] == [["tags"], ["status"], ["status"]]
    assert events[0]["data"]["response"]["tags"] == ["pricing"]
    assert [e["data"]["response"]["status"] for e in events[1:]] == ["closed", "open"]
    # Three changes, three event ids.
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 3


def test_unsubscribe_is_an_event(
    org_a, survey, contact, receiver, django_capture_on_commit_callbacks
):
    channel = webhook_channel(org_a, receiver.url)
    rule(org_a, Rule.Trigger.UNSUBSCRIBED, channel)
    invitation = schedule_invitation(survey=survey, contact=contact, source="api")

    with django_capture_on_commit_callbacks(execute=True):
        unsubscribe(invitation=invitation)
    with django_capture_on_commit_callbacks(execute=True):
        unsubscribe(invitation=invitation)  # twice: the contact was already out

    assert len(receiver.requests) == 1
    event = verify(channel, receiver.requests[0])
    assert event["type"] == "person.unsubscribed"
    assert event["data"]["person"]["email"] == contact.email
    assert event["data"]["person"]["unsubscribed_at"]


def test_500_then_429_with_retry_after_then_success_arrives_once(org_a, contact, rate, receiver):
    channel = webhook_channel(org_a, receiver.url)
    rule(org_a, Rule.Trigger.RESPONSE, channel)
    receiver.reply(500, "boom")
    receiver.reply(429, "slow down", Retry_After="300")

    before = timezone.now()
    rate(contact, 9)
    delivery = Delivery.objects.get()
    assert delivery.state == Delivery.State.SCHEDULED
    assert delivery.last_status == 500

    assert send_due() == ["retry"]
    delivery.refresh_from_db()
    assert delivery.last_status == 429
    # The receiver's Retry-After wins over the shorter backoff.
    assert delivery.next_attempt_at >= before + dt.timedelta(seconds=300)

    assert send_due() == ["delivered"]
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and ids == {delivery.event_id}
    assert [a.status for a in delivery.attempt_log.order_by("pk")] == [500, 429, 200]
    assert send_due() == []  # nothing left: delivered exactly once


def test_a_timeout_does_not_count_as_delivered(org_a, contact, rate, receiver):
    channel = webhook_channel(org_a, receiver.url)
    rule(org_a, Rule.Trigger.RESPONSE, channel)
    receiver.reply(200, "late", delay=2.0)  # the client waits 1 s

    rate(contact, 9)
    delivery = Delivery.objects.get()
    assert delivery.state == Delivery.State.SCHEDULED
    assert "No answer within 1 s" in delivery.last_error
    assert send_due() == ["delivered"]


def test_a_receiver_that_is_down_then_back_gets_everything_once(org_a, survey, rate, receiver):
    from npsloop.contacts.services import upsert_contact

    channel = webhook_channel(org_a, receiver.url)
    rule(org_a, Rule.Trigger.RESPONSE, channel)
    receiver.stop()
    for n in range(5):
        person, _ = upsert_contact(organization=org_a.organization, email=f"p{n}@example.com")
        rate(person, n)
    assert Delivery.objects.filter(state=Delivery.State.SCHEDULED).count() == 5
    assert all("Could not connect" in d.last_error for d in Delivery.objects.all())

    back = Receiver(port=receiver.port)  # the same address, up again
    try:
        assert send_due() == ["delivered"] * 5
        assert send_due() == []
        ids = [r.headers["webhook-id"] for r in back.requests]
        assert len(ids) == 5 and len(set(ids)) == 5
    finally:
        back.stop()


def test_410_disables_the_channel_and_tells_the_owner(org_a, survey, rate, receiver, outbox_mode):
    from npsloop.contacts.services import upsert_contact

    channel = webhook_channel(org_a, receiver.url)
    rule(org_a, Rule.Trigger.RESPONSE, channel)
    receiver.reply(410, "gone")
    first, _ = upsert_contact(organization=org_a.organization, email="one@example.com")
    rate(first, 9)

    channel.refresh_from_db()
    assert not channel.active and "410" in channel.disabled_reason
    assert Delivery.objects.get().state == Delivery.State.FAILED
    email = OutboundEmail.objects.get(kind="notification")
    assert email.to == org_a.user.email
    assert "Ops webhook" in email.subject

    second, _ = upsert_contact(organization=org_a.organization, email="two@example.com")
    rate(second, 9)
    assert Delivery.objects.count() == 1  # a disabled channel gets nothing new


def test_a_day_of_failures_fails_the_delivery_and_disables_the_channel(
    org_a, contact, rate, receiver, outbox_mode
):
    channel = webhook_channel(org_a, receiver.url)
    rule(org_a, Rule.Trigger.RESPONSE, channel)
    receiver.default = (503, "down")
    rate(contact, 9)
    delivery = Delivery.objects.get()
    waited = dt.timedelta()
    while delivery.state == Delivery.State.SCHEDULED:
        waited += delivery.next_attempt_at - timezone.now()
        send_due()
        delivery.refresh_from_db()
    assert delivery.state == Delivery.State.FAILED
    assert delivery.attempts == services.MAX_ATTEMPTS
    assert waited > dt.timedelta(hours=24)  # it kept trying for over a day
    channel.refresh_from_db()
    assert not channel.active
    assert OutboundEmail.objects.filter(kind="notification").count() == 1


def test_resend_keeps_the_event_id(
    org_a, contact, rate, receiver, django_capture_on_commit_callbacks
):
    channel = webhook_channel(org_a, receiver.url)
    rule(org_a, Rule.Trigger.RESPONSE, channel)
    rate(contact, 9)
    delivery = Delivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.resend(delivery=delivery)
    assert len(receiver.requests) == 2
    assert {r.headers["webhook-id"] for r in receiver.requests} == {delivery.event_id}
    assert delivery.attempt_log.count() == 2


def test_send_test_posts_a_sample_and_is_logged(
    org_a, receiver, django_capture_on_commit_callbacks
):
    channel = webhook_channel(org_a, receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.send_test(channel=channel)
    delivery.refresh_from_db()
    assert delivery.is_test and delivery.state == Delivery.State.DELIVERED
    assert verify(channel, receiver.requests[0])["type"] == "test"


def test_private_addresses_are_refused_unless_allowed(org_a, contact, rate, settings, caplog):
    settings.NPSLOOP_OUTBOUND_ALLOW = []
    channel = webhook_channel(org_a, "http://127.0.0.1:9/hook")
    rule(org_a, Rule.Trigger.RESPONSE, channel)
    with caplog.at_level(logging.DEBUG):
        rate(contact, 9)
    delivery = Delivery.objects.get()
    assert delivery.state == Delivery.State.FAILED  # no retry can fix it
    assert "private, loopback or reserved" in delivery.last_error
    assert channel.secret not in caplog.text  # the secret is never logged


def test_a_name_pointing_elsewhere_when_connecting_is_not_called(receiver, settings, monkeypatch):
    """DNS rebinding: the name passes the check with a public address, then resolves to
    loopback for the connection. The connected socket is checked too: nothing is sent."""
    import socket

    from npsloop.notifications.channels.base import ChannelError, post

    settings.NPSLOOP_OUTBOUND_ALLOW = []  # loopback is not allowed this time
    real = socket.getaddrinfo
    asked: list[str] = []

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        asked.append(host)
        if len(asked) == 1:  # the check
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]
        return real("127.0.0.1", port, *args, **kwargs)  # the connection

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(ChannelError, match="private, loopback") as refused:
        post(f"http://rebind.example:{receiver.port}/hook", json={"a": 1})
    assert not refused.value.retryable
    assert len(asked) == 2 and receiver.requests == []
    # Allowed by the operator, the same connection goes through.
    settings.NPSLOOP_OUTBOUND_ALLOW = ["127.0.0.1/32"]
    asked.clear()
    assert post(f"http://rebind.example:{receiver.port}/hook", json={"a": 1}).status_code == 200
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://localhost:8000/",
        "http://0.0.0.0/",
        "http://192.168.1.20/",
        "ftp://example.com/",
        "javascript:alert(1)",
        "http://user:secret@example.com/",
        "http://[::ffff:127.0.0.1]/",
    ],
)
def test_unsafe_urls(url, settings):
    settings.NPSLOOP_OUTBOUND_ALLOW = []
    with pytest.raises(UnsafeURL):
        check_url(url)


def test_https_only_setting(settings):
    settings.NPSLOOP_OUTBOUND_HTTPS_ONLY = True
    with pytest.raises(UnsafeURL):
        check_url("http://example.com/", resolve=False)
    assert check_url("https://example.com/", resolve=False) == "https://example.com/"


def test_slack_message_escapes_and_links(org_a, contact, rate, receiver):
    channel = Channel.objects.create(
        organization=org_a.organization,
        kind="slack",
        name="#feedback",
        url=receiver.url + "/T0/B0/x",
    )
    rule(org_a, Rule.Trigger.RESPONSE, channel)
    response = rate(contact, 2, "<!channel> <script>alert(1)</script> & co")

    body = receiver.requests[0].json
    text = json.dumps(body)
    assert "<!channel>" not in text and "<script>" not in text
    assert "&lt;!channel&gt;" in body["text"]
    assert f"/inbox/{response.pk}/|open in npsloop>" in body["text"]
    assert body["blocks"][0]["type"] == "section"
    assert Delivery.objects.get().state == Delivery.State.DELIVERED


def test_slack_error_body_is_a_failure(org_a, contact, rate, receiver):
    channel = Channel.objects.create(
        organization=org_a.organization, kind="slack", name="#feedback", url=receiver.url
    )
    rule(org_a, Rule.Trigger.RESPONSE, channel)
    receiver.reply(404, "no_service")
    rate(contact, 9)
    delivery = Delivery.objects.get()
    assert delivery.state == Delivery.State.FAILED
    assert "no_service" in delivery.last_error


def test_email_channel_in_german_with_escaped_comment(org_a, contact, rate, outbox_mode):
    channel = Channel.objects.create(
        organization=org_a.organization,
        kind="email",
        name="Support team",
        config={"recipients": ["support@acme.test"], "members": [org_a.user.pk], "language": "de"},
    )
    rule(org_a, Rule.Trigger.COMMENT, channel)
    rate(contact, 4, 'Kaputt <img src=x onerror="alert(1)">')

    email = OutboundEmail.objects.get(kind="notification")
    assert email.to == f"{org_a.user.email}, support@acme.test"
    assert email.subject.startswith("Neues Feedback: 4 von Anna Schmidt")
    html = next(
        part.get_content()
        for part in message_from_string(email.raw, policy=default).walk()
        if part.get_content_type() == "text/html"
    )
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert Delivery.objects.get().state == Delivery.State.DELIVERED


def test_members_of_another_organization_are_not_recipients(
    org_a, org_b, contact, rate, outbox_mode
):
    channel = Channel.objects.create(
        organization=org_a.organization,
        kind="email",
        name="Team",
        config={"recipients": ["team@acme.test"], "members": [org_b.user.pk]},
    )
    rule(org_a, Rule.Trigger.RESPONSE, channel)
    rate(contact, 9)
    assert OutboundEmail.objects.get(kind="notification").to == "team@acme.test"


def test_rules_of_another_organization_never_fire(org_a, org_b, contact, rate, receiver):
    channel = webhook_channel(org_b, receiver.url)
    rule(org_b, Rule.Trigger.RESPONSE, channel)
    rate(contact, 9)  # a response of org_a
    assert receiver.requests == [] and Delivery.objects.count() == 0


def test_hourly_digest_sends_each_period_once(
    org_a, survey, contact, receiver, django_capture_on_commit_callbacks
):
    from tests.test_api_support import respond

    channel = webhook_channel(org_a, receiver.url)
    digest = rule(org_a, Rule.Trigger.HOURLY, channel, query="category=detractor")
    org_a.organization.time_zone = "Europe/Berlin"
    org_a.organization.save()
    zone = org_a.organization.zone
    now = dt.datetime(2026, 11, 30, 10, 5, tzinfo=zone)
    Rule.objects.filter(pk=digest.pk).update(digest_until=now.replace(hour=9, minute=0))
    for score, minute in [(2, 10), (3, 50), (10, 20)]:
        response = respond(survey, contact, score)
        Response.objects.filter(pk=response.pk).update(
            created_at=now.replace(hour=9, minute=minute)
        )
        Invitation.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        assert services.run_digests(now=now) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert services.run_digests(now=now) == 0  # this hour is done
    event = verify(channel, receiver.requests[0])
    assert event["type"] == "responses.digest"
    assert event["data"]["count"] == 2
    assert [r["score"] for r in event["data"]["responses"]] == [3, 2]
    assert event["data"]["from"] == "2026-11-30T08:00:00Z"  # 09:00 in Berlin
    with django_capture_on_commit_callbacks(execute=True):
        assert services.run_digests(now=now + dt.timedelta(hours=1)) == 0  # nothing new
    assert len(receiver.requests) == 1


def test_ticket_link_lands_on_the_timeline(org_a, contact, rate, receiver, monkeypatch):
    from npsloop.notifications.channels import base

    def fake_sender(kind):  # a channel that reports what it created
        return lambda channel, delivery: base.Outcome(
            status=201, external_url="https://t.example/1"
        )

    monkeypatch.setattr(services, "sender_for", fake_sender)
    channel = webhook_channel(org_a, receiver.url)
    rule(org_a, Rule.Trigger.RESPONSE, channel)
    response = rate(contact, 9)
    assert ResponseEvent.objects.filter(
        response=response, kind="ticket", detail__contains="https://t.example/1"
    ).exists()


def test_erasure_scrubs_notification_payloads(org_a, survey, contact, rate, receiver):
    from npsloop.api.erasure import erase_person

    channel = webhook_channel(org_a, receiver.url)
    rule(org_a, Rule.Trigger.COMMENT, channel)
    response = rate(contact, 2, "Anna here, call me at 0151 123")
    Response.objects.filter(pk=response.pk).update(created_at=timezone.now() - dt.timedelta(days=2))
    digest = rule(org_a, Rule.Trigger.DAILY, channel)
    Rule.objects.filter(pk=digest.pk).update(digest_until=timezone.now() - dt.timedelta(days=3))
    services.run_digests()
    assert Delivery.objects.filter(event_type="responses.digest").exists()

    erase_person(contact=contact)

    for delivery in Delivery.objects.all():
        text = json.dumps(delivery.payload)
        assert "anna" not in text.lower() and "0151" not in text, delivery.event_type


def test_a_lost_fan_out_job_is_replayed_once(org_a, contact, survey, receiver):
    from tests.test_api_support import respond

    channel = webhook_channel(org_a, receiver.url)
    rule(org_a, Rule.Trigger.RESPONSE, channel)
    rule(org_a, Rule.Trigger.COMMENT, channel)
    # No on-commit callbacks run: the rating's fan-out job is "lost".
    response = respond(survey, contact, 5, "Slow support")
    assert Delivery.objects.count() == 0
    later = response.updated_at + dt.timedelta(minutes=5)

    services.reconcile_fan_out(now=later)
    services.reconcile_fan_out(now=later)  # again: nothing new
    types = sorted(Delivery.objects.values_list("event_type", flat=True))
    assert types == ["response.created", "response.updated"]
    send_due()
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 2
    # Older than the window: not replayed (nor sent twice).
    assert services.reconcile_fan_out(now=response.updated_at + dt.timedelta(hours=1)) == 0


def test_reconciler_does_not_flood_a_busy_queue(org_a, contact, rate, receiver, monkeypatch):
    channel = webhook_channel(org_a, receiver.url)
    rule(org_a, Rule.Trigger.RESPONSE, channel)
    receiver.reply(500, "boom")
    rate(contact, 9)
    overdue = timezone.now() - dt.timedelta(minutes=5)
    Delivery.objects.update(next_attempt_at=overdue)

    monkeypatch.setattr(services, "queue_busy", lambda: True)
    assert services.reconcile()["enqueued"] == 0  # its job is probably still waiting
    monkeypatch.setattr(services, "queue_busy", lambda: False)
    assert services.reconcile()["enqueued"] == 1


def test_email_channel_writes_to_each_member_in_their_language(org_a, contact, rate, outbox_mode):
    """Members who chose a language get the message in it; the channel's addresses and
    members who chose none get the channel's; a retry sends no language twice."""
    from npsloop.accounts.models import Membership
    from npsloop.accounts.services import add_member
    from npsloop.notifications.channels import email as email_channel

    Membership.objects.filter(user=org_a.user).update(language="de")
    other = add_member(organization=org_a.organization, email="sam@acme.test", password=None)
    channel = Channel.objects.create(
        organization=org_a.organization,
        kind="email",
        name="Team",
        config={
            "recipients": ["support@acme.test", org_a.user.email.upper()],  # already a member
            "members": [org_a.user.pk, other.pk],
            "language": "en",
        },
    )
    rule(org_a, Rule.Trigger.RESPONSE, channel)
    rate(contact, 4)

    emails = {e.to: e for e in OutboundEmail.objects.filter(kind="notification")}
    assert set(emails) == {org_a.user.email, "sam@acme.test, support@acme.test"}
    assert emails[org_a.user.email].subject.startswith("Neues Feedback: 4 von Anna Schmidt")
    assert emails["sam@acme.test, support@acme.test"].subject.startswith(
        "New feedback: 4 from Anna Schmidt"
    )
    delivery = Delivery.objects.get()
    assert delivery.state == Delivery.State.DELIVERED
    delivery.attempts = 2  # as a retry would
    email_channel.send(channel, delivery)
    assert OutboundEmail.objects.filter(kind="notification").count() == 2


def test_the_owner_is_told_in_their_language(org_a, receiver, outbox_mode):
    from npsloop.accounts.models import Membership
    from npsloop.notifications.emails import send_channel_disabled

    Membership.objects.filter(user=org_a.user).update(language="de")
    channel = webhook_channel(org_a, receiver.url)
    channel.created_by = org_a.user
    send_channel_disabled(channel=channel, reason="410 Gone")
    email = OutboundEmail.objects.get(kind="notification")
    assert email.to == org_a.user.email
    assert email.subject == f"npsloop sendet nicht mehr an „{channel.name}“"
