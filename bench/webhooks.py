"""Webhook benchmark: ratings fanned out to a webhook and a Slack channel by `npsloop worker`.

    .venv/bin/python bench/webhooks.py [--db sqlite|postgres|both] [--responses 10000] ...

For each database (SQLite, PostgreSQL) it migrates a fresh data directory and database,
creates an organization, a survey, a webhook channel (Standard Webhooks, signed with a
whsec_ secret) and a Slack channel, each on its own rule "on each new response" (no
saved filter), both pointing at local HTTP receivers on 127.0.0.1 (one subprocess each).
N contacts with a sent invitation are bulk inserted (not timed). Then `npsloop worker`
processes are started, and a rater process calls `record_rating` on every invitation
as the customer's click does: its after-commit signal enqueues the fan-out job, which
stores one delivery per channel and enqueues its send job, all in the real job queue
(SQLite file or Redis). It measures deliveries/s, the time until all 2 x N deliveries
have arrived, the delay from the rating to the arrival (p50/p99), and checks that every
delivery arrived exactly once. The baseline sends the same 2 x N signed POSTs from a
thread pool of the same size straight to the same receivers (no database, no queue).
See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.ingest import (  # noqa: E402
    TICK,
    Database,
    Processes,
    _stats,
    describe_postgres,
    free_port,
    tail,
)

PY = sys.executable
AIM_DELIVERIES = 10_000
AIM_SECONDS = 60.0
REDIS_URL = "redis://127.0.0.1:6379"
WEBHOOK_PATH = "/hooks/npsloop"
SLACK_PATH = "/services/TBENCH/BBENCH/bench"
INBOX_ID = re.compile(rb"/inbox/(\d+)/")
JOB_DONE = re.compile(r"npsloop\.\w+\.tasks\.(\w+): \S+ executed in ([0-9.]+)s")
LOG_PROBLEM = re.compile(r"\bERROR\b|\bWARNING\b|Traceback")


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def django_setup() -> None:
    from npsloop.cli import _setup

    _setup()


def drop_database(database: Database, tries: int = 10) -> None:
    """Drop the run's database, retrying while the server is busy or restarting."""
    for attempt in range(tries):
        try:
            database.drop()
            return
        except Exception as error:
            if attempt == tries - 1:
                say(f"WARNING: could not drop {database.name}: {error}; drop it by hand")
                return
            time.sleep(3)


# --------------------------------------------------------------------------- receivers


def receive(args: argparse.Namespace) -> int:
    """One receiver (webhook or Slack) on 127.0.0.1:PORT; records every POST in memory.

    Control: GET /_stats (counts), GET /_dump (every record), POST /_reset.
    """
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    webhook = args.kind == "webhook"
    verifier = None
    if webhook:
        from standardwebhooks import Webhook

        verifier = Webhook(os.environ["BENCH_WEBHOOK_SECRET"])
    state: dict[str, Any] = {"records": [], "verified": 0, "bad": 0, "seen": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, status: int, body: bytes, kind: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/_stats":
                records = state["records"]
                last = records[-1][-1] if records else None
                stats = {
                    "count": len(records),
                    "verified": state["verified"],
                    "bad": state["bad"],
                    "last": last,
                }
                self.reply(200, json.dumps(stats).encode(), "application/json")
            elif self.path == "/_dump":
                body = json.dumps({**state, "records": state["records"]}).encode()
                self.reply(200, body, "application/json")
            else:
                self.reply(404, b"not found")

        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            at = time.time()
            if self.path == "/_reset":
                with lock:
                    state.update(records=[], verified=0, bad=0, seen=0)
                self.reply(200, b"reset")
                return
            if webhook:
                msg_id = self.headers.get("webhook-id", "")
                with lock:
                    state["seen"] += 1
                    check = state["seen"] % args.verify_every == 1 or args.verify_every == 1
                if check:
                    try:
                        verifier.verify(raw, dict(self.headers.items()), json_parse=False)
                        outcome = "verified"
                    except Exception:
                        outcome = "bad"
                    with lock:
                        state[outcome] += 1
                state["records"].append((msg_id, at))
                self.reply(200, b"")
            else:
                found = INBOX_ID.search(raw)
                state["records"].append((int(found.group(1)) if found else -1, at))
                self.reply(200, b"ok")

        def log_message(self, *_args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024  # the default (5) drops connections under a burst

    server = Server(("127.0.0.1", args.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print(f"listening on {args.port}", flush=True)
    server.serve_forever(poll_interval=0.05)
    return 0


class Receiver:
    def __init__(self, kind: str, port: int):
        self.kind = kind
        self.port = port
        self.base = f"http://127.0.0.1:{port}"

    def _call(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(
            self.base + path, method=method, data=b"" if method == "POST" else None
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            data = answer.read()
        return json.loads(data) if path != "/_reset" else None

    def stats(self) -> dict[str, Any]:
        return self._call("/_stats")

    def dump(self) -> dict[str, Any]:
        return self._call("/_dump")

    def reset(self) -> None:
        self._call("/_reset", "POST")

    def wait_ready(self, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the {self.kind} receiver exited:\n{tail(log)}")
            try:
                self.stats()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the {self.kind} receiver did not start:\n{tail(log)}")


# --------------------------------------------------------------------------- npsloop side


def setup(args: argparse.Namespace) -> int:
    """Organization, survey, channels and rules through npsloop; contacts and invitations
    in bulk. Prints one JSON line."""
    django_setup()
    import secrets

    from django.db import transaction
    from django.utils import timezone

    from npsloop.accounts.services import create_organization
    from npsloop.contacts.models import Contact
    from npsloop.invitations.models import Invitation
    from npsloop.notifications import services
    from npsloop.notifications.models import Channel, Rule
    from npsloop.surveys.services import create_survey

    created = create_organization(
        name="Bench Inc", email="bench@example.com", password="bench-password-1234"
    )
    org, user = created.organization, created.user
    survey, _key = create_survey(organization=org, name="Bench NPS")
    secret = services.new_webhook_secret()
    hook = Channel.objects.create(
        organization=org,
        kind=Channel.Kind.WEBHOOK,
        name="Bench webhook",
        url=args.webhook_url,
        secret=secret,
        created_by=user,
    )
    slack = Channel.objects.create(
        organization=org,
        kind=Channel.Kind.SLACK,
        name="Bench Slack",
        url=args.slack_url,
        created_by=user,
    )
    for name, channel in (
        ("Every response to the webhook", hook),
        ("Every response to Slack", slack),
    ):
        rule = Rule.objects.create(
            organization=org, name=name, trigger=Rule.Trigger.RESPONSE, created_by=user
        )
        rule.channels.set([channel])
    now = timezone.now()
    first = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo"]
    last = ["Schmidt", "Meyer", "Weber", "Fischer", "Wagner", "Becker"]
    rnd = random.Random(7)
    chunk = 2000
    with transaction.atomic():
        for start in range(0, args.responses, chunk):
            contacts = Contact.objects.bulk_create(
                [
                    Contact(
                        organization=org,
                        email=f"customer{i}@example.com",
                        external_id=f"user-{i}",
                        first_name=rnd.choice(first),
                        last_name=rnd.choice(last),
                        language="en",
                        properties={"plan": rnd.choice(["free", "pro", "enterprise"])},
                    )
                    for i in range(start, min(args.responses, start + chunk))
                ]
            )
            Invitation.objects.bulk_create(
                [
                    Invitation(
                        organization=org,
                        survey=survey,
                        contact=contact,
                        key=secrets.token_hex(16),
                        state=Invitation.State.SENT,
                        source=Invitation.Source.API,
                        language="en",
                        send_at=now,
                        attempts=1,
                        sent_at=now,
                    )
                    for contact in contacts
                ]
            )
    print(json.dumps({"secret": secret, "survey_id": survey.pk}), flush=True)
    return 0


def rate(args: argparse.Namespace) -> int:
    """One rater process: `record_rating` on its share of the sent invitations."""
    django_setup()
    from django.db import OperationalError, connection

    from npsloop.invitations.models import Invitation
    from npsloop.responses.services import record_rating

    invitations = list(
        Invitation.objects.filter(survey_id=args.survey_id, state=Invitation.State.SENT).order_by(
            "pk"
        )
    )[args.part :: args.parts]
    rnd = random.Random(args.part)
    errors: dict[str, int] = {}
    while time.time() < args.start_at:
        time.sleep(0.005)
    started = time.time()
    cpu = time.process_time()
    for invitation in invitations:
        score = rnd.randrange(11)
        for attempt in range(30):
            try:
                record_rating(invitation=invitation, score=score)
                break
            except OperationalError as error:
                # The database went away (a server restart): the customer clicks again.
                name = f"{type(error).__name__} (tried again)"
                errors[name] = errors.get(name, 0) + 1
                connection.close()
                time.sleep(min(2.0, 0.1 * 2**attempt))
            except Exception as error:  # counted; the run reports them
                errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
                break
    result = {
        "count": len(invitations),
        "errors": errors,
        "started": started,
        "ended": time.time(),
        "cpu": time.process_time() - cpu,
    }
    print(json.dumps(result), flush=True)
    return 0


def export(args: argparse.Namespace) -> int:
    """After a run: what the database holds, as JSON (and the baseline's bodies)."""
    django_setup()
    from npsloop.notifications.channels import slack, webhook
    from npsloop.notifications.models import Attempt, Delivery
    from npsloop.responses.models import Response

    def ts(moment: Any) -> float | None:
        return moment.timestamp() if moment else None

    responses = {pk: ts(at) for pk, at in Response.objects.values_list("pk", "created_at")}
    deliveries = []
    jobs = []
    for d in Delivery.objects.select_related("channel").order_by("pk").iterator(chunk_size=2000):
        deliveries.append(
            {
                "kind": d.channel.kind,
                "event_id": d.event_id,
                "response_id": d.response_id,
                "state": d.state,
                "attempts": d.attempts,
                "created": ts(d.created_at),
                "claimed": ts(d.claimed_at),
                "delivered": ts(d.delivered_at),
                "error": d.last_error[:200],
            }
        )
        if d.channel.kind == "webhook":
            jobs.append(["webhook", d.channel.url, d.event_id, webhook.body_of(d)])
        else:
            jobs.append(["slack", d.channel.url, "", json.dumps(slack.message(d.payload))])
    out = {
        "responses": responses,
        "deliveries": deliveries,
        "attempts": Attempt.objects.count(),
        "failed_attempts": Attempt.objects.filter(ok=False).count(),
    }
    Path(args.out).write_text(json.dumps(out))
    Path(args.jobs).write_text(json.dumps(jobs))
    return 0


# --------------------------------------------------------------------------- baseline


def baseline_send(args: argparse.Namespace) -> int:
    """Baseline sender process: signed POSTs from a thread pool, no database, no queue.

    The same HTTP client call as npsloop's channels (requests, a new connection per
    request, no redirects, a timeout), the same Standard Webhooks signature.
    """
    import datetime as dt
    from concurrent.futures import ThreadPoolExecutor

    import requests
    from standardwebhooks import Webhook

    signer = Webhook(os.environ["BENCH_WEBHOOK_SECRET"])
    jobs = json.loads(Path(args.jobs).read_text())[args.part :: args.parts]
    errors: dict[str, int] = {}
    lock = threading.Lock()

    def send(job: list[str]) -> None:
        kind, url, msg_id, body = job
        headers = {"User-Agent": "npsloop-notifications/1", "Content-Type": "application/json"}
        if kind == "webhook":
            now = dt.datetime.now(dt.UTC)
            headers |= {
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signer.sign(msg_id, now, body),
            }
        try:
            answer = requests.post(
                url, data=body.encode(), headers=headers, timeout=10, allow_redirects=False
            )
            status = str(answer.status_code) if answer.status_code != 200 else ""
        except requests.RequestException as error:
            status = type(error).__name__
        if status:
            with lock:
                errors[status] = errors.get(status, 0) + 1

    while time.time() < args.start_at:
        time.sleep(0.005)
    cpu = time.process_time()
    with ThreadPoolExecutor(args.threads) as pool:
        list(pool.map(send, jobs))
    print(json.dumps({"count": len(jobs), "errors": errors, "cpu": time.process_time() - cpu}))
    return 0


# --------------------------------------------------------------------------- results


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@dataclass
class Check:
    kind: str
    expected: int
    stored: int = 0  # delivery rows
    delivered: int = 0  # rows in state "delivered" (npsloop thinks it sent them)
    failed: int = 0
    pending: int = 0  # scheduled or sending at the end
    retried: int = 0  # rows that needed more than one attempt
    received: int = 0  # POSTs at the receiver
    distinct: int = 0  # distinct webhook-ids (or response ids in Slack messages)
    unknown: int = 0  # received but matching no delivery / response

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.distinct)

    @property
    def duplicated(self) -> int:
        return self.received - self.distinct - self.unknown


@dataclass
class Result:
    db: str
    responses: int
    ratings_seconds: float = float("nan")
    rating_errors: dict[str, int] = field(default_factory=dict)
    drained: bool = False
    drain_seconds: float = float("nan")  # first rating → last arrival
    aim_seconds: float = float("nan")  # first rating → the AIM_DELIVERIES-th arrival
    after_last_rating: float = float("nan")
    delays: list[float] = field(default_factory=list)  # rating → first arrival, s
    stage_fanout: list[float] = field(default_factory=list)  # rating → delivery row
    stage_queue: list[float] = field(default_factory=list)  # row → claimed by a worker
    stage_send: list[float] = field(default_factory=list)  # claimed → arrival
    checks: list[Check] = field(default_factory=list)
    bad_signatures: int = 0
    verified: int = 0
    attempts: int = 0
    failed_attempts: int = 0
    errors_sample: list[str] = field(default_factory=list)
    burst: bool = False  # --burst: times from the workers' start, not the first rating
    within_aim: int = 0  # deliveries that arrived within AIM_SECONDS of the start
    worker_log_errors: list[str] = field(default_factory=list)
    jobs: dict[str, tuple[int, float]] = field(default_factory=dict)  # name → (runs, s)
    cpu: dict[str, float] = field(default_factory=dict)
    baseline_seconds: float = float("nan")
    baseline_received: int = 0
    baseline_distinct: int = 0
    baseline_errors: dict[str, int] = field(default_factory=dict)
    baseline_cpu: float = float("nan")

    @property
    def total(self) -> int:
        return 2 * self.responses

    @property
    def per_s(self) -> float:
        return self.total / self.drain_seconds if self.drained else float("nan")

    @property
    def ratings_per_s(self) -> float:
        return self.responses / self.ratings_seconds if self.ratings_seconds else float("nan")

    @property
    def baseline_per_s(self) -> float:
        return self.total / self.baseline_seconds if self.baseline_seconds else float("nan")


# --------------------------------------------------------------------------- one run


class Bench:
    def __init__(self, args: argparse.Namespace, stack: contextlib.ExitStack):
        self.args = args
        self.stack = stack
        self.procs = Processes()
        stack.callback(self.procs.stop_all)
        self.results: list[Result] = []

    # --- helpers

    def run_quiet(self, argv: list[str], env: dict[str, str]) -> str:
        done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv[:4])} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def me(self, *argv: str) -> list[str]:
        return [PY, str(Path(__file__).resolve()), *argv]

    def redis_db(self) -> Any:
        import redis

        return redis.Redis.from_url(f"{REDIS_URL}/{self.args.redis_db}")

    def clean_redis(self) -> None:
        client = self.redis_db()
        for key in client.scan_iter(match="huey.*npsloop*"):
            client.delete(key)

    def cpu(self, groups: dict[str, list[int]]) -> dict[str, float]:
        """CPU seconds of each role's process groups, of PostgreSQL and of the machine."""
        ticks = dict.fromkeys([*groups, "postgres"], 0)
        owner = {pgid: role for role, pgids in groups.items() for pgid in pgids}
        for name, fields in _stats():
            used = sum(int(x) for x in fields[11:15])
            role = owner.get(int(fields[2]))
            if role:
                ticks[role] += used
            elif name == "postgres":
                ticks["postgres"] += used
        out = {role: value / TICK for role, value in ticks.items()}
        cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        total = sum(int(x) for x in cpu[:8])
        out["busy"] = (total - int(cpu[3]) - int(cpu[4])) / TICK
        out["total"] = total / TICK
        return out

    # --- the run

    def measure(self, db: str) -> Result:
        args = self.args
        result = Result(db=db, responses=args.responses)
        data_dir = Path(tempfile.mkdtemp(prefix=f"npsloop-bench-webhooks-{db}-"))
        self.stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
        database = Database(db, data_dir)
        database.create()
        self.stack.callback(drop_database, database)
        if args.jobs == "redis":
            client = self.redis_db()
            if client.dbsize():
                raise RuntimeError(
                    f"Redis database {args.redis_db} is not empty: pick another with --redis-db"
                )
            self.stack.callback(self.clean_redis)
            jobs_url = f"{REDIS_URL}/{args.redis_db}"
        else:
            jobs_url = f"sqlite:///{data_dir / 'jobs.sqlite3'}"
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "JOBS_URL", "DJANGO_SETTINGS_MODULE", "BASE_URL"}
        }
        env |= {
            "NPSLOOP_DATA_DIR": str(data_dir),
            "JOBS_URL": jobs_url,
            "DEBUG": "0",
            "PYTHONUNBUFFERED": "1",
            "OUTBOUND_ALLOW": "127.0.0.1/32",
            "WORKERS": str(args.threads),
        }
        if database.url:
            env["DATABASE_URL"] = database.url
        say(f"{db}: migrating a fresh database ({database.url or database.path})")
        self.run_quiet([PY, "-m", "npsloop.cli", "migrate"], env)

        ports = {"webhook": free_port(), "slack": free_port()}
        urls = {
            "webhook": f"http://127.0.0.1:{ports['webhook']}{WEBHOOK_PATH}",
            "slack": f"http://127.0.0.1:{ports['slack']}{SLACK_PATH}",
        }
        say(f"{db}: organization, survey, channels, rules, {args.responses:,} sent invitations")
        began = time.monotonic()
        out = self.run_quiet(
            self.me(
                "setup",
                "--responses",
                str(args.responses),
                "--webhook-url",
                urls["webhook"],
                "--slack-url",
                urls["slack"],
            ),
            env,
        )
        info = json.loads(out.strip().splitlines()[-1])
        say(f"  set up in {time.monotonic() - began:.1f} s")
        env["BENCH_WEBHOOK_SECRET"] = info["secret"]

        receivers: dict[str, Receiver] = {}
        receiver_procs = []
        for kind in ("webhook", "slack"):
            log = data_dir / f"receiver-{kind}.log"
            argv = self.me("receive", "--kind", kind, "--port", str(ports[kind]))
            argv += ["--verify-every", str(args.verify_every)]
            proc = self.procs.start(argv, env, log)
            receivers[kind] = Receiver(kind, ports[kind])
            receivers[kind].wait_ready(proc, log)
            receiver_procs.append(proc)

        workers: list[tuple[subprocess.Popen, Path]] = []
        groups = {"workers": [], "receivers": [p.pid for p in receiver_procs]}

        def start_workers() -> float:
            for i in range(args.workers):
                log = data_dir / f"worker-{i}.log"
                proc = self.procs.start([PY, "-m", "npsloop.cli", "worker"], env, log)
                workers.append((proc, log))
            deadline = time.monotonic() + 90
            started = None
            for proc, log in workers:
                while "consumer started" not in tail(log, 50):
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"npsloop worker did not start:\n{tail(log)}")
                    time.sleep(0.05)
                started = started or time.time()
            groups["workers"] = [p.pid for p, _ in workers]
            say(f"{db}: {args.workers} workers x {args.threads} threads running; jobs {jobs_url}")
            return started

        raters: list[subprocess.Popen] = []
        rater_out: list[dict[str, Any]] = []
        self.stack.callback(lambda: [p.kill() for p in raters if p.poll() is None])

        def start_raters() -> float:
            start_at = time.time() + 2.0  # the raters import Django and load their invitations
            for part in range(args.raters):
                argv = self.me("rate", "--survey-id", str(info["survey_id"]))
                argv += ["--part", str(part), "--parts", str(args.raters)]
                argv += ["--start-at", repr(start_at)]
                raters.append(
                    subprocess.Popen(
                        argv,
                        env=env,
                        cwd=ROOT,
                        stdout=subprocess.PIPE,
                        text=True,
                        start_new_session=True,
                    )
                )
            say(f"{db}: rating {args.responses:,} invitations from {args.raters} process(es)")
            return start_at

        def collect_raters() -> None:
            for p in raters:
                text, _ = p.communicate()
                if p.returncode or not text.strip():
                    raise RuntimeError(f"a rater failed ({p.returncode})")
                rater_out.append(json.loads(text.strip().splitlines()[-1]))

        rated_at = None
        workers_at = None
        if args.burst:
            # Every job queued first, no worker running; then the workers drain the backlog.
            cpu0 = self.cpu(groups)
            start_raters()
            collect_raters()
            rated_at = time.monotonic()
            say(f"  ratings done, {args.responses:,} fan-out jobs queued; starting the workers")
            workers_at = start_at = start_workers()
            cpu_workers0 = self.cpu(groups)["workers"]
        else:
            workers_at = start_workers()
            cpu0 = self.cpu(groups)
            cpu_workers0 = cpu0["workers"]
            start_at = start_raters()

        # Wait for every delivery to arrive; stop when nothing moves any more.
        total = result.total
        last_count, last_change = -1, time.monotonic()
        next_report = time.monotonic() + 5
        stored, stored_at = 0, 0.0
        while True:
            time.sleep(0.2)
            count = sum(r.stats()["count"] for r in receivers.values())
            now = time.monotonic()
            if now - stored_at > 2:  # progress also counts deliveries stored, not yet sent
                with contextlib.suppress(Exception):  # a busy or restarting server: next time
                    stored = database.scalar("SELECT count(*) FROM notifications_delivery")
                stored_at = now
            if count + stored != last_count:
                last_count, last_change = count + stored, now
            if rated_at is None and all(p.poll() is not None for p in raters):
                rated_at = now
                collect_raters()
                say(f"  ratings done; {count:,} of {total:,} deliveries arrived so far")
            if now >= next_report:
                say(
                    f"  {time.time() - start_at:5.0f} s: {count:,} of {total:,} arrived, "
                    f"{stored:,} stored"
                )
                next_report = now + 5
            if count >= total:
                time.sleep(args.grace)  # late duplicates would arrive now
                result.drained = True
                break
            if rated_at is not None and now - last_change > args.stall:
                say(f"  nothing arrived for {args.stall:g} s: giving up ({count:,} of {total:,})")
                break
            if rated_at is not None and now - rated_at > args.timeout:
                say(f"  timeout {args.timeout:g} s after the last rating ({count:,} of {total:,})")
                break
            for proc, log in workers:
                if proc.poll() is not None:
                    raise RuntimeError(f"npsloop worker exited:\n{tail(log)}")
        if not rater_out and result.drained:
            # The last delivery arrived before the loop saw the rater exit (it is exiting now).
            collect_raters()
        cpu1 = self.cpu(groups)
        for proc, _log in workers:
            self.procs.stop(proc)
        for _proc, log in workers:
            for line in log.read_text(errors="replace").splitlines():
                if LOG_PROBLEM.search(line):
                    result.worker_log_errors.append(line)
                done = JOB_DONE.search(line)
                if done:
                    count, seconds = result.jobs.get(done.group(1), (0, 0.0))
                    result.jobs[done.group(1)] = (count + 1, seconds + float(done.group(2)))
        for r in rater_out:
            for k, v in r["errors"].items():
                result.rating_errors[k] = result.rating_errors.get(k, 0) + v
        rater_cpu = sum(r["cpu"] for r in rater_out)
        result.cpu = {
            "workers": cpu1["workers"] - cpu_workers0,
            "rater": rater_cpu,
            "receivers": cpu1["receivers"] - cpu0["receivers"],
            "postgres": cpu1["postgres"] - cpu0["postgres"] if db == "postgres" else float("nan"),
            "busy": cpu1["busy"] - cpu0["busy"],
            "total": cpu1["total"] - cpu0["total"],
        }

        dumps = {kind: r.dump() for kind, r in receivers.items()}
        exported, jobs_file = data_dir / "export.json", data_dir / "jobs.json"
        self.run_quiet(self.me("export", "--out", str(exported), "--jobs", str(jobs_file)), env)
        result.burst = args.burst
        self.analyse(
            result, json.loads(exported.read_text()), dumps, workers_at if args.burst else None
        )

        if args.baseline:
            self.baseline(result, receivers, jobs_file, env)
        for proc in receiver_procs:
            self.procs.stop(proc)
        drop_database(database)
        if args.jobs == "redis":
            self.clean_redis()
        shutil.rmtree(data_dir, ignore_errors=True)
        return result

    def analyse(
        self, result: Result, db: dict[str, Any], dumps: dict[str, Any], start: float | None
    ) -> None:
        """Counts and times; `start` (--burst): when the workers started, else the first
        rating is where the drain time starts."""
        created = {int(k): v for k, v in db["responses"].items()}
        result.attempts, result.failed_attempts = db["attempts"], db["failed_attempts"]
        if created:
            t0, t1 = min(created.values()), max(created.values())
            result.ratings_seconds = t1 - t0
        else:
            t0 = t1 = float("nan")
        if start is not None:
            t0 = t1 = start
        by_event = {}
        rows_by_response: dict[tuple[str, int], dict[str, Any]] = {}
        for row in db["deliveries"]:
            if row["kind"] == "webhook":
                by_event[row["event_id"]] = row
            rows_by_response[row["kind"], row["response_id"]] = row
        arrivals_all: list[float] = []
        first: dict[tuple[str, int], float] = {}
        for kind in ("webhook", "slack"):
            check = Check(kind=kind, expected=result.responses)
            rows = [r for r in db["deliveries"] if r["kind"] == kind]
            check.stored = len(rows)
            check.delivered = sum(r["state"] == "delivered" for r in rows)
            check.failed = sum(r["state"] == "failed" for r in rows)
            check.pending = sum(r["state"] in ("scheduled", "sending") for r in rows)
            check.retried = sum(r["attempts"] > 1 for r in rows)
            result.errors_sample += [r["error"] for r in rows if r["error"]][:3]
            records = dumps[kind]["records"]
            check.received = len(records)
            seen: set[Any] = set()
            for key, at in records:
                arrivals_all.append(at)
                if kind == "webhook":
                    row = by_event.get(key)
                    response_id = row["response_id"] if row else None
                else:
                    response_id = key if key in created else None
                if response_id is None:
                    check.unknown += 1
                    continue
                seen.add(response_id)
                slot = (kind, response_id)
                first[slot] = min(first.get(slot, at), at)
            check.distinct = len(seen)
            result.checks.append(check)
        result.verified = dumps["webhook"]["verified"]
        result.bad_signatures = dumps["webhook"]["bad"]
        arrivals_all.sort()
        if result.drained and arrivals_all:
            result.drain_seconds = arrivals_all[-1] - t0
            result.after_last_rating = arrivals_all[-1] - t1
        if len(arrivals_all) >= AIM_DELIVERIES:
            result.aim_seconds = arrivals_all[AIM_DELIVERIES - 1] - t0
        result.within_aim = sum(at - t0 <= AIM_SECONDS for at in arrivals_all)
        for (kind, response_id), at in first.items():
            rated = created[response_id]
            result.delays.append(at - rated)
            row = rows_by_response.get((kind, response_id))
            if row and row["created"] and row["claimed"]:
                result.stage_fanout.append(row["created"] - rated)
                result.stage_queue.append(row["claimed"] - row["created"])
                result.stage_send.append(at - row["claimed"])

    def baseline(
        self, result: Result, receivers: dict[str, Receiver], jobs_file: Path, env: dict[str, str]
    ) -> None:
        args = self.args
        for r in receivers.values():
            r.reset()
        say(
            f"{result.db} baseline: {result.total:,} signed POSTs from {args.workers} process(es) "
            f"x {args.threads} threads, no database, no queue"
        )
        start_at = time.time() + 1.5
        senders = []
        for part in range(args.workers):
            argv = self.me(
                "baseline-send", "--jobs", str(jobs_file), "--threads", str(args.threads)
            )
            argv += [
                "--part",
                str(part),
                "--parts",
                str(args.workers),
                "--start-at",
                repr(start_at),
            ]
            senders.append(
                subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            )
        cpu = 0.0
        for proc in senders:
            out, _ = proc.communicate()
            if proc.returncode:
                raise RuntimeError(f"a baseline sender failed ({proc.returncode})")
            part = json.loads(out.strip().splitlines()[-1])
            cpu += part["cpu"]
            for k, v in part["errors"].items():
                result.baseline_errors[k] = result.baseline_errors.get(k, 0) + v
        time.sleep(0.5)
        arrivals = []
        distinct = 0
        for r in receivers.values():
            records = r.dump()["records"]
            arrivals += [at for _key, at in records]
            distinct += len({key for key, _at in records})
        result.baseline_received = len(arrivals)
        result.baseline_distinct = distinct
        result.baseline_cpu = cpu
        if arrivals:
            result.baseline_seconds = max(arrivals) - start_at
        say(f"  {result.baseline_per_s:,.0f} deliveries/s")


# --------------------------------------------------------------------------- report


def fmt(value: float, digits: int = 0) -> str:
    return "-" if value != value else f"{value:,.{digits}f}"


def table(header: list[str], rows: list[list[str]], left: int = 2) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i < left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def aim_lines(results: list[Result]) -> list[str]:
    lines = []
    for r in results:
        what = f"{AIM_DELIVERIES:,} deliveries drained within {AIM_SECONDS:g} s ({r.db})"
        if r.aim_seconds == r.aim_seconds:
            ok = r.aim_seconds <= AIM_SECONDS
            since = "the workers started" if r.burst else "the first rating"
            lines.append(
                f"[{' ok ' if ok else 'MISS'}] {what}: the {AIM_DELIVERIES:,}th arrived "
                f"{r.aim_seconds:.1f} s after {since} ({r.within_aim:,} within {AIM_SECONDS:g} s)"
                + (f"; all {r.total:,} after {r.drain_seconds:.1f} s" if r.drained else "")
            )
        elif r.drained and r.per_s == r.per_s:
            needed = AIM_DELIVERIES / r.per_s
            lines.append(
                f"[ -- ] {what}: only {r.total:,} deliveries (--responses "
                f"{AIM_DELIVERIES // 2:,} or more measures it); at {r.per_s:,.0f}/s "
                f"{AIM_DELIVERIES:,} would take ~{needed:.0f} s"
            )
        else:
            lines.append(
                f"[MISS] {what}: not all deliveries arrived; {r.within_aim:,} within "
                f"{AIM_SECONDS:g} s"
            )
    return lines


def report(results: list[Result], args: argparse.Namespace, settings: list[str]) -> None:
    print()
    print("npsloop webhook delivery benchmark")
    for line in settings:
        print(f"  {line}")
    print()
    header = ["db", "jobs", "responses", "ratings/s", "deliveries/s", "drained s"]
    header += ["p50 s", "p99 s", "max s", "baseline/s", "ratio"]
    rows = []
    for r in results:
        ratio = r.per_s / r.baseline_per_s if r.baseline_per_s == r.baseline_per_s else None
        rows.append(
            [
                r.db,
                args.jobs,
                f"{r.responses:,}",
                fmt(r.ratings_per_s),
                fmt(r.per_s),
                fmt(r.drain_seconds, 1) if r.drained else "not all",
                fmt(percentile(r.delays, 50), 2),
                fmt(percentile(r.delays, 99), 2),
                fmt(max(r.delays) if r.delays else float("nan"), 2),
                fmt(r.baseline_per_s),
                f"{ratio:.2f}" if ratio is not None and ratio == ratio else "-",
            ]
        )
    table(header, rows)
    print(
        "  deliveries/s: 2 x responses ÷ drained s; drained s: from the first rating to the\n"
        "  last arrival at a receiver; p50/p99/max: rating (Response.created_at) → arrival;\n"
        "  baseline/s: the same POSTs sent straight from the same number of threads."
    )
    if args.burst:
        print(
            "  --burst: every rating was made before the workers started; drained s counts\n"
            "  from the workers' start, p50/p99/max still from each rating."
        )
    print()
    print("counts (every delivery must arrive exactly once):")
    header = ["db", "channel", "expected", "stored", "sent", "received", "lost", "duplicated"]
    header += ["failed", "pending", "retried", "unknown"]
    rows = []
    for r in results:
        for c in r.checks:
            rows.append(
                [
                    r.db,
                    c.kind,
                    f"{c.expected:,}",
                    f"{c.stored:,}",
                    f"{c.delivered:,}",
                    f"{c.received:,}",
                    f"{c.lost:,}",
                    f"{c.duplicated:,}",
                    f"{c.failed:,}",
                    f"{c.pending:,}",
                    f"{c.retried:,}",
                    f"{c.unknown:,}",
                ]
            )
    table(header, rows)
    print(
        "  stored: Delivery rows; sent: rows npsloop marked delivered; received: POSTs at the\n"
        "  receiver; lost: expected - distinct ids received (webhook-id; the response in a Slack\n"
        "  message); duplicated: received - distinct; retried: rows that took > 1 attempt."
    )
    for r in results:
        extra = []
        extra.append(
            f"signatures verified with standardwebhooks: {r.verified:,} ok, "
            f"{r.bad_signatures:,} bad"
        )
        extra.append(f"attempts logged: {r.attempts:,} ({r.failed_attempts:,} failed)")
        if r.rating_errors:
            extra.append(f"rating errors: {r.rating_errors}")
        if r.baseline_received:
            base_lost = r.total - r.baseline_distinct
            extra.append(
                f"baseline: {r.baseline_received:,} received, {base_lost:,} lost, "
                f"errors {r.baseline_errors or 0}"
            )
        print(f"  {r.db}: " + "; ".join(extra))
        if r.jobs:
            print(
                "    jobs run (count, mean wall ms): "
                + ", ".join(
                    f"{name} {n:,} ({seconds / n * 1000:.0f})"
                    for name, (n, seconds) in sorted(r.jobs.items())
                )
            )
        for sample in sorted(set(r.errors_sample))[:3]:
            print(f"    last_error: {sample}")
        if r.worker_log_errors:
            print(f"    {len(r.worker_log_errors)} ERROR/WARNING lines in the worker logs, e.g.:")
            for ln in r.worker_log_errors[:3]:
                print(f"      {ln[:200]}")
    print()
    print("where the time goes (seconds, p50 / p99):")
    header = ["db", "rating → row stored", "row → claimed", "claimed → arrival", "total"]
    rows = []
    for r in results:
        rows.append(
            [r.db]
            + [
                f"{fmt(percentile(v, 50), 2)} / {fmt(percentile(v, 99), 2)}"
                for v in (r.stage_fanout, r.stage_queue, r.stage_send, r.delays)
            ]
        )
    table(header, rows, left=1)
    print(
        "  rating → row stored: the fan-out job's wait and run; row → claimed: 0 when the\n"
        "  fan-out job makes the first try itself (the row is stored claimed), else the\n"
        "  delivery job's wait in the queue; claimed → arrival: building, signing and the POST."
    )
    print()
    print("CPU (seconds of CPU per 1,000 deliveries, during the npsloop run):")
    header = ["db", "workers", "rater", "receivers", "postgres", "busy", "others", "baseline"]
    header += ["npsloop cap/s", "baseline cap/s"]
    rows = []
    cores = os.cpu_count() or 1
    for r in results:
        k = r.total / 1000
        c = r.cpu
        pg = c["postgres"] if c["postgres"] == c["postgres"] else 0.0
        ours = c["workers"] + c["rater"] + c["receivers"] + pg
        others = max(0.0, c["busy"] - ours) / c["total"] if c.get("total") else float("nan")
        app = c["workers"] + c["rater"] + pg
        rows.append(
            [
                r.db,
                fmt(c["workers"] / k, 2),
                fmt(c["rater"] / k, 2),
                fmt(c["receivers"] / k, 2),
                fmt(c["postgres"] / k, 2),
                f"{c['busy'] / c['total']:.0%}" if c.get("total") else "-",
                f"{others:.0%}",
                fmt(r.baseline_cpu / k, 2),
                fmt(cores * r.total / app) if app else "-",
                fmt(cores * r.total / r.baseline_cpu) if r.baseline_cpu else "-",
            ]
        )
    table(header, rows, left=1)
    print(
        "  workers: the `npsloop worker` processes (SQLite runs inside them); rater: the\n"
        "  record_rating process(es); postgres: every PostgreSQL process on the machine; busy:\n"
        "  share of the machine's CPU in use; others: share used outside this benchmark;\n"
        "  baseline: the baseline senders' CPU. cap/s: the most deliveries/s this machine's\n"
        f"  {cores} cores could give at that CPU cost if nothing else ran (npsloop: workers +\n"
        "  rater + PostgreSQL; baseline: its senders; the receivers are left out of both)."
    )
    print()
    print("aim:")
    for line in aim_lines(results):
        print(f"  {line}")


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--responses", type=int, default=10_000, help="ratings (N)")
    parser.add_argument(
        "--workers", type=int, default=2, help="`npsloop worker` processes (and baseline ones)"
    )
    parser.add_argument(
        "--threads", type=int, default=4, help="threads per worker (env WORKERS), and baseline"
    )
    parser.add_argument("--raters", type=int, default=1, help="record_rating processes")
    parser.add_argument("--jobs", choices=["sqlite", "redis"], default="sqlite")
    parser.add_argument(
        "--redis-db", type=int, default=11, help="with --jobs redis (must be empty)"
    )
    parser.add_argument(
        "--verify-every", type=int, default=10, help="verify 1 in this many webhook signatures"
    )
    parser.add_argument("--stall", type=float, default=90, help="give up after s without progress")
    parser.add_argument("--timeout", type=float, default=900, help="s after the last rating")
    parser.add_argument("--grace", type=float, default=2, help="s to wait for late duplicates")
    parser.add_argument(
        "--burst",
        action="store_true",
        help="rate everything first, then start the workers on the backlog",
    )
    parser.add_argument("--no-baseline", dest="baseline", action="store_false")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("receive", help="internal: one HTTP receiver")
    p.add_argument("--kind", choices=["webhook", "slack"], required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--verify-every", type=int, default=10)
    p = sub.add_parser("setup", help="internal: organization, channels, invitations")
    p.add_argument("--responses", type=int, required=True)
    p.add_argument("--webhook-url", required=True)
    p.add_argument("--slack-url", required=True)
    p = sub.add_parser("rate", help="internal: one rater process")
    p.add_argument("--survey-id", type=int, required=True)
    p.add_argument("--part", type=int, default=0)
    p.add_argument("--parts", type=int, default=1)
    p.add_argument("--start-at", type=float, default=0)
    p = sub.add_parser("export", help="internal: the database's view after a run")
    p.add_argument("--out", required=True)
    p.add_argument("--jobs", required=True)
    p = sub.add_parser("baseline-send", help="internal: one baseline sender process")
    p.add_argument("--jobs", required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--part", type=int, default=0)
    p.add_argument("--parts", type=int, default=1)
    p.add_argument("--start-at", type=float, default=0)
    return parser


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    internal = {
        "receive": receive,
        "setup": setup,
        "rate": rate,
        "export": export,
        "baseline-send": baseline_send,
    }
    if args.command:
        return internal[args.command](args)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    jobs = (
        f"Redis {REDIS_URL}/{args.redis_db}"
        if args.jobs == "redis"
        else "SqliteHuey file in the data dir"
    )
    settings = [
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, load average before the start "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"{args.responses:,} ratings (record_rating on sent invitations, {args.raters} "
        f"process(es)), each matching 2 rules: webhook (Standard Webhooks) + Slack = "
        f"{2 * args.responses:,} deliveries",
        f"`npsloop worker`: {args.workers} process(es) x {args.threads} threads; jobs: {jobs}"
        + ("; --burst: workers started after all ratings" if args.burst else ""),
        f"receivers: one ThreadingHTTPServer process per channel on 127.0.0.1; 1 in "
        f"{args.verify_every} webhook signatures verified",
        f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL)",
    ]
    results: list[Result] = []
    with contextlib.ExitStack() as stack:
        try:
            if "postgres" in dbs:
                settings.append(describe_postgres())
            bench = Bench(args, stack)
            for db in dbs:
                results.append(bench.measure(db))
        except KeyboardInterrupt:
            print("\ninterrupted: stopping the processes and cleaning up", file=sys.stderr)
            return 130
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    report(results, args, settings)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "settings": settings,
                    "results": [
                        {
                            "db": r.db,
                            "jobs": args.jobs,
                            "responses": r.responses,
                            "ratings_per_s": r.ratings_per_s,
                            "deliveries_per_s": r.per_s,
                            "burst": r.burst,
                            "drain_seconds": r.drain_seconds,
                            "aim_seconds": r.aim_seconds,
                            "within_aim": r.within_aim,
                            "p50_s": percentile(r.delays, 50),
                            "p99_s": percentile(r.delays, 99),
                            "baseline_per_s": r.baseline_per_s,
                            "checks": [
                                {
                                    "channel": c.kind,
                                    "sent": c.delivered,
                                    "received": c.received,
                                    "lost": c.lost,
                                    "duplicated": c.duplicated,
                                }
                                for c in r.checks
                            ],
                            "cpu": r.cpu,
                        }
                        for r in results
                    ],
                    "aims": aim_lines(results),
                },
                indent=2,
            )
        )
    failed = any(c.lost or c.duplicated for r in results for c in r.checks)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
