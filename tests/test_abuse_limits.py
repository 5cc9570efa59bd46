"""Bad input and abuse: rate limits, request sizes, sign-in lockout, reset spam."""

from __future__ import annotations

import base64
import json
import re

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from npsloop.accounts.services import create_organization
from npsloop.contacts.services import upsert_contact
from npsloop.ingest.models import IngestEvent
from npsloop.invitations.links import rating_token, unsubscribe_token
from npsloop.invitations.models import Invitation
from npsloop.invitations.services import schedule_invitation
from npsloop.mail.models import OutboundEmail
from npsloop.responses.models import Response
from npsloop.surveys.services import create_survey
from npsloop.web import ratelimit
from tests.conftest import PASSWORD
from tests.test_api_support import api_fixture  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

NOW = 1_800_000_010.0  # 10 s into a minute (and into a 15-minute window)


@pytest.fixture
def clock(monkeypatch):
    """The rate limits' clock, held still so no window ends in the middle of a test."""

    class Clock:
        now = NOW

        def advance(self, seconds: float) -> None:
            self.now += seconds

    fixed = Clock()
    monkeypatch.setattr(ratelimit, "clock", lambda: fixed.now)
    return fixed


# --- ingest ----------------------------------------------------------------------------


def _basic(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def _identify(client, key: str | None, user: str = "u1", body: bytes | None = None, **extra):
    payload = {"userId": user, "traits": {"email": f"{user}@example.com"}}
    return client.post(
        "/segment/v1/identify",
        body if body is not None else json.dumps(payload),
        content_type="application/json",
        **(_basic(key) if key else {}),
        **extra,
    )


def test_ingest_is_limited_per_api_key_with_segments_error_body(
    client, org_a, outbox_mode, settings, clock
):
    settings.NPSLOOP_INGEST_RATE_LIMIT = "2/min"
    _survey_a, key_a = create_survey(organization=org_a.organization, name="A")
    _survey_b, key_b = create_survey(organization=org_a.organization, name="B")
    assert [_identify(client, key_a, f"u{i}").status_code for i in range(2)] == [200, 200]

    refused = _identify(client, key_a, "u3")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "50"  # the rest of the minute
    body = refused.json()
    assert body["success"] is False and body["code"] == "rate_limited"
    assert "50 seconds" in body["message"]
    # Refused before the body is read: broken JSON gets the same answer.
    assert _identify(client, key_a, body=b"{broken").status_code == 429
    # The key in the body (writeKey) counts for the same survey.
    in_body = json.dumps({"userId": "u4", "writeKey": key_a})
    assert _identify(client, None, body=in_body.encode()).status_code == 429
    # Another survey's key has its own count; and so does the webhook path.
    assert _identify(client, key_b, "u5").status_code == 200
    webhook = client.post(
        "/segment/webhook", json.dumps({"type": "identify", "userId": "u6"}),
        content_type="application/json", **_basic(key_a),
    )  # fmt: skip
    assert webhook.status_code == 429 and webhook.json()["code"] == "rate_limited"
    assert IngestEvent.objects.count() == 3

    clock.advance(60)  # the next minute
    assert _identify(client, key_a, "u7").status_code == 200


def test_ingest_counts_requests_not_events(client, org_a, outbox_mode, settings, clock):
    settings.NPSLOOP_INGEST_RATE_LIMIT = "2/min"
    _survey, key = create_survey(organization=org_a.organization, name="A")
    batch = {"batch": [{"type": "track", "userId": f"u{i}", "event": "e"} for i in range(100)]}
    for _ in range(2):
        answer = client.post(
            "/segment/v1/batch", json.dumps(batch), content_type="application/json", **_basic(key)
        )
        assert answer.status_code == 200 and answer.json()["accepted"] == 100


def test_default_ingest_limit_leaves_room_for_the_benchmark(settings):
    # bench/ingest.py aims at 1,000 single calls/s and 10,000 events/s in batches of 100
    # (100 requests/s), all with one key.
    rate = ratelimit.parse_rate(settings.NPSLOOP_INGEST_RATE_LIMIT)
    assert rate.limit / rate.window >= 1_000


# --- rating pages ----------------------------------------------------------------------


@pytest.fixture
def invitation(survey, contact, outbox_mode):
    return schedule_invitation(survey=survey, contact=contact, source=Invitation.Source.MANUAL)


def _rate_path(invitation, score: int = 9) -> str:
    return reverse("rate", args=[rating_token(invitation.key, score)])


def test_rating_pages_are_limited_per_client_address(client, invitation, settings, clock):
    settings.NPSLOOP_RATING_RATE_LIMIT = "4/min"
    page = _rate_path(invitation)
    token = page.split("/")[2]
    record = reverse("rate_record", args=[token])
    assert client.get(page).status_code == 200
    assert client.post(record, {"score": "9"}).status_code == 200
    assert client.post(page, {"score": "9", "comment": "Great"}).status_code == 302
    assert client.get(reverse("rate_thanks", args=[token])).status_code == 200

    refused = client.get(page)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "50"
    assert refused["X-Robots-Tag"].startswith("noindex")
    assert "Please try again in 50 seconds" in refused.content.decode()
    refused_record = client.post(record, {"score": "3"})
    assert refused_record.status_code == 429 and refused_record.json()["recorded"] is False
    assert refused_record["Retry-After"] == "50"
    assert Response.objects.get().score == 9  # the refused record changed nothing

    # X-Forwarded-For is a header anyone can send: not trusted without TRUSTED_PROXIES.
    assert client.get(page, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 429
    # Another address has its own count.
    assert client.get(page, REMOTE_ADDR="198.51.100.2").status_code == 200
    clock.advance(60)
    assert client.get(page).status_code == 200


def test_the_unsubscribe_page_limits_guessing_not_unsubscribing(
    client, invitation, settings, clock, survey
):
    """Links that are not valid count on the rating pages' budget per address and are
    refused past it; valid links never are: a mail provider sends the one-click
    unsubscribes (RFC 8058) of many users from a few addresses."""
    settings.NPSLOOP_RATING_RATE_LIMIT = "3/min"
    page = reverse("unsubscribe", args=[unsubscribe_token(invitation.key)])
    bad = reverse("unsubscribe", args=["not-a-token"])
    assert client.get(_rate_path(invitation)).status_code == 200  # 1 of 3
    assert client.get(bad).status_code == 404  # 2
    assert client.post(bad).status_code == 404  # 3
    refused = client.get(bad)
    assert refused.status_code == 429 and refused["Retry-After"]
    assert "Please try again in" in refused.content.decode()
    assert client.get(_rate_path(invitation)).status_code == 429  # the same budget
    # Valid links from the same address: as many as come, each answered.
    others = [
        schedule_invitation(survey=survey, contact=contact, source=Invitation.Source.MANUAL)
        for contact in (
            upsert_contact(organization=survey.organization, email=f"u{i}@example.com")[0]
            for i in range(4)
        )
    ]
    for other in [invitation, *others]:
        link = reverse("unsubscribe", args=[unsubscribe_token(other.key)])
        assert client.post(link).status_code == 200
        other.contact.refresh_from_db()
        assert other.contact.unsubscribed_at is not None
    assert client.get(page).status_code == 200
    clock.advance(60)
    assert client.get(bad).status_code == 404


def test_behind_a_trusted_proxy_each_forwarded_client_counts_alone(
    client, invitation, settings, clock
):
    settings.NPSLOOP_RATING_RATE_LIMIT = "1/min"
    settings.NPSLOOP_TRUSTED_PROXIES = ["10.0.0.0/8"]
    page = _rate_path(invitation)
    via_proxy = {"REMOTE_ADDR": "10.0.0.2"}
    assert client.get(page, HTTP_X_FORWARDED_FOR="198.51.100.1", **via_proxy).status_code == 200
    assert client.get(page, HTTP_X_FORWARDED_FOR="198.51.100.2", **via_proxy).status_code == 200
    assert client.get(page, HTTP_X_FORWARDED_FOR="198.51.100.1", **via_proxy).status_code == 429
    # A made-up address left of the one the proxy saw changes nothing.
    spoofed = "203.0.113.99, 198.51.100.1"
    assert client.get(page, HTTP_X_FORWARDED_FOR=spoofed, **via_proxy).status_code == 429


@pytest.mark.parametrize(
    "remote, forwarded, trusted, expected",
    [
        ("198.51.100.7", "", [], "198.51.100.7"),
        ("198.51.100.7", "203.0.113.1", [], "198.51.100.7"),  # not from a proxy
        ("10.0.0.2", "203.0.113.1", ["10.0.0.0/8"], "203.0.113.1"),
        ("10.0.0.2", "1.1.1.1, 203.0.113.1", ["10.0.0.0/8"], "203.0.113.1"),
        ("10.0.0.2", "203.0.113.1, 10.0.0.9", ["10.0.0.0/8"], "203.0.113.1"),  # two proxies
        ("10.0.0.2", "10.0.0.5", ["10.0.0.0/8"], "10.0.0.5"),  # only proxies: the farthest
        ("10.0.0.2", "garbage, 203.0.113.1", ["10.0.0.0/8"], "203.0.113.1"),
        ("10.0.0.2", "203.0.113.1, garbage", ["10.0.0.0/8"], "10.0.0.2"),  # proxy sent junk
        ("10.0.0.2", "", ["10.0.0.0/8"], "10.0.0.2"),
        ("127.0.0.1", "[2001:db8::1]:4711", ["127.0.0.1"], "2001:db8::1"),
        ("127.0.0.1", "203.0.113.1:4711", ["127.0.0.1"], "203.0.113.1"),
        ("::ffff:10.0.0.2", "203.0.113.1", ["10.0.0.0/8"], "203.0.113.1"),
    ],
)
def test_client_ip(settings, remote, forwarded, trusted, expected):
    settings.NPSLOOP_TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert ratelimit.client_ip(request) == expected


def test_ipv6_clients_count_by_64_bit_prefix():
    one = RequestFactory().get("/", REMOTE_ADDR="2001:db8:1:2:aaaa::1")
    two = RequestFactory().get("/", REMOTE_ADDR="2001:db8:1:2:bbbb::2")
    other = RequestFactory().get("/", REMOTE_ADDR="2001:db8:1:3::1")
    assert ratelimit.client_key(one) == ratelimit.client_key(two) == "2001:db8:1:2::/64"
    assert ratelimit.client_key(other) != ratelimit.client_key(one)


@pytest.mark.parametrize(
    "value, limit, window",
    [("60/min", 60, 60), ("5/hour", 5, 3600), ("100/s", 100, 1), ("42", 42, 60), ("0", 0, 60)],
)
def test_rates(value, limit, window):
    assert ratelimit.parse_rate(value) == ratelimit.Rate(limit, window)


def test_a_limit_of_zero_is_off(client, invitation, settings):
    settings.NPSLOOP_RATING_RATE_LIMIT = "0"
    page = _rate_path(invitation)
    assert {client.get(page).status_code for _ in range(5)} == {200}


def test_a_broken_cache_lets_requests_through(client, invitation, settings, monkeypatch):
    settings.NPSLOOP_RATING_RATE_LIMIT = "1/min"

    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise ConnectionError("redis is down")

            return fail

    monkeypatch.setattr(ratelimit, "_cache", Down)
    page = _rate_path(invitation)
    assert [client.get(page).status_code for _ in range(3)] == [200, 200, 200]


# --- request sizes ---------------------------------------------------------------------


def test_a_too_long_comment_is_a_clear_400(client, invitation):
    answer = client.post(_rate_path(invitation), {"score": "9", "comment": "x" * 6000})
    assert answer.status_code == 400
    assert "5000" in answer.content.decode()  # "keep your comment under 5000 characters"
    assert not Response.objects.exists()


def test_a_body_over_the_upload_limit_is_400_not_500(invitation, settings):
    browser = Client(enforce_csrf_checks=True)  # CSRF reads the form first, as in real life
    page = _rate_path(invitation)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', browser.get(page).text)
    big = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    answer = browser.post(page, {"csrfmiddlewaretoken": csrf.group(1), "comment": big})
    assert answer.status_code == 400
    record = reverse("rate_record", args=[page.split("/")[2]])
    assert Client().post(record, {"score": "9", "comment": big}).status_code == 400
    assert not Response.objects.exists()


def test_an_api_body_over_the_upload_limit_is_413(api, settings):
    big = json.dumps({"name": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    answer = api.post("/surveys", raw=big)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"


# --- sign-in ---------------------------------------------------------------------------


def _login(client, username: str, password: str, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def test_sign_in_is_refused_after_five_failures(client, org_a, clock):
    for _ in range(4):
        wrong = _login(client, "owner@acme.test", "wrong")
        assert wrong.status_code == 200 and "Too many attempts" not in wrong.text
    fifth = _login(client, "owner@acme.test", "wrong")
    assert fifth.status_code == 429
    assert "Too many attempts, try again in 15 minutes." in fifth.text
    assert fifth["Retry-After"] == "900"

    # Now even the right password is refused, with the same words.
    right = _login(client, "owner@acme.test", PASSWORD)
    assert right.status_code == 429 and "Too many attempts" in right.text
    assert not right.wsgi_request.user.is_authenticated
    # The same user from another address, and another user from here, may sign in.
    assert (
        _login(client, "owner@acme.test", PASSWORD, REMOTE_ADDR="198.51.100.9").status_code == 302
    )
    client.post(reverse("logout"), REMOTE_ADDR="198.51.100.9")
    other = create_organization(name="Other", email="other@acme.test", password=PASSWORD)
    assert _login(client, other.user.username, PASSWORD).status_code == 302
    client.post(reverse("logout"))

    clock.advance(14 * 60)
    assert "try again in 1 minute." in _login(client, "owner@acme.test", PASSWORD).text
    clock.advance(60)
    assert _login(client, "owner@acme.test", PASSWORD).status_code == 302


def test_unknown_user_names_are_refused_alike(client, org_a, clock):
    answers = [_login(client, "nobody@acme.test", "wrong") for _ in range(5)]
    known = [_login(client, "owner@acme.test", "wrong") for _ in range(5)]
    assert [a.status_code for a in answers] == [a.status_code for a in known]
    assert answers[-1].text.count("Too many attempts") == known[-1].text.count("Too many attempts")
    assert "Too many attempts" in _login(client, "nobody@acme.test", "wrong").text


def test_a_successful_sign_in_resets_the_count(client, org_a, clock):
    for _ in range(4):
        _login(client, "owner@acme.test", "wrong")
    assert _login(client, "owner@acme.test", PASSWORD).status_code == 302
    client.post(reverse("logout"))
    for _ in range(4):
        assert _login(client, "owner@acme.test", "wrong").status_code == 200
    assert _login(client, "owner@acme.test", PASSWORD).status_code == 302


def test_the_admin_sign_in_has_the_same_lockout(client, org_a, clock):
    for _ in range(5):
        answer = client.post(
            reverse("admin:login"), {"username": "owner@acme.test", "password": "wrong"}
        )
    assert "Too many attempts" in answer.text


def test_lockout_settings(client, org_a, settings, clock):
    settings.NPSLOOP_LOGIN_MAX_FAILURES = 2
    settings.NPSLOOP_LOGIN_LOCKOUT_MINUTES = 2
    _login(client, "owner@acme.test", "wrong")
    second = _login(client, "owner@acme.test", "wrong")
    assert second.status_code == 429 and "try again in 2 minutes" in second.text


# --- password reset --------------------------------------------------------------------


def test_password_reset_is_limited_per_client_address(client, org_a, outbox_mode, settings, clock):
    settings.NPSLOOP_PASSWORD_RESET_RATE_LIMIT = "2/hour"
    url = reverse("password_reset")
    assert client.post(url, {"email": "owner@acme.test"}).status_code == 302
    assert client.post(url, {"email": "nobody@acme.test"}).status_code == 302
    refused = client.post(url, {"email": "owner@acme.test"})
    assert refused.status_code == 429
    assert "Too many attempts, try again in 60 minutes." in refused.text
    assert refused["Retry-After"] == "3590"
    assert OutboundEmail.objects.filter(kind="system").count() == 1
    # Someone else is not affected.
    assert (
        client.post(url, {"email": "owner@acme.test"}, REMOTE_ADDR="198.51.100.3").status_code
        == 302
    )


def test_one_address_gets_at_most_three_reset_emails_an_hour(
    client, org_a, outbox_mode, settings, clock
):
    settings.NPSLOOP_PASSWORD_RESET_RATE_LIMIT = "0"
    url = reverse("password_reset")
    for i in range(5):
        answer = client.post(url, {"email": "owner@acme.test"}, REMOTE_ADDR=f"198.51.100.{i}")
        assert answer.status_code == 302 and answer.url == reverse("password_reset_done")
    assert OutboundEmail.objects.filter(kind="system").count() == 3
