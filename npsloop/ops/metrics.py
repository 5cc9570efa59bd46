"""Prometheus metrics at GET /metrics.

Two sources:

* The database, read at scrape time by DatabaseCollector: every count is a
  GROUP BY over a state column, so any number of web processes (gunicorn
  workers) answer the same numbers and nothing is lost on restart.
* This process, for request latency (a histogram observed by the middleware).
  With PROMETHEUS_MULTIPROC_DIR set (an empty directory shared by the web
  processes of one server), prometheus_client's multiprocess mode adds up all
  workers; without it each scrape shows the histogram of the one worker that
  answered it (see docs/operations.md).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator

from django.db.models import Count, F, Min, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, disable_created_metrics
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from npsloop.ops import access, jobs

logger = logging.getLogger("npsloop.ops")

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROC_DIR:
    os.makedirs(MULTIPROC_DIR, exist_ok=True)

JOBS_TIMEOUT_SECONDS = 3.0
# No *_created series: they double the histogram's lines and say little here.
disable_created_metrics()
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

REQUEST_DURATION = Histogram(
    "npsloop_http_request_duration_seconds",
    "Time from a request reaching Django to its response, by method, view and status class.",
    ["method", "view", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def observe_request(method: str, view: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    REQUEST_DURATION.labels(method, view, f"{status // 100}xx").observe(seconds)


def _gauge(name: str, doc: str, labels: list[str], values: dict[tuple, float]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def _count_by(queryset, fields: list[str], known: Iterable[tuple] = ()) -> dict[tuple, int]:
    counts = dict.fromkeys(known, 0)
    for row in queryset.values(*fields).annotate(n=Count("pk")).order_by():
        counts[tuple(str(row[f]) for f in fields)] = row["n"]
    return counts


def _category(score: int) -> str:
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


def database_families(now) -> Iterator[Metric]:
    from npsloop.contacts.models import Contact
    from npsloop.ingest.models import IngestEvent
    from npsloop.invitations.models import Decision, Invitation
    from npsloop.mail.models import OutboundEmail
    from npsloop.notifications.models import Attempt, Channel, Delivery
    from npsloop.responses.models import Response
    from npsloop.segment_sync.models import SegmentSync

    yield _gauge(
        "npsloop_ingest_events",
        "Segment events stored, by processing state.",
        ["state"],
        _count_by(IngestEvent.objects, ["state"], [(s,) for s in IngestEvent.State.values]),
    )
    yield _gauge(
        "npsloop_send_decisions",
        "What the send rules decided for each identify call or API request, by reason.",
        ["outcome", "reason"],
        _count_by(
            Decision.objects,
            ["outcome", "reason"],
            [
                (
                    Decision.Outcome.SCHEDULED if r == Decision.Reason.SCHEDULED else "skipped",
                    r,
                )
                for r in Decision.Reason.values
            ],
        ),
    )
    yield _gauge(
        "npsloop_invitations",
        "Survey invitations, by state.",
        ["state"],
        _count_by(Invitation.objects, ["state"], [(s,) for s in Invitation.State.values]),
    )
    emails = _count_by(OutboundEmail.objects, ["kind", "status"])
    for kind in {kind for kind, _status in emails}:
        for status in OutboundEmail.Status.values:
            emails.setdefault((kind, status), 0)
    yield _gauge(
        "npsloop_emails",
        "Emails sent, failed, being sent or kept in the outbox, by kind.",
        ["kind", "status"],
        emails,
    )
    yield _gauge(
        "npsloop_notification_deliveries",
        "Notification deliveries (email, webhook, Slack, ticket systems), by channel and state.",
        ["channel", "state"],
        _count_by(
            Delivery.objects,
            ["channel__kind", "state"],
            [(k, s) for k in Channel.Kind.values for s in Delivery.State.values],
        ),
    )
    attempts = {("ok",): 0, ("failed",): 0}
    for row in Attempt.objects.values("ok").annotate(n=Count("pk")).order_by():
        attempts[("ok" if row["ok"] else "failed",)] = row["n"]
    yield _gauge(
        "npsloop_notification_attempts",
        "Tries of notification deliveries, by result.",
        ["result"],
        attempts,
    )
    retries = Delivery.objects.filter(attempts__gt=1).aggregate(n=Sum(F("attempts") - 1))["n"]
    yield _gauge(
        "npsloop_notification_retries",
        "Tries of notification deliveries beyond each delivery's first.",
        [],
        {(): retries or 0},
    )
    yield _gauge(
        "npsloop_segment_syncs",
        "Write-backs of ratings to Segment, by state.",
        ["state"],
        _count_by(SegmentSync.objects, ["state"], [(s,) for s in SegmentSync.State.values]),
    )
    categories = {("promoter",): 0, ("passive",): 0, ("detractor",): 0}
    for row in Response.objects.values("score").annotate(n=Count("pk")).order_by():
        categories[(_category(row["score"]),)] += row["n"]
    yield _gauge(
        "npsloop_responses",
        "Survey responses (anonymised ones included), by NPS category.",
        ["category"],
        categories,
    )
    yield _gauge(
        "npsloop_contacts", "Contacts, all organizations.", [], {(): Contact.objects.count()}
    )

    # Work that is due and not done yet: each kind's rows hold the truth, its job only an id.
    backlog = {
        "invitations": Invitation.objects.filter(
            state=Invitation.State.SCHEDULED, send_at__lte=now
        ).aggregate(n=Count("pk"), oldest=Min("send_at")),
        "ingest_events": IngestEvent.objects.filter(state=IngestEvent.State.NEW).aggregate(
            n=Count("pk"), oldest=Min("received_at")
        ),
        "notification_deliveries": Delivery.objects.filter(
            state=Delivery.State.SCHEDULED, next_attempt_at__lte=now
        ).aggregate(n=Count("pk"), oldest=Min("next_attempt_at")),
        "segment_syncs": SegmentSync.objects.filter(
            state=SegmentSync.State.SCHEDULED, next_attempt_at__lte=now
        ).aggregate(n=Count("pk"), oldest=Min("next_attempt_at")),
    }
    yield _gauge(
        "npsloop_backlog_due",
        "Rows whose work is due and not started (invitations to send, events to process, ...).",
        ["kind"],
        {(kind,): row["n"] for kind, row in backlog.items()},
    )
    yield _gauge(
        "npsloop_backlog_oldest_due_seconds",
        "How long the oldest due and unstarted row of each kind has waited (0: none).",
        ["kind"],
        {
            (kind,): max(0.0, (now - row["oldest"]).total_seconds()) if row["oldest"] else 0.0
            for kind, row in backlog.items()
        },
    )


class DatabaseCollector:
    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        try:
            families = list(database_families(timezone.now()))
            up = 1
        except Exception:
            logger.exception("metrics: reading the database failed")
            families, up = [], 0
        yield from families
        yield _gauge("npsloop_database_up", "1 when the metrics queries worked.", [], {(): up})
        yield _gauge(
            "npsloop_metrics_database_seconds",
            "Time the metrics queries took.",
            [],
            {(): time.perf_counter() - started},
        )


class JobsCollector:
    def collect(self) -> Iterator[Metric]:
        huey = jobs.get_huey()
        backend = jobs.backend_name(huey)
        try:
            stats = jobs.call_with_timeout(lambda: jobs.queue_stats(huey), JOBS_TIMEOUT_SECONDS)
        except Exception as exc:
            logger.warning("metrics: reading the job queue failed: %s", type(exc).__name__)
            stats = None
        yield _gauge(
            "npsloop_jobs_up",
            "1 when the job queue's storage answered, by backend.",
            ["backend"],
            {(backend,): 1 if stats else 0},
        )
        if stats is None:
            return
        yield _gauge(
            "npsloop_jobs_pending",
            "Jobs ready to run, waiting for a worker.",
            [],
            {(): stats.pending},
        )
        yield _gauge(
            "npsloop_jobs_scheduled",
            "Jobs waiting for their time (delayed sends, retries).",
            [],
            {(): stats.scheduled},
        )
        if stats.overdue_seconds is not None:
            yield _gauge(
                "npsloop_jobs_overdue_seconds",
                "Since when the oldest scheduled job is due but no worker took it (0: none).",
                [],
                {(): stats.overdue_seconds},
            )


class _Combined:
    def __init__(self, collectors: list) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def process_registry():
    if not MULTIPROC_DIR:
        return REGISTRY  # this process: latency histogram, process_*, python_gc_*
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=MULTIPROC_DIR)
    return registry


def exposition(accept: str = "") -> tuple[bytes, str]:
    encoder, content_type = choose_encoder(accept)
    combined = _Combined([process_registry(), DatabaseCollector(), JobsCollector()])
    return encoder(combined), content_type


def metrics_view(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        response = HttpResponse("method not allowed\n", status=405, content_type="text/plain")
        response["Allow"] = "GET, HEAD"
        return response
    why = access.denied(request)
    if why == "token":
        response = HttpResponse(
            "metrics need: Authorization: Bearer <METRICS_TOKEN>\n",
            status=401,
            content_type="text/plain",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if why == "local":
        return HttpResponse(
            "metrics are served to this machine only; set METRICS_TOKEN to scrape from afar\n",
            status=403,
            content_type="text/plain",
        )
    body, content_type = exposition(request.headers.get("Accept", ""))
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
