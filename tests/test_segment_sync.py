"""Segment back-sync, against a real HTTP receiver standing in for api.segment.io."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from npsloop.contacts.models import Contact
from npsloop.contacts.services import upsert_contact
from npsloop.invitations.services import schedule_invitation
from npsloop.responses.models import Response
from npsloop.responses.services import record_rating
from npsloop.segment_sync import services, tasks
from npsloop.segment_sync.models import SegmentSync
from npsloop.surveys.models import Survey
from npsloop.surveys.services import create_survey
from npsloop.web import backoff
from tests.smtp import free_port


@dataclass
class Posted:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def write_key_from_auth(self) -> str:
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        assert scheme == "Basic"
        return base64.b64decode(encoded).decode().partition(":")[0]


@dataclass
class SegmentReceiver:
    """Records each POST; answers 200 unless told otherwise by `fail_next`."""

    posts: list[Posted] = field(default_factory=list)
    replies: list[tuple[int, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    delay: float = 0.0

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                receiver.posts.append(Posted(self.path, dict(self.headers), json.loads(raw)))
                time.sleep(receiver.delay)
                status, headers, body = (
                    receiver.replies.pop(0) if receiver.replies else (200, {}, {"success": True})
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, status: int, body: dict[str, Any] | None = None, **headers: str) -> None:
        self.replies.append((status, headers, body or {}))

    @property
    def identifies(self) -> list[dict[str, Any]]:
        return [msg for post in self.posts for msg in post.body["batch"]]


@pytest.fixture
def segment(settings):
    receiver = SegmentReceiver()
    settings.NPSLOOP_SEGMENT_HOST = receiver.url
    settings.NPSLOOP_SEGMENT_TIMEOUT = 2
    yield receiver
    receiver.stop()


def _invitation(
    org,
    *,
    write_key: str = "wk_test",
    prefix: str | None = None,
    external_id: str = "user-42",
    anonymous_id: str = "",
):
    extra = {"trait_prefix": prefix} if prefix is not None else {}
    survey, _key = create_survey(
        organization=org.organization, name="NPS", segment_write_key=write_key, **extra
    )
    contact, _ = upsert_contact(
        organization=org.organization, email="anna@example.com", external_id=external_id
    )
    if anonymous_id:
        Contact.objects.filter(pk=contact.pk).update(anonymous_id=anonymous_id)
    # Far in the future, so no invitation email is sent during the test.
    return schedule_invitation(
        survey=survey,
        contact=contact,
        source="manual",
        send_at=timezone.now() + dt.timedelta(days=30),
    )


def _rate(capture, invitation, score: int, comment: str | None = None) -> Response:
    with capture(execute=True):
        return record_rating(invitation=invitation, score=score, comment=comment)


def _due_now(sync: SegmentSync) -> None:
    SegmentSync.objects.filter(pk=sync.pk).update(next_attempt_at=timezone.now())


def _is_iso(value: str) -> bool:
    return dt.datetime.fromisoformat(value).tzinfo is not None


def test_rating_then_comment_identify_the_user(org_a, segment, django_capture_on_commit_callbacks):
    invitation = _invitation(org_a)
    _rate(django_capture_on_commit_callbacks, invitation, 9)

    assert len(segment.posts) == 1
    post = segment.posts[0]
    assert post.path == "/v1/batch"
    assert post.write_key_from_auth == "wk_test"
    assert post.body["writeKey"] == "wk_test"
    (first,) = post.body["batch"]
    assert first["type"] == "identify"
    assert first["userId"] == "user-42"
    assert first.get("anonymousId") is None
    assert first["traits"]["NPS_rating"] == 9
    assert first["traits"]["NPS_comment"] == ""
    assert _is_iso(first["traits"]["NPS_date"])
    assert first["messageId"].startswith("npsloop-sync-")
    sync = SegmentSync.objects.get()
    assert (sync.state, sync.attempts, sync.last_error) == ("sent", 1, "")
    assert sync.payload == first["traits"]
    assert sync.message_id == first["messageId"]

    _rate(django_capture_on_commit_callbacks, invitation, 9, comment="Great support")

    assert len(segment.identifies) == 2
    second = segment.identifies[1]
    assert second["userId"] == "user-42"
    assert second["traits"]["NPS_comment"] == "Great support"
    assert second["traits"]["NPS_rating"] == 9
    assert second["messageId"] != first["messageId"]
    assert list(SegmentSync.objects.values_list("state", flat=True)) == ["sent", "sent"]


def test_callexa_prefix_and_anonymous_id(org_a, segment, django_capture_on_commit_callbacks):
    invitation = _invitation(org_a, prefix="callexa_", external_id="", anonymous_id="anon-7")
    _rate(django_capture_on_commit_callbacks, invitation, 3, comment="Too slow")

    (msg,) = segment.identifies
    assert msg["anonymousId"] == "anon-7"
    assert msg.get("userId") is None
    assert set(msg["traits"]) == {"callexa_rating", "callexa_comment", "callexa_date"}
    assert msg["traits"]["callexa_rating"] == 3
    assert msg["traits"]["callexa_comment"] == "Too slow"
    assert _is_iso(msg["traits"]["callexa_date"])


def test_contact_without_segment_ids_is_identified_by_email(
    org_a, segment, django_capture_on_commit_callbacks
):
    invitation = _invitation(org_a, external_id="")
    _rate(django_capture_on_commit_callbacks, invitation, 10)

    (msg,) = segment.identifies
    assert msg["userId"] == "anna@example.com"


def test_no_write_key_no_request_no_row(org_a, segment, django_capture_on_commit_callbacks):
    invitation = _invitation(org_a, write_key="")
    _rate(django_capture_on_commit_callbacks, invitation, 7, comment="ok")

    assert segment.posts == []
    assert not SegmentSync.objects.exists()


def test_segment_down_retries_later_then_sends(org_a, segment, django_capture_on_commit_callbacks):
    invitation = _invitation(org_a)
    segment.fail_next(
        503, {"code": "unavailable", "message": "try later"}, **{"Retry-After": "120"}
    )
    before = timezone.now()
    response = _rate(django_capture_on_commit_callbacks, invitation, 9)

    # The rating itself is saved whatever Segment does.
    assert Response.objects.get(pk=response.pk).score == 9
    sync = SegmentSync.objects.get()
    assert sync.state == "scheduled"
    assert sync.attempts == 1
    assert "503" in sync.last_error
    # Backoff honours Retry-After (120 s), more than the first backoff step (~1 min).
    assert sync.next_attempt_at >= before + dt.timedelta(seconds=119)

    # Not due yet: a job that fires early does nothing.
    assert services.send_sync(sync.pk) == "not-claimed"
    assert len(segment.posts) == 1

    _due_now(sync)
    tasks.send_segment_sync_task(sync.pk)

    sync.refresh_from_db()
    assert (sync.state, sync.attempts, sync.last_error) == ("sent", 2, "")
    first, second = segment.identifies
    assert second["traits"]["NPS_rating"] == 9
    # Same content, same messageId: had the first try arrived, Segment drops the repeat.
    assert first["messageId"] == second["messageId"]


def test_changes_while_waiting_are_sent_once(org_a, segment, django_capture_on_commit_callbacks):
    invitation = _invitation(org_a)
    segment.fail_next(500)
    _rate(django_capture_on_commit_callbacks, invitation, 6)
    _rate(django_capture_on_commit_callbacks, invitation, 8)
    _rate(django_capture_on_commit_callbacks, invitation, 8, comment="Better now")

    sync = SegmentSync.objects.get()
    assert (sync.state, sync.changes) == ("scheduled", 3)
    assert len(segment.posts) == 1

    _due_now(sync)
    assert services.send_sync(sync.pk) == "sent"

    latest = segment.identifies[-1]
    assert len(segment.posts) == 2
    assert latest["traits"]["NPS_rating"] == 8
    assert latest["traits"]["NPS_comment"] == "Better now"


def test_unreachable_segment_is_retried(
    org_a, settings, segment, django_capture_on_commit_callbacks
):
    settings.NPSLOOP_SEGMENT_HOST = f"http://127.0.0.1:{free_port()}"
    invitation = _invitation(org_a)
    _rate(django_capture_on_commit_callbacks, invitation, 9)

    sync = SegmentSync.objects.get()
    assert (sync.state, sync.attempts) == ("scheduled", 1)
    assert "unreachable" in sync.last_error
    assert sync.next_attempt_at > timezone.now()

    settings.NPSLOOP_SEGMENT_HOST = segment.url
    _due_now(sync)
    assert services.send_sync(sync.pk) == "sent"
    assert len(segment.identifies) == 1


def test_rejected_request_fails_for_good(org_a, segment, django_capture_on_commit_callbacks):
    invitation = _invitation(org_a)
    segment.fail_next(400, {"code": "invalid_request", "message": "traits are invalid"})
    _rate(django_capture_on_commit_callbacks, invitation, 9)

    sync = SegmentSync.objects.get()
    assert sync.state == "failed"
    assert sync.attempts == 1
    assert "traits are invalid" in sync.last_error
    assert sync.payload["NPS_rating"] == 9
    _due_now(sync)
    assert services.send_sync(sync.pk) == "not-claimed"
    assert len(segment.posts) == 1

    # An operator can send it again once the cause is fixed.
    assert services.retry_now(sync=sync)
    sync.refresh_from_db()
    assert sync.state == "sent"
    assert len(segment.posts) == 2


def test_rate_limit_is_retried(org_a, segment, django_capture_on_commit_callbacks):
    invitation = _invitation(org_a)
    segment.fail_next(429, {"code": "rate_limited", "message": "slow down"})
    _rate(django_capture_on_commit_callbacks, invitation, 9)
    assert SegmentSync.objects.get().state == "scheduled"


def test_a_job_that_runs_twice_sends_once(org_a, segment, django_capture_on_commit_callbacks):
    invitation = _invitation(org_a)
    _rate(django_capture_on_commit_callbacks, invitation, 9)
    sync = SegmentSync.objects.get()

    assert services.send_sync(sync.pk) == "not-claimed"
    tasks.send_segment_sync_task(sync.pk)
    assert len(segment.posts) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_once(org_a, segment):
    invitation = _invitation(org_a)
    segment.fail_next(503)
    record_rating(invitation=invitation, score=9)  # commits; the job runs and gets the 503
    sync = SegmentSync.objects.get()
    assert sync.state == "scheduled"
    _due_now(sync)
    segment.delay = 0.3  # both workers are in flight while the first one sends

    outcomes: list[str] = []
    start = threading.Barrier(2)

    def worker() -> None:
        try:
            start.wait()
            outcomes.append(services.send_sync(sync.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert sorted(outcomes) == ["not-claimed", "sent"]
    assert len(segment.posts) == 2  # the 503, then exactly one send
    assert SegmentSync.objects.get().state == "sent"


def test_reconcile_returns_stale_claims_and_enqueues_lost_rows(
    org_a, settings, segment, django_capture_on_commit_callbacks
):
    settings.NPSLOOP_CLAIM_TIMEOUT_SECONDS = 60
    invitation = _invitation(org_a)
    response = _rate(django_capture_on_commit_callbacks, invitation, 9)
    assert len(segment.posts) == 1
    # A worker claimed a row and died; another row's job was lost with the queue.
    long_ago = timezone.now() - dt.timedelta(minutes=5)
    stale = SegmentSync.objects.create(
        organization=response.organization,
        survey=response.survey,
        response=response,
        state="sending",
        claimed_at=long_ago,
        attempts=1,
        next_attempt_at=long_ago,
    )
    lost = SegmentSync.objects.create(
        organization=response.organization,
        survey=response.survey,
        response=response,
        next_attempt_at=long_ago,
    )
    waiting = SegmentSync.objects.create(
        organization=response.organization,
        survey=response.survey,
        response=response,
        next_attempt_at=timezone.now() + dt.timedelta(hours=1),
    )

    dead = SegmentSync.objects.create(
        organization=response.organization,
        survey=response.survey,
        response=response,
        state="sending",
        claimed_at=long_ago,
        attempts=services.MAX_ATTEMPTS,
        next_attempt_at=long_ago,
    )

    result = services.reconcile(lost_after=dt.timedelta(0))

    assert result == {"returned": 1, "enqueued": 2}
    dead.refresh_from_db()
    assert dead.state == "failed"
    assert "worker stopped" in dead.last_error
    # Jobs run in-process in tests, so the enqueued jobs already sent them.
    states = dict(SegmentSync.objects.values_list("pk", "state"))
    assert states[stale.pk] == states[lost.pk] == "sent"
    assert states[waiting.pk] == "scheduled"
    assert len(segment.posts) == 3


def test_write_key_removed_before_sending_fails(org_a, segment, django_capture_on_commit_callbacks):
    invitation = _invitation(org_a)
    segment.fail_next(503)
    _rate(django_capture_on_commit_callbacks, invitation, 9)
    sync = SegmentSync.objects.get()
    Survey.objects.filter(pk=sync.survey_id).update(segment_write_key="")
    _due_now(sync)

    assert services.send_sync(sync.pk) == "failed"
    sync.refresh_from_db()
    assert "write key" in sync.last_error
    assert len(segment.posts) == 1


def test_a_broken_back_sync_never_breaks_the_rating(
    org_a, segment, monkeypatch, django_capture_on_commit_callbacks
):
    invitation = _invitation(org_a)

    def broken(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(services, "schedule_sync", broken)
    response = _rate(django_capture_on_commit_callbacks, invitation, 9)
    assert Response.objects.get(pk=response.pk).score == 9


def test_retry_schedule_keeps_trying_for_a_day(monkeypatch):
    monkeypatch.setattr(backoff.random, "uniform", lambda low, high: low)  # shortest jitter
    delays = [services.retry_delay(a) for a in range(1, services.MAX_ATTEMPTS)]
    assert sum(delays, dt.timedelta()) >= dt.timedelta(hours=24)
    assert delays == sorted(delays)
    assert services.retry_delay(1) == dt.timedelta(seconds=48)
    assert services.retry_delay(1, retry_after=300) == dt.timedelta(seconds=300)
    # A silly Retry-After cannot park a row for days.
    assert services.retry_delay(1, retry_after=10**9) == services.MAX_RETRY_AFTER
    monkeypatch.setattr(backoff.random, "uniform", lambda low, high: high)
    assert max(services.retry_delay(a) for a in range(1, 30)) <= dt.timedelta(hours=7.2)
