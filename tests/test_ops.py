"""Operations: health checks, request ids and JSON logs, Prometheus metrics, retention."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.utils import OperationalError
from django.utils import timezone
from huey import RedisHuey, SqliteHuey
from prometheus_client.parser import text_string_to_metric_families

from npsloop.contacts.models import Contact
from npsloop.ingest.models import IngestEvent
from npsloop.invitations.models import Decision, Invitation, InvitationEvent
from npsloop.mail.models import OutboundEmail
from npsloop.notifications.models import Attempt, Channel, Delivery
from npsloop.ops import health, jobs, retention
from npsloop.ops.logs import JsonFormatter, RequestIdFilter
from npsloop.ops.tasks import retention_task
from npsloop.responses.models import Note, Response, ResponseEvent, ShareLink
from npsloop.segment_sync.models import SegmentSync
from npsloop.web.secrets import random_token

ROOT = Path(__file__).resolve().parent.parent
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


# --- health checks -------------------------------------------------------------------


def test_healthz_answers_without_database_session_or_known_host(client):
    # No db fixture: pytest-django fails the test if anything touches the database.
    response = client.get("/healthz", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response and not response.cookies
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_ok(client):
    response = client.get("/readyz", HTTP_HOST="10.1.2.3")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["jobs"] == {"ok": True, "backend": "immediate"}


@pytest.mark.django_db
def test_readyz_counts_pending_jobs_of_a_sqlite_queue(client, monkeypatch, tmp_path):
    queue = SqliteHuey("ops-test", filename=str(tmp_path / "jobs.sqlite3"))
    task = queue.task()(lambda: None)
    task()
    task()
    monkeypatch.setattr(jobs, "get_huey", lambda: queue)
    checks = client.get("/readyz").json()["checks"]
    assert checks["jobs"]["ok"] is True
    assert checks["jobs"]["backend"] == "sqlite" and checks["jobs"]["pending"] == 2


@pytest.mark.django_db
def test_readyz_503_when_the_job_queue_is_unreachable(client, monkeypatch):
    monkeypatch.setattr(jobs, "get_huey", lambda: RedisHuey("ops-test", url=UNREACHABLE_REDIS))
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    jobs_check = body["checks"]["jobs"]
    assert jobs_check["ok"] is False
    # On this machine the reason is spelled out ...
    assert jobs_check["error"].startswith("ConnectionError") and "127.0.0.1" in jobs_check["error"]
    # ... from elsewhere only its kind (host names stay private); the log has the rest.
    remote = client.get("/readyz", REMOTE_ADDR="203.0.113.9").json()
    assert remote["checks"]["jobs"] == {"ok": False, "error": "ConnectionError"}


@pytest.mark.django_db
def test_readyz_503_when_the_database_fails(client, monkeypatch, caplog):
    class BrokenConnection:
        def cursor(self):
            raise OperationalError('connection to server at "db.internal" failed: refused')

    monkeypatch.setattr(health, "connection", BrokenConnection())
    with caplog.at_level(logging.WARNING, logger="npsloop.ops"):
        response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == {
        "ok": False,
        "error": 'OperationalError: connection to server at "db.internal" failed: refused',
    }
    assert checks["jobs"]["ok"] is True
    assert "readiness check database failed" in caplog.text


def test_readyz_never_answers_500(client, monkeypatch):
    def explode():
        raise ZeroDivisionError("surprise")

    monkeypatch.setitem(health.CHECKS, "database", explode)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["error"] == "ZeroDivisionError: surprise"


def test_a_hanging_check_times_out():
    import threading

    never = threading.Event()
    with pytest.raises(TimeoutError):
        jobs.call_with_timeout(never.wait, 0.05)
    assert jobs.call_with_timeout(lambda: 7, 1) == 7


# --- request ids and logs --------------------------------------------------------------


@pytest.fixture
def json_log():
    """The product's JSON formatter and request-id filter on a handler at the root."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_request_id_is_taken_when_sane_and_made_otherwise(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="edge-42.a_b")["X-Request-ID"] == "edge-42.a_b"
    for bad in ("x" * 101, "has space", "semi;colon", "ünï", ""):
        made = client.get("/healthz", HTTP_X_REQUEST_ID=bad)["X-Request-ID"]
        assert len(made) == 32 and int(made, 16) >= 0
    assert client.get("/healthz")["X-Request-ID"] != client.get("/healthz")["X-Request-ID"]


@pytest.mark.django_db
def test_access_line_and_every_record_carry_the_request_id(client, json_log):
    token = "eyJzZWNyZXQiOiJ0b2tlbiJ9:1abcde:SignatureSignature"
    response = client.get(
        f"/r/{token}/?utm_source=mail&score=9",
        HTTP_X_REQUEST_ID="req-1",
        HTTP_AUTHORIZATION="Bearer very-secret",
    )
    assert response.status_code == 404
    lines = json_log()
    text = "\n".join(json.dumps(line) for line in lines)
    # Nothing secret reaches the log: no link token, query string or Authorization header.
    for secret in (token, "SignatureSignature", "utm_source", "score=9", "very-secret"):
        assert secret not in text
    access = [line for line in lines if line["logger"] == "npsloop.request"]
    assert len(access) == 1
    line = access[0]
    assert line["level"] == "INFO"
    assert line["request_id"] == "req-1"
    assert line["method"] == "GET" and line["status"] == 404
    assert line["path"] == "/r/[redacted]/"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["message"].startswith("GET /r/[redacted]/ 404 ")
    assert line["time"].endswith("Z")
    assert dt.datetime.fromisoformat(line["time"]).utcoffset() == dt.timedelta(0)
    # Django's own line about the 404 has the request id too, and the token hidden.
    django_lines = [line for line in lines if line["logger"] == "django.request"]
    assert [(x["message"], x["request_id"]) for x in django_lines] == [
        ("Not Found: /r/[redacted]/", "req-1")
    ]
    assert django_lines[0]["status_code"] == 404 and "request" not in django_lines[0]


def test_health_probes_log_at_debug_only(client, json_log):
    client.get("/healthz", HTTP_X_REQUEST_ID="probe-1")
    (line,) = [x for x in json_log() if x["logger"] == "npsloop.request"]
    assert line["level"] == "DEBUG" and line["request_id"] == "probe-1"


def test_no_request_id_outside_a_request(json_log):
    logging.getLogger("npsloop.test").warning("from a job")
    (line,) = json_log()
    assert line["request_id"] is None and line["message"] == "from a job"


def test_json_formatter_writes_one_object_with_the_traceback():
    formatter = JsonFormatter()
    try:
        raise ValueError("bad value")
    except ValueError:
        record = logging.getLogger("npsloop.test").makeRecord(
            "npsloop.test",
            logging.ERROR,
            __file__,
            1,
            "failed for %s",
            ("someone",),
            sys.exc_info(),
            extra={"count": 3, "request": object(), "token": "t0ps3cret"},
        )
    line = formatter.format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed for someone" and entry["level"] == "ERROR"
    assert entry["count"] == 3
    assert "request" not in entry and "token" not in entry
    assert "ValueError: bad value" in entry["exc_info"]
    assert entry["request_id"] is None  # no filter ran: the key is still there


def test_log_format_json_from_the_environment():
    """The settings wire the formatter and the filter: LOG_FORMAT=json in a fresh process."""
    script = (
        "import django, logging; django.setup();"
        "from django.test import Client;"
        "Client().get('/healthz', HTTP_X_REQUEST_ID='sub-1');"
        "logging.getLogger('npsloop.test').info('plain record')"
    )
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "DEBUG",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert any(x["logger"] == "npsloop.request" and x["request_id"] == "sub-1" for x in lines)
    assert any(x["message"] == "plain record" and x["request_id"] is None for x in lines)
    bad = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env | {"LOG_FORMAT": "xml"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "LOG_FORMAT 'xml' is not supported" in bad.stderr


# --- metrics ----------------------------------------------------------------------------


def scrape(client, **extra) -> dict[tuple, float]:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def metric(samples: dict, name: str, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


NOW = dt.datetime(2025, 7, 31, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    return NOW


def _invite(survey, contact, state, *, send_at=NOW, **fields) -> Invitation:
    return Invitation.objects.create(
        organization=survey.organization,
        survey=survey,
        contact=contact,
        key=random_token(18),
        state=state,
        send_at=send_at,
        **fields,
    )


def _email(org, kind, status) -> OutboundEmail:
    return OutboundEmail.objects.create(
        organization=org,
        kind=kind,
        status=status,
        to="a@example.com",
        from_email="n@example.com",
        subject="s",
        raw="r",
    )


def _respond(survey, score, *, contact=None, created_at=NOW, comment="") -> Response:
    return Response.objects.create(
        organization=survey.organization,
        survey=survey,
        contact=contact,
        score=score,
        comment=comment,
        created_at=created_at,
    )


@pytest.mark.django_db
def test_metrics_count_rows_by_state(client, survey, contact, frozen_now):
    org = survey.organization
    for i, (state, age) in enumerate([("done", 0), ("done", 0), ("new", 120)]):
        IngestEvent.objects.create(
            organization=org,
            survey=survey,
            message_id=f"m{i}",
            type="identify",
            timestamp=NOW,
            received_at=NOW - dt.timedelta(seconds=age),
            payload={},
            state=state,
        )
    for outcome, reason in [("scheduled", "scheduled")] * 2 + [("skipped", "no_email")]:
        Decision.objects.create(
            organization=org, survey=survey, outcome=outcome, reason=reason, source="segment"
        )
    _invite(survey, contact, "scheduled", send_at=NOW - dt.timedelta(seconds=300))
    _invite(survey, contact, "scheduled", send_at=NOW + dt.timedelta(days=1))
    _invite(survey, contact, "sent")
    _invite(survey, contact, "sent")
    _invite(survey, contact, "failed")
    for kind, status in [("invitation", "sent")] * 2 + [("invitation", "failed")]:
        _email(org, kind, status)
    _email(org, "reply", "outbox")
    channel = Channel.objects.create(organization=org, kind="webhook", name="hook")
    for i, (state, tries) in enumerate([("delivered", 1), ("failed", 3), ("scheduled", 0)]):
        delivery = Delivery.objects.create(
            organization=org,
            channel=channel,
            event_id=f"e{i}",
            event_type="response.created",
            state=state,
            attempts=tries,
            next_attempt_at=NOW - dt.timedelta(seconds=60),
        )
        for _ in range(tries):
            Attempt.objects.create(delivery=delivery, ok=state == "delivered")
    responses = [_respond(survey, score) for score in (10, 9, 7, 3, 0)]
    SegmentSync.objects.create(
        organization=org, survey=survey, response=responses[0], state="sent", next_attempt_at=NOW
    )

    samples = scrape(client)

    assert metric(samples, "npsloop_ingest_events", state="done") == 2
    assert metric(samples, "npsloop_ingest_events", state="new") == 1
    assert metric(samples, "npsloop_ingest_events", state="failed") == 0
    assert metric(samples, "npsloop_send_decisions", outcome="scheduled", reason="scheduled") == 2
    assert metric(samples, "npsloop_send_decisions", outcome="skipped", reason="no_email") == 1
    assert metric(samples, "npsloop_send_decisions", outcome="skipped", reason="too_old") == 0
    assert metric(samples, "npsloop_invitations", state="scheduled") == 2
    assert metric(samples, "npsloop_invitations", state="sent") == 2
    assert metric(samples, "npsloop_invitations", state="failed") == 1
    assert metric(samples, "npsloop_invitations", state="responded") == 0
    assert metric(samples, "npsloop_emails", kind="invitation", status="sent") == 2
    assert metric(samples, "npsloop_emails", kind="invitation", status="failed") == 1
    assert metric(samples, "npsloop_emails", kind="invitation", status="outbox") == 0
    assert metric(samples, "npsloop_emails", kind="reply", status="outbox") == 1
    deliveries = "npsloop_notification_deliveries"
    assert metric(samples, deliveries, channel="webhook", state="failed") == 1
    assert metric(samples, deliveries, channel="webhook", state="delivered") == 1
    assert metric(samples, deliveries, channel="webhook", state="scheduled") == 1
    assert metric(samples, deliveries, channel="slack", state="failed") == 0
    assert metric(samples, "npsloop_notification_attempts", result="ok") == 1
    assert metric(samples, "npsloop_notification_attempts", result="failed") == 3
    assert metric(samples, "npsloop_notification_retries") == 2
    assert metric(samples, "npsloop_segment_syncs", state="sent") == 1
    assert metric(samples, "npsloop_responses", category="promoter") == 2
    assert metric(samples, "npsloop_responses", category="passive") == 1
    assert metric(samples, "npsloop_responses", category="detractor") == 2
    assert metric(samples, "npsloop_contacts") == 1
    assert metric(samples, "npsloop_backlog_due", kind="invitations") == 1
    assert metric(samples, "npsloop_backlog_oldest_due_seconds", kind="invitations") == 300
    assert metric(samples, "npsloop_backlog_due", kind="ingest_events") == 1
    assert metric(samples, "npsloop_backlog_oldest_due_seconds", kind="ingest_events") == 120
    assert metric(samples, "npsloop_backlog_due", kind="notification_deliveries") == 1
    assert metric(samples, "npsloop_backlog_oldest_due_seconds", kind="segment_syncs") == 0
    assert metric(samples, "npsloop_database_up") == 1
    assert metric(samples, "npsloop_jobs_up", backend="immediate") == 1
    assert metric(samples, "npsloop_jobs_pending") == 0


@pytest.mark.django_db
def test_metrics_time_requests_in_this_process(client):
    def count(samples):
        key = ("npsloop_http_request_duration_seconds_count",)
        labels = (("method", "GET"), ("status", "2xx"), ("view", "ops:healthz"))
        return samples.get((*key, labels), 0)

    before = count(scrape(client))
    for _ in range(3):
        client.get("/healthz")
    assert count(scrape(client)) == before + 3
    client.get("/no/such/page/")
    samples = scrape(client)
    labels = (("method", "GET"), ("status", "4xx"), ("view", "unmatched"))
    assert samples[("npsloop_http_request_duration_seconds_count", labels)] >= 1


def test_metrics_add_up_web_processes_in_multiprocess_mode(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, any worker's scrape has every worker's requests."""
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "NPSLOOP_DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "CRITICAL",
    }
    worker = (
        "import django; django.setup();"
        "from django.test import Client; c = Client();"
        "[c.get('/healthz') for _ in range({n})];"
        "print(c.get('/metrics').content.decode())"
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", worker.format(n=n)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        for n in (2, 3)
    ]
    line = (
        'npsloop_http_request_duration_seconds_count{method="GET",status="2xx",view="ops:healthz"}'
    )
    counts = [
        float(row.split()[-1])
        for out in outputs
        for row in out.splitlines()
        if row.startswith(line)
    ]
    assert counts == [2.0, 5.0]


@pytest.mark.django_db
def test_metrics_of_a_sqlite_job_queue(client, monkeypatch, tmp_path):
    queue = SqliteHuey("ops-test", filename=str(tmp_path / "jobs.sqlite3"))
    task = queue.task()(lambda: None)
    task()
    task()
    now = queue._get_timestamp()
    for eta in (now - dt.timedelta(seconds=90), now + dt.timedelta(hours=1)):
        scheduled = task.s()
        scheduled.eta = eta
        queue.add_schedule(scheduled)
    monkeypatch.setattr(jobs, "get_huey", lambda: queue)
    samples = scrape(client)
    assert metric(samples, "npsloop_jobs_up", backend="sqlite") == 1
    assert metric(samples, "npsloop_jobs_pending") == 2
    assert metric(samples, "npsloop_jobs_scheduled") == 2
    assert 90 <= metric(samples, "npsloop_jobs_overdue_seconds") < 120


@pytest.mark.django_db
def test_metrics_survive_an_unreachable_job_queue(client, monkeypatch):
    monkeypatch.setattr(jobs, "get_huey", lambda: RedisHuey("ops-test", url=UNREACHABLE_REDIS))
    samples = scrape(client)
    assert metric(samples, "npsloop_jobs_up", backend="redis") == 0
    assert ("npsloop_jobs_pending", ()) not in samples
    assert metric(samples, "npsloop_database_up") == 1


@pytest.mark.django_db
def test_metrics_need_the_token_when_one_is_set(client, settings):
    settings.NPSLOOP_METRICS_TOKEN = "s3cret-metrics-token"
    missing = client.get("/metrics")
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer")
    for wrong in ("Bearer wrong", "Basic s3cret-metrics-token", "Bearer", "s3cret-metrics-token"):
        assert client.get("/metrics", HTTP_AUTHORIZATION=wrong).status_code == 401
    # With the token, from anywhere.
    ok = client.get(
        "/metrics",
        HTTP_AUTHORIZATION="Bearer s3cret-metrics-token",
        REMOTE_ADDR="203.0.113.9",
        HTTP_HOST="10.0.0.8:8000",
    )
    assert ok.status_code == 200 and b"npsloop_invitations" in ok.content


@pytest.mark.django_db
def test_metrics_without_a_token_only_for_this_machine(client):
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.5").status_code == 403
    # Through a proxy on this machine everyone looks local: refused.
    proxied = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert proxied.status_code == 403
    assert client.get("/metrics", HTTP_X_REAL_IP="198.51.100.7").status_code == 403


# --- retention --------------------------------------------------------------------------


def test_months_before_counts_calendar_months():
    at = dt.datetime(2025, 7, 31, 12, 0, tzinfo=dt.UTC)
    assert retention.months_before(at, 6) == dt.datetime(2025, 1, 31, 12, 0, tzinfo=dt.UTC)
    assert retention.months_before(at, 5) == dt.datetime(2025, 2, 28, 12, 0, tzinfo=dt.UTC)
    assert retention.months_before(at.replace(year=2024), 5).day == 29  # leap year
    assert retention.months_before(at, 19) == dt.datetime(2023, 12, 31, 12, 0, tzinfo=dt.UTC)
    assert retention.months_before(at, 12) == at.replace(year=2024)


CUTOFF = retention.months_before(NOW, 6)  # 2025-01-31 12:00 UTC
BEFORE = CUTOFF - dt.timedelta(seconds=1)


def _contact(org, email, *, created_at, **fields) -> Contact:
    contact = Contact.objects.create(
        organization=org,
        email=email,
        first_name="Old",
        last_name="Timer",
        external_id=f"user-{email}",
        properties={"plan": "gold"},
        **fields,
    )
    Contact.objects.filter(pk=contact.pk).update(created_at=created_at)
    contact.refresh_from_db()
    return contact


@pytest.fixture
def aged(survey):
    """Rows on both sides of the 6-month cutoff, exactly at it, and active old contacts."""
    org = survey.organization
    rows = {
        "old": _contact(org, "old@example.com", created_at=BEFORE),
        "boundary": _contact(org, "boundary@example.com", created_at=CUTOFF),
        "active": _contact(org, "active@example.com", created_at=BEFORE),
        "unsubscribed": _contact(
            org, "unsub@example.com", created_at=BEFORE, unsubscribed_at=BEFORE
        ),
        "pending": _contact(org, "pending@example.com", created_at=BEFORE),
    }
    rows["old_response"] = _respond(
        survey, 2, contact=rows["old"], created_at=BEFORE, comment="old words"
    )
    rows["boundary_response"] = _respond(
        survey, 9, contact=rows["boundary"], created_at=CUTOFF, comment="boundary words"
    )
    # Created long ago, but answered since the cutoff: still a current customer.
    rows["active_response"] = _respond(
        survey, 10, contact=rows["active"], created_at=CUTOFF, comment="recent words"
    )
    _invite(survey, rows["pending"], "scheduled", send_at=NOW + dt.timedelta(days=3))
    Invitation.objects.update(created_at=BEFORE)
    Note.objects.create(response=rows["old_response"], text="call them")
    return rows


def _counts(report) -> dict[str, int]:
    return {key: value for key, value in report.totals.items() if value}


@pytest.mark.django_db
def test_retention_anonymise(client, aged, frozen_now):
    metrics_before = scrape(client)
    report = retention.run_retention(months=6, mode="anonymise", now=NOW, dry_run=True)
    assert report.cutoff == CUTOFF
    expected = {"responses": 1, "notes": 1, "contacts": 1, "suppressed_contacts": 1}
    assert _counts(report) == expected
    assert Response.objects.exclude(comment="").count() == 3  # a dry run changes nothing

    report = retention.run_retention(months=6, mode="anonymise", now=NOW, batch_size=1)
    assert _counts(report) == expected

    old = Response.objects.get(pk=aged["old_response"].pk)
    assert old.comment == "" and old.score == 2 and old.contact_id == aged["old"].pk
    assert not Note.objects.exists()
    assert Response.objects.get(pk=aged["boundary_response"].pk).comment == "boundary words"
    assert Response.objects.get(pk=aged["active_response"].pk).comment == "recent words"
    contact = Contact.objects.get(pk=aged["old"].pk)
    assert contact.email == f"erased-{contact.pk}@erased.invalid"
    assert (contact.first_name, contact.last_name, contact.external_id) == ("", "", "")
    assert contact.properties == {}
    for kept in ("boundary", "active", "pending"):
        row = Contact.objects.get(pk=aged[kept].pk)
        assert (row.email, row.first_name) == (aged[kept].email, "Old")
    # The unsubscribe must hold: the address stays, the rest goes.
    unsubscribed = Contact.objects.get(pk=aged["unsubscribed"].pk)
    assert unsubscribed.email == "unsub@example.com" and unsubscribed.unsubscribed_at
    assert (unsubscribed.first_name, unsubscribed.external_id) == ("", "")
    assert unsubscribed.properties == {}
    # Scores keep counting.
    metrics_after = scrape(client)
    for category in ("promoter", "passive", "detractor"):
        assert metric(metrics_after, "npsloop_responses", category=category) == metric(
            metrics_before, "npsloop_responses", category=category
        )
    assert metric(metrics_after, "npsloop_responses", category="detractor") == 1
    # Nothing left to do.
    assert _counts(retention.run_retention(months=6, mode="anonymise", now=NOW)) == {}


@pytest.mark.django_db
def test_retention_delete(client, aged, frozen_now):
    report = retention.run_retention(months=6, mode="delete", now=NOW, batch_size=2)
    assert _counts(report) == {"responses": 1, "contacts": 1, "suppressed_contacts": 1}
    assert not Response.objects.filter(pk=aged["old_response"].pk).exists()
    assert not Note.objects.exists()
    assert not Contact.objects.filter(pk=aged["old"].pk).exists()
    assert set(Response.objects.values_list("comment", flat=True)) == {
        "boundary words",
        "recent words",
    }
    assert set(Contact.objects.values_list("email", flat=True)) == {
        "boundary@example.com",
        "active@example.com",
        "unsub@example.com",
        "pending@example.com",
    }
    assert Contact.objects.get(pk=aged["unsubscribed"].pk).first_name == ""
    samples = scrape(client)
    assert metric(samples, "npsloop_responses", category="detractor") == 0
    assert metric(samples, "npsloop_responses", category="promoter") == 2
    assert _counts(retention.run_retention(months=6, mode="delete", now=NOW)) == {}


@pytest.mark.django_db
def test_retention_is_per_organization(org_a, org_b, survey, frozen_now):
    from npsloop.surveys.services import create_survey

    other_survey, _key = create_survey(organization=org_b.organization, name="B")
    _respond(survey, 5, created_at=BEFORE, comment="a")
    _respond(other_survey, 5, created_at=BEFORE, comment="b")
    _respond(other_survey, 6, created_at=BEFORE, comment="c")
    report = retention.run_retention(months=6, mode="delete", now=NOW)
    by_org = {org.organization_id: org.counts["responses"] for org in report.organizations}
    assert by_org == {org_a.organization.pk: 1, org_b.organization.pk: 2}


@pytest.mark.django_db
def test_retention_leaves_no_personal_data_of_an_old_loop(
    client, org_a, survey, contact, outbox_mode
):
    """The whole loop, then 13 months pass: nothing says who Anna was; the NPS stays."""
    from npsloop.ingest.services import accept, process_pending
    from npsloop.invitations.services import schedule_invitation, send_invitation
    from npsloop.responses import workflow
    from npsloop.responses.outbound import send_reply
    from npsloop.responses.services import record_rating
    from npsloop.responses.sharing import create_share_link

    org = org_a.organization
    accept(
        survey=survey,
        raw_events=[
            {
                "type": "identify",
                "userId": "user-4711",
                "messageId": "msg-1",
                "timestamp": timezone.now().isoformat(),
                "traits": {"email": contact.email, "firstName": "Anna", "plan": "goldplan"},
            },
            {
                "type": "identify",
                "userId": "user-4712",
                "messageId": "msg-2",
                "timestamp": timezone.now().isoformat(),
                "traits": {"email": "not-an-email-anna"},
            },
        ],
    )
    process_pending(survey_id=survey.pk)
    invitation = schedule_invitation(survey=survey, contact=contact, source="api")
    assert send_invitation(invitation.pk) == "sent"
    response = record_rating(invitation=invitation, score=3, comment="Anna here, call 555-1234")
    send_reply(response=response, member=org_a.user, subject="Sorry", body="Hi Anna Schmidt")
    workflow.add_note(response=response, text="Anna Schmidt is upset", author=org_a.user)
    link, _url = create_share_link(
        organization=org, member=org_a.user, query="", title="all", show_identity=True
    )
    channel = Channel.objects.create(organization=org, kind="webhook", name="hook")
    delivery = Delivery.objects.create(
        organization=org,
        channel=channel,
        response=response,
        event_id="evt-1",
        event_type="response.created",
        payload={"person": {"email": contact.email, "name": "Anna Schmidt"}},
        state="delivered",
        attempts=1,
        next_attempt_at=timezone.now(),
    )
    Attempt.objects.create(delivery=delivery, ok=True)
    SegmentSync.objects.create(
        organization=org,
        survey=survey,
        response=response,
        state="sent",
        next_attempt_at=timezone.now(),
        payload={"traits": {"NPS_comment": "Anna here"}},
    )
    personal = ["anna", "schmidt", "user-4711", "555-1234", "goldplan"]
    models = (
        Contact, Response, Note, ResponseEvent, Invitation, InvitationEvent, Decision,
        IngestEvent, OutboundEmail, ShareLink, SegmentSync, Delivery, Attempt,
    )  # fmt: skip

    def personal_data_left() -> dict[str, list[str]]:
        from django.forms.models import model_to_dict

        found = {}
        for model in models:
            text = json.dumps([model_to_dict(r) for r in model.objects.all()], default=str)
            hits = [word for word in personal if word in text.lower()]
            if hits:
                found[model.__name__] = hits
        return found

    assert set(personal_data_left()) >= {"Contact", "Response", "IngestEvent", "OutboundEmail"}
    nps_before = metric(scrape(client), "npsloop_responses", category="detractor")

    # Thirteen months later (the share link expired long ago).
    later = timezone.now() + dt.timedelta(days=396)
    call_command("retention", "--months", "12", stdout=io.StringIO())  # nothing is old yet
    assert "Anna" in Response.objects.get().comment
    report = retention.run_retention(months=12, mode="anonymise", now=later)

    assert personal_data_left() == {}
    assert _counts(report)["contacts"] == 1
    assert Response.objects.get().score == 3
    assert metric(scrape(client), "npsloop_responses", category="detractor") == nps_before == 1
    assert not ShareLink.objects.filter(pk=link.pk).exists()


@pytest.mark.django_db
def test_retention_command_and_job(aged, settings, frozen_now):
    settings.NPSLOOP_RETENTION_MONTHS = 0
    out = io.StringIO()
    call_command("retention", stdout=out)
    assert "Retention is off" in out.getvalue()
    assert retention_task.call_local() is None

    out = io.StringIO()
    call_command("retention", "--dry-run", "--months", "6", stdout=out)
    text = out.getvalue()
    assert "created before 2025-01-31 12:00 UTC" in text
    assert "[dry run: nothing changed]" in text
    assert "responses 1, notes 1, contacts 1, suppressed_contacts 1" in text
    assert Note.objects.count() == 1

    settings.NPSLOOP_RETENTION_MONTHS = 6
    settings.NPSLOOP_RETENTION_MODE = "delete"
    assert retention_task.call_local() == {
        "responses": 1,
        "contacts": 1,
        "suppressed_contacts": 1,
        "invitation_errors": 0,
        "invitation_events": 0,
        "decisions": 0,
        "ingest_events": 0,
        "emails": 0,
        "notification_deliveries": 0,
        "share_links": 0,
    }
    assert not Contact.objects.filter(pk=aged["old"].pk).exists()
