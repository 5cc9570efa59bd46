"""The Segment destination: real clients and raw payloads against our endpoints."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import hmac
import json

import pytest
from django.urls import reverse
from segment.analytics import Client

from npsloop.contacts.models import Contact
from npsloop.ingest.models import IngestEvent
from npsloop.invitations.models import Decision, Invitation
from npsloop.surveys.services import create_survey

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def keyed(org_a, outbox_mode):
    """A survey with Segment automation on, and its API key."""
    survey, key = create_survey(
        organization=org_a.organization,
        name="Segment NPS",
        segment_enabled=True,
        min_delay_days=0,
        max_delay_days=0,
        min_interval_weeks=26,
    )
    return survey, key


def _basic(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def _post(client, path, payload, key=None, **headers):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    extra = {**(_basic(key) if key else {}), **headers}
    return client.post(path, body, content_type="application/json", **extra)


def test_official_client_single_and_batched(live_server, keyed):
    survey, key = keyed
    errors = []
    client = Client(
        write_key=key,
        host=live_server.url + "/segment",
        sync_mode=True,
        on_error=lambda e, batch: errors.append(e),
        max_retries=0,
    )
    client.identify(
        "user-1",
        {
            "email": "ann@example.com",
            "firstName": "Ann",
            "createdAt": "2026-01-02T03:04:05Z",
            "plan": "pro",
        },
        context={"locale": "de-DE"},
    )
    batcher = Client(
        write_key=key,
        host=live_server.url + "/segment",
        gzip=True,
        upload_size=100,
        on_error=lambda e, batch: errors.append(e),
        max_retries=0,
    )
    for i in range(2, 12):
        batcher.identify(f"user-{i}", {"email": f"u{i}@example.com"})
    batcher.track("user-1", "Signed in")
    batcher.flush()
    batcher.join()
    assert errors == []
    ann = Contact.objects.get(external_id="user-1")
    assert (ann.email, ann.first_name, ann.language) == ("ann@example.com", "Ann", "de")
    assert ann.properties == {"plan": "pro"}
    assert ann.signed_up_at == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert ann.last_seen_at is not None
    assert Contact.objects.count() == 11
    assert Decision.objects.filter(reason="scheduled").count() == 11
    assert Invitation.objects.filter(source="segment", state="sent").count() == 11
    assert IngestEvent.objects.filter(state="done").count() == 12


def test_write_key_in_the_body_and_every_endpoint(client, keyed):
    survey, key = keyed
    for kind in ["identify", "track", "page", "screen", "group", "alias"]:
        response = _post(
            client,
            f"/segment/v1/{kind}",
            {
                "userId": "u1",
                "writeKey": key,
                "traits": {"email": "u1@example.com"},
                "event": "x",
                "previousId": "old",
            },
        )
        assert response.status_code == 200, (kind, response.content)
        assert response.json()["success"] is True
    batch = _post(
        client,
        "/segment/v1/import",
        {"writeKey": key, "batch": [{"type": "track", "userId": "u1", "event": "A"}]},
    )
    assert batch.status_code == 200
    assert IngestEvent.objects.count() == 7
    assert Decision.objects.count() == 1  # only identify leads to surveys


def test_retried_delivery_is_stored_once(client, keyed):
    _survey, key = keyed
    event = {
        "type": "identify",
        "userId": "u1",
        "messageId": "m-1",
        "traits": {"email": "u1@example.com"},
    }
    for _ in range(3):
        assert _post(client, "/segment/v1/batch", {"batch": [event]}, key).status_code == 200
    assert IngestEvent.objects.count() == 1
    assert Decision.objects.count() == 1
    assert Invitation.objects.count() == 1


@pytest.mark.parametrize(
    "body, status, code",
    [
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_body"),
        (json.dumps({"batch": "nope"}).encode(), 400, "invalid_batch"),
    ],
)
def test_malformed_bodies_get_a_clear_json_error(client, keyed, body, status, code):
    _survey, key = keyed
    path = "/segment/v1/batch"
    response = _post(client, path, body, key)
    assert response.status_code == status
    assert response.json()["code"] == code and response.json()["message"]
    assert not IngestEvent.objects.exists()


def test_wrong_or_missing_key_is_401(client, keyed):
    event = {"userId": "u1", "traits": {"email": "a@example.com"}}
    missing = _post(client, "/segment/v1/identify", event)
    assert missing.status_code == 401 and missing.json()["code"] == "missing_key"
    wrong = _post(client, "/segment/v1/identify", event, "npl_svy_000000000000_nope")
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_key"
    assert not IngestEvent.objects.exists()


def test_size_limits_answer_413(client, keyed):
    _survey, key = keyed
    big_event = {"userId": "u1", "traits": {"email": "a@example.com", "blob": "x" * 33_000}}
    response = _post(client, "/segment/v1/identify", big_event, key)
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    in_batch = _post(
        client,
        "/segment/v1/batch",
        {
            "batch": [
                {**big_event, "type": "identify"},
                {"type": "identify", "userId": "u2", "traits": {"email": "b@example.com"}},
            ]
        },
        key,
    )
    assert in_batch.status_code == 200
    assert in_batch.json()["accepted"] == 1 and in_batch.json()["rejected"][0]["index"] == 0
    huge = {"batch": [{"type": "track", "userId": "u", "event": "e" * 30_000}] * 20}
    assert _post(client, "/segment/v1/batch", huge, key).status_code == 413
    bomb = gzip.compress(json.dumps(huge).encode())
    response = _post(client, "/segment/v1/batch", bomb, key, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert (
        _post(
            client, "/segment/v1/batch", b"\x1f\x8bnope", key, HTTP_CONTENT_ENCODING="gzip"
        ).status_code
        == 400
    )


def test_a_bad_event_in_a_batch_keeps_the_good_ones(client, keyed):
    _survey, key = keyed
    response = _post(
        client,
        "/segment/v1/batch",
        {
            "batch": [
                {"type": "identify", "userId": "ok", "traits": {"email": "ok@example.com"}},
                {"userId": "no-type"},
                {"type": "identify", "traits": {"email": "no-id@example.com"}},
                "not an object",
                {"type": "teleport", "userId": "x"},
            ]
        },
        key,
    )
    body = response.json()
    assert response.status_code == 200 and body["accepted"] == 1
    assert [r["code"] for r in body["rejected"]] == [
        "invalid_type",
        "missing_id",
        "invalid_event",
        "invalid_type",
    ]
    assert Contact.objects.get().external_id == "ok"


def test_webhook_single_array_bearer_and_signature(client, keyed):
    survey, key = keyed
    one = {"type": "identify", "userId": "w1", "traits": {"email": "w1@example.com"}}
    many = [
        {"type": "identify", "userId": f"w{i}", "traits": {"email": f"w{i}@example.com"}}
        for i in range(2, 5)
    ]
    assert (
        _post(client, "/segment/webhook", one, HTTP_AUTHORIZATION=f"Bearer {key}").status_code
        == 200
    )
    assert _post(client, "/segment/webhook", many, key).status_code == 200
    assert Contact.objects.count() == 4
    survey.webhook_secret = "s3cret"
    survey.save()
    body = json.dumps({**one, "userId": "w9", "traits": {"email": "w9@example.com"}}).encode()
    unsigned = _post(client, "/segment/webhook", body, key)
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "invalid_signature"
    signature = hmac.new(b"s3cret", body, hashlib.sha1).hexdigest()
    signed = _post(client, "/segment/webhook", body, key, HTTP_X_SIGNATURE=signature)
    assert signed.status_code == 200
    assert Contact.objects.filter(external_id="w9").exists()


def test_a_batch_from_webhooks_actions_is_signed_by_its_first_event(client, keyed):
    """Segment's Webhooks (Actions) signs only JSON.stringify(batch[0]) of a batch
    (action-destinations' webhook test "supports request signing with batched events")."""
    survey, key = keyed
    survey.webhook_secret = "abc123"
    survey.save()
    now = dt.datetime.now(dt.UTC)
    events = [
        {"type": "identify", "userId": f"b{i}", "traits": {"email": f"b{i}@example.com",
         "name": "Jürgen «B»", "score": 5.0}, "receivedAt": now.isoformat()}
        for i in range(3)
    ]  # fmt: skip
    # As JavaScript's JSON.stringify writes them: compact, non-ASCII as is.
    items = [json.dumps(e, separators=(",", ":"), ensure_ascii=False) for e in events]
    body = ("[" + ",".join(items) + "]").encode()
    first = hmac.new(b"abc123", items[0].encode(), hashlib.sha1).hexdigest()
    second = hmac.new(b"abc123", items[1].encode(), hashlib.sha1).hexdigest()
    wrong = _post(client, "/segment/webhook", body, key, HTTP_X_SIGNATURE=second)
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_signature"
    assert not Contact.objects.filter(external_id__startswith="b").exists()
    signed = _post(client, "/segment/webhook", body, key, HTTP_X_SIGNATURE=first)
    assert signed.status_code == 200
    assert Contact.objects.filter(external_id__startswith="b").count() == 3
    # A single event is still signed as a whole body; its first "item" means nothing.
    one = items[0].encode()
    assert _post(client, "/segment/webhook", one, key, HTTP_X_SIGNATURE=first).status_code == 200
    # Garbage after a signed first item is still refused as a body.
    broken = body[:-1] + b", nonsense]"
    refused = _post(client, "/segment/webhook", broken, key, HTTP_X_SIGNATURE=first)
    assert refused.status_code == 400
    # An old signed event (a copy from a log) cannot carry a forged batch.
    old = {**events[0], "userId": "b-old", "receivedAt": (now - dt.timedelta(days=2)).isoformat()}
    old_item = json.dumps(old, separators=(",", ":"), ensure_ascii=False)
    forged = f"[{old_item},{json.dumps({'type': 'identify', 'userId': 'forged'})}]".encode()
    old_signature = hmac.new(b"abc123", old_item.encode(), hashlib.sha1).hexdigest()
    stale = _post(client, "/segment/webhook", forged, key, HTTP_X_SIGNATURE=old_signature)
    assert stale.status_code == 401 and stale.json()["code"] == "invalid_signature"
    assert not Contact.objects.filter(external_id="forged").exists()


def test_methods_and_unknown_endpoints(client, keyed):
    assert client.get("/segment/v1/identify").status_code == 405
    _survey, key = keyed
    response = _post(client, "/segment/v1/teleport", {"userId": "x"}, key)
    assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "created, expected",
    [
        ("2024-03-01T10:00:00+02:00", dt.datetime(2024, 3, 1, 8, tzinfo=dt.UTC)),
        ("2024-03-01T10:00:00", dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)),
        ("2024-03-01", dt.datetime(2024, 3, 1, tzinfo=dt.UTC)),
        (1709287200, dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)),
        (1709287200000, dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)),
        ("1709287200", dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)),
        ("1709287200000", dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)),
        ("next tuesday", None),
    ],
)
def test_created_at_formats(client, keyed, created, expected):
    _survey, key = keyed
    _post(
        client,
        "/segment/v1/identify",
        {"userId": "u", "traits": {"email": "u@example.com", "createdAt": created}},
        key,
    )
    assert Contact.objects.get().signed_up_at == expected


def test_traits_rules(client, keyed):
    _survey, key = keyed
    # context.traits (RudderStack), userId as email, name ignored beside firstName.
    _post(
        client,
        "/segment/v1/identify",
        {
            "userId": "kim@example.com",
            "context": {"traits": {"name": "Kim Lee", "firstName": "Kimberly", "gender": "F"}},
        },
        key,
    )
    kim = Contact.objects.get()
    assert (kim.email, kim.first_name, kim.last_name, kim.gender) == (
        "kim@example.com",
        "Kimberly",
        "",
        "female",
    )
    # name alone is split.
    _post(
        client,
        "/segment/v1/identify",
        {"userId": "x2", "traits": {"email": "jo@example.com", "name": "Jo Anne Smith"}},
        key,
    )
    jo = Contact.objects.get(external_id="x2")
    assert (jo.first_name, jo.last_name) == ("Jo", "Anne Smith")


def test_late_older_event_does_not_overwrite_newer_traits(client, keyed):
    _survey, key = keyed
    new = {
        "userId": "u",
        "timestamp": "2026-05-02T00:00:00Z",
        "traits": {"email": "u@example.com", "firstName": "New", "plan": "pro"},
    }
    old = {
        "userId": "u",
        "timestamp": "2026-05-01T00:00:00Z",
        "traits": {"email": "u@example.com", "firstName": "Old", "plan": "free"},
    }
    _post(client, "/segment/v1/identify", new, key)
    _post(client, "/segment/v1/identify", old, key)
    contact = Contact.objects.get()
    assert (contact.first_name, contact.properties["plan"]) == ("New", "pro")


def test_decisions_are_recorded_with_reasons(client, keyed):
    survey, key = keyed
    survey.max_delay_days, survey.min_delay_days = 14, 3
    survey.save()
    cases = {
        "fresh": {"email": "fresh@example.com", "createdAt": dt.datetime.now(dt.UTC).isoformat()},
        "old": {"email": "old@example.com", "createdAt": "2020-01-01"},
        "noemail": {"firstName": "Nobody"},
        "bad": {"email": "not-an-email"},
    }
    for user, traits in cases.items():
        assert (
            _post(
                client, "/segment/v1/identify", {"userId": user, "traits": traits}, key
            ).status_code
            == 200
        )
    reasons = dict(Decision.objects.values_list("event_ref", "reason"))
    by_user = {e.user_id: reasons[e.message_id] for e in IngestEvent.objects.all()}
    assert by_user == {
        "fresh": "scheduled",
        "old": "too_old",
        "noemail": "no_email",
        "bad": "invalid_email",
    }
    invitation = Invitation.objects.get()
    assert invitation.state == "scheduled"  # min delay 3 days
    # A second identify within the interval: one pending invitation at most.
    _post(client, "/segment/v1/identify", {"userId": "fresh", "traits": cases["fresh"]}, key)
    assert Decision.objects.filter(reason="already_scheduled").count() == 1
    assert Invitation.objects.count() == 1


def test_automation_off_updates_contacts_but_schedules_nothing(client, keyed):
    survey, key = keyed
    survey.segment_enabled = False
    survey.save()
    _post(
        client, "/segment/v1/identify", {"userId": "u", "traits": {"email": "u@example.com"}}, key
    )
    assert Contact.objects.count() == 1
    assert Decision.objects.get().reason == "automation_off"
    assert not Invitation.objects.exists()


def test_events_are_scoped_to_the_keys_organization(client, keyed, org_b):
    _survey, key = keyed
    Contact.objects.create(organization=org_b.organization, email="u@example.com", external_id="u")
    _post(
        client,
        "/segment/v1/identify",
        {"userId": "u", "traits": {"email": "u@example.com", "firstName": "A"}},
        key,
    )
    assert Contact.objects.filter(organization=org_b.organization).get().first_name == ""
    assert Contact.objects.filter(organization=keyed[0].organization).get().first_name == "A"


def test_segment_path_needs_no_csrf(keyed):
    from django.test import Client as DjangoClient

    strict = DjangoClient(enforce_csrf_checks=True)
    _survey, key = keyed
    response = _post(
        strict,
        reverse("segment_v1", args=["identify"]),
        {"userId": "u", "traits": {"email": "u@example.com"}},
        key,
    )
    assert response.status_code == 200


# Shaped like the examples of Segment's spec (identify, group, screen), with their
# common fields: channel, context, integrations, receivedAt, sentAt, version.
SPEC_IDENTIFY = {
    "anonymousId": "507f191e810c19729de860ea",
    "channel": "browser",
    "context": {"ip": "8.8.8.8", "userAgent": "Mozilla/5.0 (Macintosh)", "locale": "en-US"},
    "integrations": {"All": False, "Mixpanel": True, "Salesforce": True},
    "messageId": "022bb90c-bbac-11e4-8dfc-aa07a5b093db",
    "receivedAt": "2015-02-23T22:28:55.387Z",
    "sentAt": "2015-02-23T22:28:55.111Z",
    "timestamp": "2015-02-23T22:28:55.111Z",
    "traits": {
        "name": "Peter Gibbons",
        "email": "peter@example.com",
        "plan": "premium",
        "logins": 5,
        "address": {
            "street": "6th St",
            "city": "San Francisco",
            "state": "CA",
            "postalCode": "94103",
            "country": "USA",
        },
    },
    "type": "identify",
    "userId": "97980cfea0067",
    "version": "1.1",
}
SPEC_GROUP = {
    **{
        k: SPEC_IDENTIFY[k]
        for k in (
            "anonymousId",
            "channel",
            "context",
            "integrations",
            "receivedAt",
            "sentAt",
            "timestamp",
            "version",
        )
    },
    "messageId": "022bb90c-bbac-11e4-8dfc-aa07a5b093dc",
    "traits": {"name": "Initech", "industry": "Technology", "employees": 329},
    "type": "group",
    "userId": "97980cfea0067",
    "groupId": "0e8c78ea9d97a7b8185e8632",
}
SPEC_SCREEN = {
    "anonymousId": "3a12eab0-bca7-11e4-8dfc-aa07a5b093db",
    "channel": "mobile",
    "context": {"ip": "8.8.8.8"},
    "messageId": "022bb90c-bbac-11e4-8dfc-aa07a5b093dd",
    "name": "Home",
    "properties": {"variation": "blue signup button"},
    "timestamp": "2015-02-23T22:28:55.111Z",
    "type": "screen",
    "userId": "97980cfea0067",
    "version": "1.1",
}


def test_payloads_shaped_like_segments_spec(client, keyed):
    _survey, key = keyed
    for payload in (SPEC_IDENTIFY, SPEC_GROUP, SPEC_SCREEN):
        path = f"/segment/v1/{payload['type']}"
        assert _post(client, path, payload, key).status_code == 200
    peter = Contact.objects.get()
    assert (peter.email, peter.first_name, peter.last_name) == (
        "peter@example.com",
        "Peter",
        "Gibbons",
    )
    assert (peter.external_id, peter.anonymous_id, peter.language) == (
        "97980cfea0067",
        "507f191e810c19729de860ea",
        "en",
    )
    assert peter.properties["address"]["city"] == "San Francisco"
    assert peter.properties["logins"] == 5
    assert peter.last_seen_at == dt.datetime(2015, 2, 23, 22, 28, 55, 111000, tzinfo=dt.UTC)
    assert set(IngestEvent.objects.values_list("type", flat=True)) == {
        "identify",
        "group",
        "screen",
    }
    # The same payloads again, as a webhook batch: all three are retries, stored once.
    assert (
        _post(client, "/segment/webhook", [SPEC_IDENTIFY, SPEC_GROUP, SPEC_SCREEN], key).status_code
        == 200
    )
    assert IngestEvent.objects.count() == 3


def test_storage_down_answers_503_with_retry_after(client, keyed, monkeypatch):
    from django.db import OperationalError

    def broken(*args, **kwargs):
        raise OperationalError("database is locked")

    from npsloop.ingest import services

    monkeypatch.setattr(services, "_insert_new", broken)
    _survey, key = keyed
    response = _post(
        client, "/segment/v1/identify", {"userId": "u", "traits": {"email": "u@example.com"}}, key
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "30" and response.json()["code"] == "unavailable"
