"""Zendesk, Freshdesk, Salesforce and Emarsys channels, against real local HTTP servers.

Each fake vendor runs on 127.0.0.1, checks every request against the vendor's
documented shape and authentication (and records what does not fit in `problems`,
which every test ends by asserting empty) and answers as the vendor does.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.utils import timezone
from requests.structures import CaseInsensitiveDict

from npsloop.contacts.services import upsert_contact
from npsloop.invitations.models import Invitation
from npsloop.invitations.services import schedule_invitation
from npsloop.notifications import payloads, services
from npsloop.notifications.channels import ChannelError, emarsys, freshdesk, salesforce, zendesk
from npsloop.notifications.models import Channel, Delivery
from npsloop.responses.models import Response, ResponseEvent
from npsloop.responses.services import record_rating

# --- a fake vendor -------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: CaseInsensitiveDict
    raw: bytes

    @property
    def json(self) -> Any:
        assert self.headers.get("Content-Type", "").startswith("application/json"), self.headers
        return json.loads(self.raw)

    @property
    def form(self) -> dict[str, str]:
        content_type = self.headers.get("Content-Type", "")
        assert content_type.startswith("application/x-www-form-urlencoded"), content_type
        return {k: v[0] for k, v in parse_qs(self.raw.decode(), strict_parsing=True).items()}

    def basic(self) -> tuple[str, str]:
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        assert scheme == "Basic", "HTTP Basic authentication expected"
        user, _, password = base64.b64decode(encoded).decode().partition(":")
        return user, password


Reply = tuple[int, dict[str, str], Any]


class Vendor:
    """A ThreadingHTTPServer on 127.0.0.1; `route` checks a request and answers it."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.problems: list[str] = []
        self.forced: list[Reply] = []
        self.lock = threading.Lock()
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = urlsplit(self.path)
                seen = Seen(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    CaseInsensitiveDict(self.headers.items()),
                    raw,
                )
                with vendor.lock:
                    vendor.requests.append(seen)
                    try:
                        status, headers, body = vendor.route(seen)
                    except (AssertionError, KeyError, ValueError, TypeError) as error:
                        vendor.problems.append(f"{seen.method} {self.path}: {error!r}")
                        status, headers, body = 400, {}, {"error": "the test vendor refused it"}
                    if vendor.forced:
                        status, headers, body = vendor.forced.pop(0)
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if body is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = _handle  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def route(self, request: Seen) -> Reply:  # pragma: no cover - each vendor has its own
        raise NotImplementedError

    def answer_next(self, status: int, body: Any = None, **headers: str) -> None:
        """The next request is still checked, but answered with this."""
        self.forced.append((status, {k.replace("_", "-"): v for k, v in headers.items()}, body))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeZendesk(Vendor):
    agent = "agent@acme.test"
    token = "zd-api-token-1234"
    fields = {"subject", "comment", "requester", "tags", "external_id"}

    def __init__(self) -> None:
        super().__init__()
        self.tickets: dict[int, dict] = {}
        self.keys: dict[str, int] = {}

    def route(self, r: Seen) -> Reply:
        assert (r.method, r.path) == ("POST", "/api/v2/tickets.json")
        if r.basic() != (f"{self.agent}/token", self.token):
            return 401, {}, {"error": "Couldn't authenticate you"}
        ticket = r.json["ticket"]
        assert set(ticket) <= self.fields, set(ticket) - self.fields
        assert isinstance(ticket["subject"], str) and ticket["subject"]
        assert isinstance(ticket["comment"]["body"], str) and ticket["comment"]["body"]
        assert ticket["comment"]["public"] is False
        assert "@" in ticket["requester"]["email"] and ticket["requester"]["name"]
        assert all(isinstance(t, str) and t and not re.search(r"\s", t) for t in ticket["tags"])
        key = r.headers["Idempotency-Key"]
        if key in self.keys:
            ticket_id = self.keys[key]
            return 201, {"x-idempotency-lookup": "hit"}, {"ticket": self.tickets[ticket_id]}
        ticket_id = 1000 + len(self.tickets)
        self.tickets[ticket_id] = {"id": ticket_id, "status": "new", **ticket}
        self.keys[key] = ticket_id
        return 201, {"x-idempotency-lookup": "miss"}, {"ticket": self.tickets[ticket_id]}


class FakeFreshdesk(Vendor):
    api_key = "fd-api-key-5678"
    fields = {"email", "name", "subject", "description", "status", "priority", "tags"}

    def __init__(self) -> None:
        super().__init__()
        self.tickets: dict[int, dict] = {}

    def route(self, r: Seen) -> Reply:
        assert (r.method, r.path) == ("POST", "/api/v2/tickets")
        if r.basic() != (self.api_key, "X"):
            return 401, {}, {"code": "invalid_credentials", "message": "You have to be logged in"}
        ticket = r.json
        assert set(ticket) <= self.fields, set(ticket) - self.fields
        assert "@" in ticket["email"]
        assert ticket["subject"] and ticket["description"]
        assert ticket["status"] in (2, 3, 4, 5) and ticket["priority"] in (1, 2, 3, 4)
        assert all(isinstance(t, str) and 0 < len(t) <= 32 for t in ticket["tags"])
        ticket_id = 50 + len(self.tickets)
        self.tickets[ticket_id] = {"id": ticket_id, **ticket}
        return 201, {"Location": f"{self.url}/api/v2/tickets/{ticket_id}"}, self.tickets[ticket_id]


SOQL_CONTACT = re.compile(
    r"SELECT Id FROM Contact WHERE Email = '((?:[^'\\]|\\.)*)' "
    r"ORDER BY LastModifiedDate DESC LIMIT 1"
)
SOQL_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


class FakeSalesforce(Vendor):
    client_id = "3MVG9-consumer-key"
    client_secret = "sf-consumer-secret-9012"
    case_fields = {"Subject", "Description", "Origin", "SuppliedEmail", "SuppliedName"}
    data = "/services/data/v62.0"

    def __init__(self) -> None:
        super().__init__()
        self.issued: list[str] = []
        self.valid: set[str] = set()
        self.cases: dict[str, dict] = {}
        self.contacts: dict[str, dict] = {}
        self.numbers = itertools.count(1)

    def add_contact(self, email: str) -> str:
        contact_id = f"003{next(self.numbers):015d}"
        self.contacts[contact_id] = {"Id": contact_id, "Email": email}
        return contact_id

    def route(self, r: Seen) -> Reply:
        if r.path == "/services/oauth2/token":
            assert r.method == "POST"
            form = r.form
            assert form["grant_type"] == "client_credentials"
            if (form["client_id"], form["client_secret"]) != (self.client_id, self.client_secret):
                return 400, {}, {"error": "invalid_client", "error_description": "invalid client"}
            token = f"00Dtest!token-{len(self.issued) + 1}"
            self.issued.append(token)
            self.valid.add(token)
            return (
                200,
                {},
                {
                    "access_token": token,
                    "signature": "c2lnbmF0dXJl",
                    "scope": "api",
                    "instance_url": self.url,
                    "id": f"{self.url}/id/00Dxx0000000001/005xx0000000001",
                    "token_type": "Bearer",
                    "issued_at": str(int(timezone.now().timestamp() * 1000)),
                },
            )
        assert r.path.startswith(self.data + "/"), r.path
        scheme, _, token = r.headers.get("Authorization", "").partition(" ")
        assert scheme == "Bearer"
        if token not in self.valid:
            return (
                401,
                {},
                [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
            )
        path = r.path.removeprefix(self.data)
        if (r.method, path) == ("POST", "/sobjects/Case"):
            case = r.json
            assert set(case) <= self.case_fields, set(case) - self.case_fields
            assert case["Subject"] and case["Description"] and case["Origin"] == "npsloop"
            assert len(case["Subject"]) <= 255
            case_id = f"500{next(self.numbers):015d}"
            self.cases[case_id] = case
            return 201, {}, {"id": case_id, "success": True, "errors": []}
        if (r.method, path) == ("GET", "/query"):
            match = SOQL_CONTACT.fullmatch(r.query["q"][0])
            assert match, r.query["q"][0]
            email = re.sub(r"\\(.)", lambda m: SOQL_ESCAPES.get(m[1], m[1]), match[1])
            found = [
                {
                    "attributes": {
                        "type": "Contact",
                        "url": f"{self.data}/sobjects/Contact/{c['Id']}",
                    }
                }
                | {"Id": c["Id"]}
                for c in self.contacts.values()
                if c["Email"].lower() == email.lower()
            ][:1]
            return 200, {}, {"totalSize": len(found), "done": True, "records": found}
        if r.method == "PATCH" and path.startswith("/sobjects/Contact/"):
            contact_id = path.rsplit("/", 1)[1]
            if contact_id not in self.contacts:
                return 404, {}, [{"errorCode": "NOT_FOUND", "message": "not found"}]
            self.contacts[contact_id].update(r.json)
            return 204, {}, None
        raise AssertionError(f"unexpected {r.method} {r.path}")


class FakeEmarsys(Vendor):
    username = "acme001"
    secret = "em-api-secret-3456"
    field_ids = {1: "First Name", 3: "Email", 5001: "NPS score", 5002: "NPS comment"}

    def __init__(self) -> None:
        super().__init__()
        self.nonces: set[str] = set()
        self.contacts: dict[str, dict] = {}
        self.field_ids = {**self.field_ids, 5003: "NPS date"}

    def authenticated(self, r: Seen) -> bool:
        header = r.headers["X-WSSE"]
        assert header.startswith("UsernameToken ")
        parts = dict(re.findall(r'(\w+)="([^"]*)"', header))
        assert set(parts) == {"Username", "PasswordDigest", "Nonce", "Created"}, parts
        created = dt.datetime.strptime(parts["Created"], "%Y-%m-%dT%H:%M:%SZ")
        assert abs(dt.datetime.now(dt.UTC) - created.replace(tzinfo=dt.UTC)).total_seconds() < 300
        assert parts["Nonce"] not in self.nonces, "a nonce may be used once"
        self.nonces.add(parts["Nonce"])
        hex_digest = hashlib.sha1(  # noqa: S324
            (parts["Nonce"] + parts["Created"] + self.secret).encode()
        ).hexdigest()
        expected = base64.b64encode(hex_digest.encode()).decode()
        return parts["Username"] == self.username and parts["PasswordDigest"] == expected

    def route(self, r: Seen) -> Reply:
        if not self.authenticated(r):
            return 401, {}, {"replyCode": 1, "replyText": "Unauthorized", "data": ""}
        if (r.method, r.path) == ("GET", "/api/v2/field"):
            data = [
                {"id": i, "name": n, "application_type": "shorttext"}
                for i, n in self.field_ids.items()
            ]
            return 200, {}, {"replyCode": 0, "replyText": "OK", "data": data}
        assert (r.method, r.path) == ("PUT", "/api/v2/contact/")
        assert r.query == {"create_if_not_exists": ["1"]}
        body = r.json
        assert body["key_id"] == "3"
        (contact,) = body["contacts"]
        assert "@" in contact["3"]
        assert {int(k) for k in contact} <= set(self.field_ids), contact
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", contact["5003"])
        self.contacts[contact["3"]] = contact
        return 200, {}, {"replyCode": 0, "replyText": "OK", "data": {"ids": [len(self.contacts)]}}


# --- fixtures and helpers ------------------------------------------------------------


@pytest.fixture
def allow_loopback(settings):
    # The SSRF guard refuses loopback; the tests allow it, as an operator would.
    settings.NPSLOOP_OUTBOUND_ALLOW = ["127.0.0.1/32"]
    settings.NPSLOOP_OUTBOUND_TIMEOUT = 2.0
    cache.clear()
    yield
    cache.clear()


def _vendor(cls: type[Vendor]):
    vendor = cls()
    yield vendor
    vendor.stop()
    assert vendor.problems == []


@pytest.fixture
def zd(allow_loopback):
    yield from _vendor(FakeZendesk)


@pytest.fixture
def fd(allow_loopback):
    yield from _vendor(FakeFreshdesk)


@pytest.fixture
def sf(allow_loopback):
    yield from _vendor(FakeSalesforce)


@pytest.fixture
def em(allow_loopback):
    yield from _vendor(FakeEmarsys)


def respond(survey, contact, score: int, comment: str = "") -> Response:
    invitation = schedule_invitation(survey=survey, contact=contact, source=Invitation.Source.API)
    Invitation.objects.filter(pk=invitation.pk).update(state=Invitation.State.SENT)
    return record_rating(invitation=invitation, score=score, comment=comment or None)


def make_channel(org, kind: str, url: str, secret: str, **config) -> Channel:
    return Channel.objects.create(
        organization=org.organization,
        kind=kind,
        name=f"{kind} test",
        url=url,
        config=config,
        secret=secret,
        created_by=org.user,
    )


def zendesk_channel(org, vendor: FakeZendesk, token: str | None = None) -> Channel:
    return make_channel(
        org, "zendesk", vendor.url + "/", token or vendor.token, email=vendor.agent, tags=["vip"]
    )


def freshdesk_channel(org, vendor: FakeFreshdesk, key: str | None = None) -> Channel:
    return make_channel(org, "freshdesk", vendor.url, key or vendor.api_key, tags=["nps loop"])


def salesforce_channel(org, vendor: FakeSalesforce, secret: str | None = None, **config):
    return make_channel(
        org,
        "salesforce",
        vendor.url,
        secret or vendor.client_secret,
        client_id=vendor.client_id,
        **config,
    )


def emarsys_channel(org, vendor: FakeEmarsys, secret: str | None = None, **config) -> Channel:
    fields = {"score_field": "5001", "comment_field": "5002", "date_field": "5003"}
    config = {"username": vendor.username, **fields, **config}
    return make_channel(org, "emarsys", vendor.url, secret or vendor.secret, **config)


_events = itertools.count(1)


def delivery_for(channel: Channel, response: Response | None = None) -> Delivery:
    if response is None:
        payload = payloads.test_event(channel.organization.name, timezone.now())
    else:
        fresh = Response.objects.select_related("contact", "survey").get(pk=response.pk)
        payload = payloads.response_event(payloads.RESPONSE_CREATED, fresh)
    return Delivery.objects.create(
        organization=channel.organization,
        channel=channel,
        response=response,
        event_id=payloads.event_id(channel.pk, payload["type"], next(_events)),
        event_type=payload["type"],
        payload=payload,
        is_test=response is None,
        next_attempt_at=timezone.now(),
    )


def fails(send: Callable, channel: Channel, delivery: Delivery) -> ChannelError:
    with pytest.raises(ChannelError) as caught:
        send(channel, delivery)
    assert channel.secret not in str(caught.value)
    return caught.value


@pytest.fixture
def anonymous(survey, contact):
    """A response whose person was erased: no email to attach it to."""
    response = respond(survey, contact, 2, "Nobody answers.")
    contact.delete()
    return response


# --- Zendesk -------------------------------------------------------------------------


def test_zendesk_creates_a_ticket_requested_by_the_customer(org_a, survey, contact, zd):
    response = respond(survey, contact, 3, "The export keeps timing out.")
    channel = zendesk_channel(org_a, zd)

    outcome = zendesk.send(channel, delivery_for(channel, response))

    assert outcome.status == 201
    ((ticket_id, ticket),) = zd.tickets.items()
    assert outcome.external_url == f"{zd.url}/agent/tickets/{ticket_id}"
    assert ticket["requester"] == {"name": "Anna Schmidt", "email": "anna.schmidt@example.com"}
    assert ticket["subject"] == "NPS 3 (detractor) from Anna Schmidt – Customer NPS"
    body = ticket["comment"]["body"]
    assert "Score: 3 (detractor)" in body and "Survey: Customer NPS" in body
    assert "The export keeps timing out." in body
    assert f"/inbox/{response.pk}/" in body
    assert ticket["tags"] == ["vip", "npsloop", "nps-detractor"]
    assert ticket["external_id"] == f"npsloop-response-{response.pk}"


def test_zendesk_retry_of_the_same_delivery_opens_no_second_ticket(org_a, survey, contact, zd):
    channel = zendesk_channel(org_a, zd)
    delivery = delivery_for(channel, respond(survey, contact, 9))

    first = zendesk.send(channel, delivery)
    again = zendesk.send(channel, delivery)

    assert len(zd.tickets) == 1
    assert first.external_url == again.external_url
    assert zd.requests[0].headers["Idempotency-Key"] == delivery.event_id


def test_zendesk_wrong_token_is_not_retried(org_a, survey, contact, zd):
    channel = zendesk_channel(org_a, zd, token="not-the-token")

    error = fails(zendesk.send, channel, delivery_for(channel, respond(survey, contact, 5)))

    assert error.status == 401 and not error.retryable
    assert zd.tickets == {}


def test_zendesk_rate_limit_is_retried_after_retry_after(org_a, survey, contact, zd):
    channel = zendesk_channel(org_a, zd)
    zd.answer_next(429, {"error": "APIRateLimitExceeded"}, Retry_After="37")

    error = fails(zendesk.send, channel, delivery_for(channel, respond(survey, contact, 5)))

    assert error.status == 429 and error.retryable and error.retry_after == 37.0


def test_zendesk_server_error_is_retried(org_a, survey, contact, zd):
    channel = zendesk_channel(org_a, zd)
    zd.answer_next(503, {"error": "Service Unavailable"})

    error = fails(zendesk.send, channel, delivery_for(channel, respond(survey, contact, 5)))

    assert error.status == 503 and error.retryable


def test_zendesk_without_email_is_not_sent(org_a, anonymous, zd):
    channel = zendesk_channel(org_a, zd)

    error = fails(zendesk.send, channel, delivery_for(channel, anonymous))

    assert "no email address" in str(error) and not error.retryable
    assert zd.requests == []


def test_zendesk_test_event_makes_a_marked_ticket(org_a, zd):
    channel = zendesk_channel(org_a, zd)

    outcome = zendesk.send(channel, delivery_for(channel))

    (ticket,) = zd.tickets.values()
    assert ticket["subject"].startswith("[Test] NPS 10 (promoter) from Test Person")
    assert ticket["requester"]["email"] == "test@example.com"
    assert outcome.external_url.startswith(f"{zd.url}/agent/tickets/")


def test_zendesk_through_the_delivery_job_keeps_the_ticket_on_the_response(
    org_a, survey, contact, zd
):
    response = respond(survey, contact, 1, "Cancel my plan.")
    channel = zendesk_channel(org_a, zd)
    delivery = delivery_for(channel, response)

    assert services.send_delivery(delivery.pk) == "delivered"

    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.DELIVERED and delivery.last_status == 201
    assert delivery.external_url.startswith(f"{zd.url}/agent/tickets/")
    event = ResponseEvent.objects.get(response=response, kind="ticket")
    assert event.detail == f"Zendesk: {delivery.external_url}"


# --- Freshdesk -----------------------------------------------------------------------


def test_freshdesk_creates_a_ticket(org_a, survey, contact, fd):
    response = respond(survey, contact, 4, "Too slow.")
    channel = freshdesk_channel(org_a, fd)

    outcome = freshdesk.send(channel, delivery_for(channel, response))

    ((ticket_id, ticket),) = fd.tickets.items()
    assert outcome.status == 201
    assert outcome.external_url == f"{fd.url}/a/tickets/{ticket_id}"
    assert ticket["email"] == "anna.schmidt@example.com" and ticket["name"] == "Anna Schmidt"
    assert ticket["status"] == 2 and ticket["priority"] == 2  # a detractor: Medium
    assert ticket["tags"] == ["nps_loop", "npsloop", "nps-detractor"]
    assert "<strong>Score:</strong> 4 (detractor)" in ticket["description"]
    assert f'href="http://testserver/inbox/{response.pk}/"' in ticket["description"]


def test_freshdesk_promoter_is_low_priority(org_a, survey, contact, fd):
    channel = freshdesk_channel(org_a, fd)

    freshdesk.send(channel, delivery_for(channel, respond(survey, contact, 10)))

    (ticket,) = fd.tickets.values()
    assert ticket["priority"] == 1 and "nps-promoter" in ticket["tags"]


def test_freshdesk_escapes_html_in_the_description(org_a, survey, fd):
    person, _ = upsert_contact(
        organization=org_a.organization,
        email="mallory@example.com",
        first_name="<img src=x onerror=alert(1)>",
    )
    comment = '<script>alert("x")</script> & <b>bold</b>\nsecond line'
    channel = freshdesk_channel(org_a, fd)

    freshdesk.send(channel, delivery_for(channel, respond(survey, person, 0, comment)))

    (ticket,) = fd.tickets.values()
    description = ticket["description"]
    assert "<script" not in description and "<img" not in description and "<b>" not in description
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold" in description
    assert "&lt;img src=x onerror=alert(1)&gt;" in description
    assert "&lt;/b&gt;<br>second line" in description


def test_freshdesk_wrong_key_is_not_retried(org_a, survey, contact, fd):
    channel = freshdesk_channel(org_a, fd, key="wrong-key")

    error = fails(freshdesk.send, channel, delivery_for(channel, respond(survey, contact, 5)))

    assert error.status == 401 and not error.retryable
    assert fd.tickets == {}


def test_freshdesk_rate_limit_and_server_errors_are_retried(org_a, survey, contact, fd):
    channel = freshdesk_channel(org_a, fd)
    delivery = delivery_for(channel, respond(survey, contact, 5))
    fd.answer_next(429, {"message": "rate limited"}, Retry_After="60")
    fd.answer_next(500, {"message": "oops"})

    limited = fails(freshdesk.send, channel, delivery)
    broken = fails(freshdesk.send, channel, delivery)

    assert limited.retryable and limited.retry_after == 60.0 and limited.status == 429
    assert broken.retryable and broken.status == 500


def test_freshdesk_validation_error_is_not_retried(org_a, survey, contact, fd):
    channel = freshdesk_channel(org_a, fd)
    fd.answer_next(
        400,
        {
            "description": "Validation failed",
            "errors": [{"field": "email", "message": "Invalid email", "code": "invalid_value"}],
        },
    )

    error = fails(freshdesk.send, channel, delivery_for(channel, respond(survey, contact, 5)))

    assert error.status == 400 and not error.retryable and "Validation failed" in str(error)


def test_freshdesk_without_email_is_not_sent(org_a, anonymous, fd):
    channel = freshdesk_channel(org_a, fd)

    error = fails(freshdesk.send, channel, delivery_for(channel, anonymous))

    assert not error.retryable and fd.requests == []


# --- Salesforce ----------------------------------------------------------------------


def test_salesforce_creates_a_case_with_a_client_credentials_token(org_a, survey, contact, sf):
    response = respond(survey, contact, 6, "Support took a week.")
    channel = salesforce_channel(org_a, sf)

    outcome = salesforce.send(channel, delivery_for(channel, response))

    ((case_id, case),) = sf.cases.items()
    assert outcome.status == 201 and outcome.external_url == f"{sf.url}/{case_id}"
    assert case["SuppliedEmail"] == "anna.schmidt@example.com"
    assert case["SuppliedName"] == "Anna Schmidt"
    assert case["Subject"] == "NPS 6 (detractor) from Anna Schmidt – Customer NPS"
    assert "Support took a week." in case["Description"]
    assert [r.path for r in sf.requests] == ["/services/oauth2/token", f"{sf.data}/sobjects/Case"]


def test_salesforce_token_is_cached_per_credentials(org_a, survey, contact, sf):
    channel = salesforce_channel(org_a, sf)

    for score in (7, 8, 9):
        salesforce.send(channel, delivery_for(channel, respond(survey, contact, score)))

    assert len(sf.issued) == 1 and len(sf.cases) == 3
    # A changed secret is a different key: never the old token for new credentials.
    channel.secret = "rotated-secret"
    error = fails(salesforce.send, channel, delivery_for(channel, respond(survey, contact, 9)))
    assert error.status == 400 and not error.retryable and "invalid_client" in str(error)


def test_salesforce_expired_token_is_renewed_once(org_a, survey, contact, sf):
    channel = salesforce_channel(org_a, sf)
    salesforce.send(channel, delivery_for(channel, respond(survey, contact, 8)))
    sf.valid.clear()  # the session timed out at Salesforce

    outcome = salesforce.send(channel, delivery_for(channel, respond(survey, contact, 2)))

    assert len(sf.issued) == 2 and len(sf.cases) == 2
    assert outcome.external_url.startswith(sf.url + "/500")
    case_calls = [r for r in sf.requests if r.path.endswith("/sobjects/Case")]
    assert [r.headers["Authorization"] for r in case_calls] == [
        f"Bearer {sf.issued[0]}",
        f"Bearer {sf.issued[0]}",
        f"Bearer {sf.issued[1]}",
    ]


def test_salesforce_401_after_a_new_token_is_not_retried_again(org_a, survey, contact, sf):
    channel = salesforce_channel(org_a, sf)
    delivery = delivery_for(channel, respond(survey, contact, 5))
    unauthorized = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    sf.answer_next(200, {"access_token": "t1", "instance_url": sf.url})  # the token
    sf.answer_next(401, unauthorized)  # the case
    sf.answer_next(200, {"access_token": "t2", "instance_url": sf.url})  # the new token
    sf.answer_next(401, unauthorized)  # the case again

    error = fails(salesforce.send, channel, delivery)

    assert error.status == 401 and not error.retryable
    assert [r.path.rsplit("/", 1)[1] for r in sf.requests] == ["token", "Case", "token", "Case"]
    assert sf.cases == {}


def test_salesforce_api_limit_is_retried_later(org_a, survey, contact, sf):
    channel = salesforce_channel(org_a, sf)
    delivery = delivery_for(channel, respond(survey, contact, 5))
    sf.answer_next(200, {"access_token": "t1", "instance_url": sf.url})
    sf.answer_next(
        403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    )

    error = fails(salesforce.send, channel, delivery)

    assert error.status == 403 and error.retryable and error.retry_after == 3600.0


def test_salesforce_rate_limit_and_outage_are_retried(org_a, survey, contact, sf):
    channel = salesforce_channel(org_a, sf)
    delivery = delivery_for(channel, respond(survey, contact, 5))
    sf.answer_next(429, {"error": "slow down"}, Retry_After="5")
    sf.answer_next(503, {"error": "maintenance"})

    limited = fails(salesforce.send, channel, delivery)
    down = fails(salesforce.send, channel, delivery)

    assert limited.retryable and limited.retry_after == 5.0
    assert down.retryable and down.status == 503


def test_salesforce_contact_mode_writes_score_comment_and_date(org_a, survey, contact, sf):
    contact_id = sf.add_contact("Anna.Schmidt@example.com")
    sf.add_contact("someone.else@example.com")
    channel = salesforce_channel(
        org_a,
        sf,
        mode="contact",
        score_field="NPS_Score__c",
        comment_field="NPS_Comment__c",
        date_field="NPS_Date__c",
    )
    response = respond(survey, contact, 9, "Great onboarding.")

    outcome = salesforce.send(channel, delivery_for(channel, response))

    assert outcome.status == 204 and outcome.external_url == f"{sf.url}/{contact_id}"
    assert sf.contacts[contact_id] == {
        "Id": contact_id,
        "Email": "Anna.Schmidt@example.com",
        "NPS_Score__c": 9,
        "NPS_Comment__c": "Great onboarding.",
        "NPS_Date__c": timezone.now().astimezone(dt.UTC).date().isoformat(),
    }
    assert sf.cases == {}


def test_salesforce_contact_query_escapes_the_email(org_a, survey, sf):
    person, _ = upsert_contact(organization=org_a.organization, email="o'brien@example.com")
    contact_id = sf.add_contact("o'brien@example.com")
    channel = salesforce_channel(org_a, sf, mode="contact", score_field="NPS_Score__c")

    salesforce.send(channel, delivery_for(channel, respond(survey, person, 7)))

    (query,) = [r for r in sf.requests if r.path.endswith("/query")]
    assert "Email = 'o\\'brien@example.com'" in query.query["q"][0]
    assert sf.contacts[contact_id]["NPS_Score__c"] == 7
    assert salesforce.soql_quote("a\\b'c\"d\ne") == "'a\\\\b\\'c\\\"d\\ne'"


def test_salesforce_contact_mode_without_a_contact_is_not_retried(org_a, survey, contact, sf):
    channel = salesforce_channel(org_a, sf, mode="contact", score_field="NPS_Score__c")

    error = fails(salesforce.send, channel, delivery_for(channel, respond(survey, contact, 7)))

    assert not error.retryable and "no Contact" in str(error)
    assert not any(r.method == "PATCH" for r in sf.requests)


def test_salesforce_contact_mode_without_email_is_not_sent(org_a, anonymous, sf):
    channel = salesforce_channel(org_a, sf, mode="contact", score_field="NPS_Score__c")

    error = fails(salesforce.send, channel, delivery_for(channel, anonymous))

    assert "no email address" in str(error) and not error.retryable
    assert sf.requests == []


def test_salesforce_case_without_email_still_carries_the_feedback(org_a, anonymous, sf):
    channel = salesforce_channel(org_a, sf)

    outcome = salesforce.send(channel, delivery_for(channel, anonymous))

    (case,) = sf.cases.values()
    assert "SuppliedEmail" not in case and "Nobody answers." in case["Description"]
    assert outcome.external_url.startswith(sf.url + "/500")


def test_salesforce_contact_mode_test_event_changes_nothing(org_a, sf):
    channel = salesforce_channel(org_a, sf, mode="contact", score_field="NPS_Score__c")

    outcome = salesforce.send(channel, delivery_for(channel))

    assert outcome.status == 200 and outcome.external_url == ""
    assert [r.method for r in sf.requests] == ["POST", "GET"]


# --- Emarsys -------------------------------------------------------------------------


def test_emarsys_writes_the_latest_feedback_into_contact_fields(org_a, survey, contact, em):
    channel = emarsys_channel(org_a, em)

    outcome = emarsys.send(channel, delivery_for(channel, respond(survey, contact, 8, "Fine.")))

    assert outcome.status == 200
    assert em.contacts == {
        "anna.schmidt@example.com": {
            "3": "anna.schmidt@example.com",
            "5001": 8,
            "5002": "Fine.",
            "5003": timezone.now().astimezone(dt.UTC).date().isoformat(),
        }
    }


def test_emarsys_wsse_digest_is_base64_of_the_hex_sha1():
    header = emarsys.wsse_header(
        "acme001",
        "secret",
        nonce="d36e316282959a9ed4c89851497a717f",
        created="2024-05-06T07:08:09Z",
    )
    # printf %s NONCE+CREATED+SECRET | sha1sum | (the 40 hex digits) | base64
    assert header == (
        'UsernameToken Username="acme001", '
        'PasswordDigest="YWY2YmU0NzkzNDU3MzMyNmEzODQxNDg5ZDk1ZjI3ZDdkNGM2ZDA3Mw==", '
        'Nonce="d36e316282959a9ed4c89851497a717f", Created="2024-05-06T07:08:09Z"'
    )


def test_emarsys_wrong_secret_is_not_retried(org_a, survey, contact, em):
    channel = emarsys_channel(org_a, em, secret="wrong-secret")

    error = fails(emarsys.send, channel, delivery_for(channel, respond(survey, contact, 8)))

    assert error.status == 401 and not error.retryable and em.contacts == {}


def test_emarsys_reply_code_is_a_failure_even_with_http_200(org_a, survey, contact, em):
    channel = emarsys_channel(org_a, em)
    em.answer_next(200, {"replyCode": 2004, "replyText": "Invalid key field id: 3", "data": ""})

    error = fails(emarsys.send, channel, delivery_for(channel, respond(survey, contact, 8)))

    assert not error.retryable and "2004" in str(error) and "Invalid key field id" in str(error)


def test_emarsys_contact_errors_in_data_are_a_failure(org_a, survey, contact, em):
    channel = emarsys_channel(org_a, em)
    em.answer_next(
        200,
        {
            "replyCode": 0,
            "replyText": "OK",
            "data": {
                "ids": [],
                "errors": {"anna.schmidt@example.com": {"2010": "More contacts found"}},
            },
        },
    )

    error = fails(emarsys.send, channel, delivery_for(channel, respond(survey, contact, 8)))

    assert not error.retryable and "2010: More contacts found" in str(error)


def test_emarsys_rate_limit_and_outage_are_retried(org_a, survey, contact, em):
    channel = emarsys_channel(org_a, em)
    delivery = delivery_for(channel, respond(survey, contact, 8))
    em.answer_next(429, {"replyCode": 1, "replyText": "Too many requests"}, Retry_After="12")
    em.answer_next(502, None)

    limited = fails(emarsys.send, channel, delivery)
    down = fails(emarsys.send, channel, delivery)

    assert limited.retryable and limited.retry_after == 12.0
    assert down.retryable and down.status == 502


def test_emarsys_without_email_is_not_sent(org_a, anonymous, em):
    channel = emarsys_channel(org_a, em)

    error = fails(emarsys.send, channel, delivery_for(channel, anonymous))

    assert "no email address" in str(error) and not error.retryable and em.requests == []


def test_emarsys_test_event_checks_the_fields_and_writes_nothing(org_a, em):
    good = emarsys_channel(org_a, em)
    bad = emarsys_channel(org_a, em, date_field="9999")

    assert emarsys.send(good, delivery_for(good)).status == 200
    error = fails(emarsys.send, bad, delivery_for(bad))

    assert not error.retryable and "9999" in str(error)
    assert em.contacts == {} and {r.method for r in em.requests} == {"GET"}


# --- all four ------------------------------------------------------------------------


MODULES = {"zendesk": zendesk, "freshdesk": freshdesk, "salesforce": salesforce, "emarsys": emarsys}


@pytest.mark.parametrize("kind", MODULES)
def test_private_addresses_are_refused_without_the_operators_allow_list(
    kind, org_a, survey, contact, settings, zd, fd, sf, em
):
    vendor, build, module = {
        "zendesk": (zd, zendesk_channel, zendesk),
        "freshdesk": (fd, freshdesk_channel, freshdesk),
        "salesforce": (sf, salesforce_channel, salesforce),
        "emarsys": (em, emarsys_channel, emarsys),
    }[kind]
    channel = build(org_a, vendor)
    settings.NPSLOOP_OUTBOUND_ALLOW = []

    error = fails(module.send, channel, delivery_for(channel, respond(survey, contact, 3)))

    assert not error.retryable and "127.0.0.1" in str(error)
    assert vendor.requests == []


@pytest.mark.parametrize("kind", MODULES)
def test_events_without_a_response_are_refused(kind, org_a, contact, allow_loopback):
    channel = make_channel(org_a, kind, "https://example.invalid", "secret", username="u")
    delivery = Delivery.objects.create(
        organization=org_a.organization,
        channel=channel,
        event_id="msg_unsubscribed",
        event_type=payloads.PERSON_UNSUBSCRIBED,
        payload=payloads.unsubscribed_event(contact),
        next_attempt_at=timezone.now(),
    )
    module = MODULES[kind]

    error = fails(module.send, channel, delivery)

    assert not error.retryable
