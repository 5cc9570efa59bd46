"""API: notification channels and rules, the delivery log, Zapier REST hooks."""

from __future__ import annotations

import pytest

from npsloop.mail.models import OutboundEmail
from npsloop.notifications.models import Channel, Delivery, Rule
from tests.receivers import Receiver
from tests.test_api_support import api_fixture, api_read_fixture, assert_error, respond  # noqa: F401


@pytest.fixture
def receiver(settings):
    settings.NPSLOOP_OUTBOUND_ALLOW = ["127.0.0.1/32"]
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def rate(survey, contact, django_capture_on_commit_callbacks):
    def _rate(score: int, comment: str = ""):
        with django_capture_on_commit_callbacks(execute=True):
            return respond(survey, contact, score, comment)

    return _rate


def test_webhook_channel_secret_only_in_the_create_answer(api, receiver):
    made = api.post(
        "/notification-channels", {"kind": "webhook", "name": "Ops", "url": receiver.url}
    )
    assert made.status_code == 201, made.content
    secret = made.json()["signing_secret"]
    assert secret.startswith("whsec_")
    listed = api.get("/notification-channels")
    assert listed.status_code == 200
    assert secret not in listed.content.decode()
    assert listed.json()[0]["has_secret"] is True


def test_validation_errors_name_the_field(api, receiver, settings):
    answer = api.post(
        "/notification-channels", {"kind": "email", "name": "T", "config": {"recipients": ["x"]}}
    )
    error = assert_error(answer, 422)
    assert "recipients" in str(error["details"])
    answer = api.post(
        "/notification-channels", {"kind": "webhook", "name": "T", "url": receiver.url, "colour": 1}
    )
    assert_error(answer, 422)
    settings.NPSLOOP_OUTBOUND_ALLOW = []
    answer = api.post(
        "/notification-channels", {"kind": "webhook", "name": "T", "url": "http://127.0.0.1/x"}
    )
    error = assert_error(answer, 422)
    assert "url" in error["details"]
    assert not Channel.objects.exists()


def test_read_only_tokens_cannot_write(api_read, receiver):
    answer = api_read.post(
        "/notification-channels", {"kind": "slack", "name": "S", "url": receiver.url}
    )
    assert_error(answer, 403)
    answer = api_read.post("/hooks", {"target_url": receiver.url, "event": "new_response"})
    assert_error(answer, 403)


def test_another_organizations_channels_are_404(api, org_b, receiver):
    theirs = Channel.objects.create(
        organization=org_b.organization, kind="slack", name="B", url=receiver.url
    )
    assert_error(api.get(f"/notification-channels/{theirs.pk}/deliveries"), 404)
    assert_error(api.delete(f"/notification-channels/{theirs.pk}"), 404)
    assert_error(api.post(f"/notification-channels/{theirs.pk}/test"), 404)
    answer = api.post(
        "/notification-rules", {"name": "R", "trigger": "response", "channels": [theirs.pk]}
    )
    assert_error(answer, 422)
    assert Channel.objects.filter(pk=theirs.pk).exists() and not Rule.objects.exists()


def test_rule_crud_and_delivery_log(api, receiver, rate, django_capture_on_commit_callbacks):
    channel = api.post(
        "/notification-channels", {"kind": "webhook", "name": "Ops", "url": receiver.url}
    ).json()
    made = api.post(
        "/notification-rules", {"name": "All", "trigger": "response", "channels": [channel["id"]]}
    )
    assert made.status_code == 201, made.content
    rule_id = made.json()["id"]
    rate(9)
    log = api.get(f"/notification-channels/{channel['id']}/deliveries").json()
    assert [d["event_type"] for d in log] == ["response.created"]
    assert log[0]["state"] == "delivered" and log[0]["attempt_log"][0]["status"] == 200

    with django_capture_on_commit_callbacks(execute=True):
        resent = api.post(f"/deliveries/{log[0]['id']}/resend")
    assert resent.status_code == 202
    assert len(receiver.requests) == 2

    patched = api.patch(f"/notification-rules/{rule_id}", {"active": False})
    assert patched.status_code == 200 and patched.json()["active"] is False
    rate(3)  # the same response's score changes; the paused rule stays quiet
    assert len(receiver.requests) == 2
    assert api.delete(f"/notification-rules/{rule_id}").status_code == 204
    assert not Rule.objects.exists()


def test_send_test_through_the_api(api, receiver, django_capture_on_commit_callbacks):
    channel = api.post(
        "/notification-channels", {"kind": "slack", "name": "S", "url": receiver.url}
    ).json()
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(f"/notification-channels/{channel['id']}/test")
    assert answer.status_code == 202
    assert Delivery.objects.get().state == "delivered"
    assert "test" in receiver.requests[0].json["text"]


def test_zapier_rest_hook_lifecycle(api, receiver, rate, outbox_mode):
    assert api.get("/me").json()["organization"] == "Acme"
    hook = api.post("/hooks", {"target_url": receiver.url + "/zap", "event": "new_comment"})
    assert hook.status_code == 201, hook.content
    rate(7)
    assert receiver.requests == []  # no comment yet
    rate(7, "Could be faster")
    item = receiver.requests[0].json
    assert receiver.requests[0].path == "/zap"
    assert item["comment"] == "Could be faster" and item["score"] == 7
    assert item["person"]["email"] == "anna.schmidt@example.com"
    assert item["event_id"].startswith("msg_")

    sample = api.get("/hooks/sample", {"event": "new_comment"})
    assert sample.status_code == 200 and sample.json()[0]["comment"] == "Could be faster"

    # Zapier answers 410 when the Zap is off: the subscription ends, nobody is emailed.
    receiver.reply(410, "")
    rate(8, "Better now")
    assert not Channel.objects.get(pk=hook.json()["id"]).active
    assert not OutboundEmail.objects.filter(kind="notification").exists()
    assert api.delete(f"/hooks/{hook.json()['id']}").status_code == 204
    assert not Channel.objects.exists()


def test_hook_target_must_be_public(api, settings):
    settings.NPSLOOP_OUTBOUND_ALLOW = []
    answer = api.post("/hooks", {"target_url": "http://169.254.169.254/", "event": "new_response"})
    assert_error(answer, 422)


def test_unsubscribe_through_the_api_is_an_event(
    api, org_a, receiver, django_capture_on_commit_callbacks
):
    channel = api.post(
        "/notification-channels", {"kind": "slack", "name": "S", "url": receiver.url}
    ).json()
    api.post(
        "/notification-rules", {"name": "U", "trigger": "unsubscribed", "channels": [channel["id"]]}
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post("/unsubscribes", {"email": "gone@example.com"}).status_code in (200, 201)
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/unsubscribes", {"email": "gone@example.com"})  # again: no second event
    assert len(receiver.requests) == 1
    assert "gone@example.com unsubscribed" in receiver.requests[0].json["text"]
