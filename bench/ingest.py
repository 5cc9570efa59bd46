"""Ingest benchmark: Segment identify events over HTTP into npsloop served by gunicorn.

    .venv/bin/python bench/ingest.py [--db sqlite|postgres|both] [--seconds 10] ...

For each database (SQLite, PostgreSQL) it starts npsloop as in production
(`npsloop serve --no-worker`: gunicorn, sync workers, the production settings) on a
fresh data directory and database, then a load generator (a separate process: httpx
in a thread pool) sends single identify calls (`POST /segment/v1/identify`) and
batches (`POST /segment/v1/batch`, 100 events each). Then the same against the
baseline (bench/baseline_app.py: plain WSGI + plain SQL into the same table, same
gunicorn, same worker count). It prints events/s, requests/s, p50/p99 latency and
the ratio npsloop ÷ baseline, checks the aims, and optionally measures how fast
`npsloop worker` processes the backlog afterwards. See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_HOST_URL = PG_ADMIN_URL.rsplit("/", 1)[0]
MODES = ("single", "batch")
AIM_SINGLE = 1_000  # single identify calls per second, PostgreSQL
AIM_BATCH = 10_000  # events per second in batches of 100, PostgreSQL
AIM_RATIO = 0.5  # npsloop events/s ÷ baseline events/s, every database and mode

SETUP_SNIPPET = """
from npsloop.cli import _setup
_setup()
from npsloop.accounts.services import create_organization
from npsloop.surveys.services import create_survey
created = create_organization(
    name="Bench Inc", email="bench@example.com", password="bench-password-1234"
)
survey, key = create_survey(
    organization=created.organization, name="Bench NPS", segment_enabled=True
)
print("KEY=" + key)
"""


# --------------------------------------------------------------------------- load generator

FIRST = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas"]
LAST = ["Schmidt", "Meyer", "Weber", "Fischer", "Wagner", "Becker", "Hoffmann", "Koch"]
PLANS = ["free", "starter", "pro", "enterprise"]
LOCALES = ["en-US", "en-GB", "de-DE", "de-AT", "fr-FR"]
LIBRARY = {"name": "analytics-python", "version": "2.3.4"}


def identify_event(rnd: random.Random, now: str) -> dict[str, Any]:
    """An identify call as Segment's libraries send it; the messageId is unique."""
    n = rnd.randrange(1_000_000)
    first, last = rnd.choice(FIRST), rnd.choice(LAST)
    created = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
        seconds=rnd.randrange(60_000_000)
    )
    return {
        "type": "identify",
        "messageId": str(uuid.uuid4()),
        "userId": f"user-{n}",
        "anonymousId": None,
        "timestamp": now,
        "traits": {
            "email": f"{first.lower()}.{last.lower()}.{n}@example.com",
            "firstName": first,
            "lastName": last,
            "createdAt": created.isoformat().replace("+00:00", "Z"),
            "plan": rnd.choice(PLANS),
        },
        "context": {"locale": rnd.choice(LOCALES), "library": LIBRARY},
        "integrations": {},
    }


def body_for(mode: str, rnd: random.Random, batch_size: int) -> tuple[bytes, int]:
    now = dt.datetime.now(dt.UTC).isoformat()
    if mode == "single":
        return json.dumps(identify_event(rnd, now)).encode(), 1
    events = [identify_event(rnd, now) for _ in range(batch_size)]
    return json.dumps({"batch": events, "sentAt": now}).encode(), batch_size


def loadgen(args: argparse.Namespace) -> int:
    """One load generator process; prints its measurements as one JSON line."""
    import httpx

    path = "/segment/v1/identify" if args.mode == "single" else "/segment/v1/batch"
    url = args.url.rstrip("/") + path
    auth = "Basic " + base64.b64encode(f"{args.key}:".encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    # Wall-clock times shared by every load generator process of a run.
    start, warm_end = args.start_at, args.start_at + args.warmup
    end = warm_end + args.seconds
    lock = threading.Lock()
    latencies: list[float] = []
    totals = {"requests": 0, "events": 0, "ok_events": 0, "errors": {}}

    def run(index: int) -> None:
        rnd = random.Random(f"{os.getpid()}-{index}")
        mine: list[float] = []
        requests = events = ok_events = 0
        errors: dict[str, int] = {}
        with httpx.Client(headers=headers, timeout=60) as client:
            while time.time() < start:
                time.sleep(0.005)
            while True:
                body, count = body_for(args.mode, rnd, args.batch_size)
                began = time.time()
                if began >= end:
                    break
                try:
                    status = client.post(url, content=body).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                done = time.time()
                if status == 200:
                    ok_events += count
                else:
                    errors[str(status)] = errors.get(str(status), 0) + 1
                if warm_end <= done <= end and status == 200:
                    mine.append(done - began)
                    requests += 1
                    events += count
        with lock:
            latencies.extend(mine)
            totals["requests"] += requests
            totals["events"] += events
            totals["ok_events"] += ok_events
            for key, value in errors.items():
                totals["errors"][key] = totals["errors"].get(key, 0) + value

    # Daemon threads: Ctrl-C ends this process at once.
    threads = [
        threading.Thread(target=run, args=(i,), daemon=True) for i in range(args.concurrency)
    ]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, warm_end - time.time()))
    cpu_start = time.process_time()
    time.sleep(max(0.0, end - time.time()))
    cpu = time.process_time() - cpu_start
    for thread in threads:
        thread.join()
    print(json.dumps({**totals, "latencies": latencies, "cpu": cpu, "seconds": args.seconds}))
    return 0


# --------------------------------------------------------------------------- results


@dataclass
class Run:
    requests: int = 0
    events: int = 0
    ok_events: int = 0
    seconds: float = 0.0
    cpu: float = 0.0  # load generator CPU seconds during the timed window
    app_cpu: float = float("nan")  # the server's processes (gunicorn, SQLite inside them)
    db_cpu: float = float("nan")  # every PostgreSQL process on the machine
    busy: float = float("nan")  # the machine's CPU seconds not idle (all cores)
    total: float = float("nan")  # the machine's CPU seconds (all cores)
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def busy_share(self) -> float:
        return self.busy / self.total if self.total else float("nan")

    @property
    def others_share(self) -> float:
        """CPU used by processes outside this benchmark (another test run, say)."""
        if not self.total:
            return float("nan")
        ours = self.app_cpu + self.cpu + (self.db_cpu if self.db_cpu == self.db_cpu else 0)
        return max(0.0, self.busy - ours) / self.total

    def per_event_us(self, cpu_seconds: float) -> float:
        return cpu_seconds / self.events * 1e6 if self.events else float("nan")

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


@dataclass
class Processing:
    backlog: int
    processed: int
    failed: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.processed / self.seconds if self.seconds else 0.0


# --------------------------------------------------------------------------- databases


class Database:
    """A fresh database per run: a SQLite file in the data dir or a PostgreSQL database."""

    def __init__(self, kind: str, data_dir: Path):
        self.kind = kind
        self.path = data_dir / "npsloop.sqlite3"
        self.name = f"npsloop_bench_{os.getpid()}"
        self.url = f"{PG_HOST_URL}/{self.name}" if kind == "postgres" else ""

    @property
    def baseline_url(self) -> str:
        return self.url or f"sqlite:///{self.path}"

    def create(self) -> None:
        if self.kind == "postgres":
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self._admin(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        if self.kind == "postgres":
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)

    def scalar(self, sql: str) -> Any:
        if self.kind == "postgres":
            import psycopg

            with psycopg.connect(self.url, autocommit=True) as conn:
                return conn.execute(sql).fetchone()[0]
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()


def describe_postgres() -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        sync = conn.execute("SHOW synchronous_commit").fetchone()[0]
        fsync = conn.execute("SHOW fsync").fetchone()[0]
    return f"PostgreSQL {version} at {PG_HOST_URL} (synchronous_commit={sync}, fsync={fsync})"


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """Every server and worker we start, in its own process group; all stopped on exit."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen] = []

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        else:
            # The leader is gone; its children (gunicorn workers) may not be.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.running):
            self.stop(proc)


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}):\n{tail(log)}")
        try:
            httpx.get(url + "/segment/v1/identify", timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s:\n{tail(log)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------- CPU accounting

TICK = os.sysconf("SC_CLK_TCK")


def _stats() -> list[tuple[str, list[str]]]:
    """(command name, the fields after it) of every process in /proc."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                raw = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            name, _, rest = raw[raw.index("(") + 1 :].rpartition(")")
            found.append((name, rest.split()))
    return found


def cpu_sample(pgid: int) -> tuple[float, float, float, float]:
    """CPU seconds of a process group, of PostgreSQL, and the machine's busy and total time."""
    group = postgres = 0
    for name, fields in _stats():
        # fields[2] is the process group; [11:15] utime, stime, cutime, cstime.
        ticks = sum(int(x) for x in fields[11:15])
        if int(fields[2]) == pgid:
            group += ticks
        elif name == "postgres":
            postgres += ticks
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    total = sum(int(x) for x in cpu[:8])
    idle = int(cpu[3]) + int(cpu[4])
    return group / TICK, postgres / TICK, (total - idle) / TICK, total / TICK


# --------------------------------------------------------------------------- one benchmark


class Bench:
    def __init__(self, args: argparse.Namespace, stack: contextlib.ExitStack):
        self.args = args
        self.stack = stack
        self.procs = Processes()
        stack.callback(self.procs.stop_all)
        self.results: dict[tuple[str, str, str], Run] = {}
        self.processing: dict[str, Processing] = {}
        self.notes: list[str] = []

    def say(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def environment(self, db: str, target: str) -> tuple[dict[str, str], Path, Database]:
        """A fresh data dir and database, migrated, with an organization and a survey."""
        data_dir = Path(tempfile.mkdtemp(prefix=f"npsloop-bench-{db}-{target}-"))
        self.stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
        database = Database(db, data_dir)
        database.create()
        self.stack.callback(database.drop)
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "JOBS_URL", "DJANGO_SETTINGS_MODULE", "BASE_URL"}
        }
        env |= {
            "NPSLOOP_DATA_DIR": str(data_dir),
            "JOBS_URL": f"sqlite:///{data_dir / 'jobs.sqlite3'}",
            "DEBUG": "0",
            "PYTHONUNBUFFERED": "1",
        }
        if database.url:
            env["DATABASE_URL"] = database.url
        self.run_quiet([PY, "-m", "npsloop.cli", "migrate"], env)
        out = self.run_quiet([PY, "-c", SETUP_SNIPPET], env)
        key = next(line[4:] for line in out.splitlines() if line.startswith("KEY="))
        env["BENCH_KEY"] = key
        env["BENCH_BASELINE_DB"] = database.baseline_url
        return env, data_dir, database

    def run_quiet(self, argv: list[str], env: dict[str, str]) -> str:
        done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv[:4])} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def server(self, target: str, env: dict[str, str], data_dir: Path) -> tuple[str, Any]:
        port = free_port()
        workers = str(self.args.workers)
        if target == "npsloop":
            argv = [PY, "-m", "npsloop.cli", "serve", "--no-worker", "--host", "127.0.0.1"]
            argv += ["--port", str(port), "--web-workers", workers]
        else:
            # The same gunicorn command line as `npsloop serve` builds, for the baseline app.
            argv = [PY, "-m", "gunicorn", "bench.baseline_app:application"]
            argv += ["--bind", f"127.0.0.1:{port}", "--workers", workers]
            argv += ["--access-logfile", "-", "--no-control-socket"]
            argv += ["--forwarded-allow-ips", "127.0.0.1"]
        log = data_dir / f"{target}-server.log"
        proc = self.procs.start(argv, env, log)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, log)
        return url, (proc, log)

    def load(self, url: str, key: str, mode: str, pgid: int) -> Run:
        args = self.args
        clients = max(1, min(args.clients, args.concurrency))
        start_at = time.time() + 1.5  # time for the generator processes to import httpx
        procs = []
        for i in range(clients):
            share = args.concurrency // clients + (1 if i < args.concurrency % clients else 0)
            argv = [PY, str(Path(__file__).resolve()), "loadgen", "--url", url, "--key", key]
            argv += ["--mode", mode, "--concurrency", str(share)]
            argv += ["--batch-size", str(args.batch_size), "--start-at", repr(start_at)]
            argv += ["--warmup", str(args.warmup), "--seconds", str(args.seconds)]
            procs.append(subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True))
        run = Run(seconds=args.seconds)
        samples = []

        def sample() -> None:
            for at in (start_at + args.warmup, start_at + args.warmup + args.seconds):
                time.sleep(max(0.0, at - time.time()))
                samples.append(cpu_sample(pgid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            for proc in procs:
                out, _ = proc.communicate()
                if proc.returncode:
                    raise RuntimeError(f"the load generator failed ({proc.returncode})")
                part = json.loads(out.strip().splitlines()[-1])
                run.requests += part["requests"]
                run.events += part["events"]
                run.ok_events += part["ok_events"]
                run.cpu += part["cpu"]
                run.latencies += part["latencies"]
                for k, v in part["errors"].items():
                    run.errors[k] = run.errors.get(k, 0) + v
            sampler.join(timeout=5)
            if len(samples) == 2:
                (app0, db0, busy0, total0), (app1, db1, busy1, total1) = samples
                run.app_cpu, run.db_cpu = app1 - app0, db1 - db0
                run.busy, run.total = busy1 - busy0, total1 - total0
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        return run

    def measure(self, db: str, target: str) -> None:
        env, data_dir, database = self.environment(db, target)
        url, (proc, log) = self.server(target, env, data_dir)
        self.say(f"{db} {target}: serving at {url} (process group {proc.pid}), log {log}")
        answered = 0
        for mode in MODES:
            self.say(f"{db} {target} {mode}: warm-up {self.args.warmup} s, {self.args.seconds} s")
            run = self.load(url, env["BENCH_KEY"], mode, proc.pid)
            if db != "postgres":
                run.db_cpu = float("nan")  # SQLite works inside the app's processes
            self.results[db, target, mode] = run
            answered += run.ok_events
            errors = f", errors {run.errors}" if run.errors else ""
            self.say(
                f"  {run.events_per_s:,.0f} events/s, p50 {run.percentile(50):.1f} ms, "
                f"p99 {run.percentile(99):.1f} ms{errors}"
            )
            if run.errors:
                self.say(f"  server log:\n{tail(log, 15)}")
        self.procs.stop(proc)
        stored = database.scalar("SELECT count(*) FROM ingest_ingestevent")
        if stored != answered:
            self.notes.append(
                f"{db} {target}: {stored} rows stored but {answered} events answered 200"
            )
        if target == "npsloop" and self.args.process_seconds > 0:
            self.processing[db] = self.process_backlog(env, data_dir, database)
        # This run's database and data dir are not needed any more.
        database.drop()
        shutil.rmtree(data_dir, ignore_errors=True)

    def process_backlog(self, env: dict[str, str], data_dir: Path, database: Database):
        """Start `npsloop worker` on the backlog; events/s from its first processed event."""
        backlog = database.scalar("SELECT count(*) FROM ingest_ingestevent WHERE state = 'new'")
        self.say(f"{database.kind} npsloop worker: {backlog:,} events waiting")
        finished = "SELECT count(*) FROM ingest_ingestevent WHERE state IN ('done', 'failed')"
        log = data_dir / "worker.log"
        proc = self.procs.start([PY, "-m", "npsloop.cli", "worker"], env, log)
        first_at = first_count = None
        count, now = 0, time.monotonic()
        deadline = now + 60  # for the worker to start and take the first event
        try:
            while True:
                time.sleep(0.25)
                if proc.poll() is not None:
                    raise RuntimeError(f"npsloop worker exited:\n{tail(log)}")
                count, now = database.scalar(finished), time.monotonic()
                if first_at is None:
                    if count:
                        first_at, first_count = now, count
                    elif now > deadline:
                        raise RuntimeError(f"npsloop worker processed nothing:\n{tail(log)}")
                elif now - first_at >= self.args.process_seconds or count >= backlog:
                    break
        finally:
            self.procs.stop(proc)
        failed = database.scalar("SELECT count(*) FROM ingest_ingestevent WHERE state = 'failed'")
        return Processing(backlog, count - first_count, failed, now - first_at)


# --------------------------------------------------------------------------- report


def fmt(value: float, digits: int = 0) -> str:
    return "-" if value != value else f"{value:,.{digits}f}"


def report(bench: Bench, args: argparse.Namespace, dbs: list[str], settings: list[str]) -> None:
    print()
    print("npsloop ingest benchmark")
    for line in settings:
        print(f"  {line}")
    print()
    header = ["db", "mode", "events/s", "requests/s", "p50 ms", "p99 ms"]
    header += ["baseline ev/s", "ratio", "errors"]
    rows = []
    for db in dbs:
        for mode in MODES:
            ours = bench.results.get((db, "npsloop", mode))
            base = bench.results.get((db, "baseline", mode))
            if ours is None:
                continue
            ratio = ours.events_per_s / base.events_per_s if base and base.events_per_s else None
            errors = sum(ours.errors.values())
            rows.append(
                [
                    db,
                    mode,
                    fmt(ours.events_per_s),
                    fmt(ours.requests_per_s),
                    fmt(ours.percentile(50), 1),
                    fmt(ours.percentile(99), 1),
                    fmt(base.events_per_s) if base else "-",
                    f"{ratio:.2f}" if ratio is not None else "-",
                    str(errors),
                ]
            )
    if rows:
        table(header, rows)
    else:
        print("(npsloop not measured: --target baseline)")
    print()
    print("baseline (bench/baseline_app.py) and load generator details:")
    header = ["db", "mode", "server", "events/s", "requests/s", "p50 ms", "p99 ms"]
    header += ["app µs/ev", "PG µs/ev", "client", "busy", "others", "errors"]
    rows = []
    for db in dbs:
        for mode in MODES:
            for target in ("npsloop", "baseline"):
                run = bench.results.get((db, target, mode))
                if run is None:
                    continue
                rows.append(
                    [
                        db,
                        mode,
                        target,
                        fmt(run.events_per_s),
                        fmt(run.requests_per_s),
                        fmt(run.percentile(50), 1),
                        fmt(run.percentile(99), 1),
                        fmt(run.per_event_us(run.app_cpu)),
                        fmt(run.per_event_us(run.db_cpu)) if db == "postgres" else "-",
                        f"{run.cpu / run.seconds:.0%}",
                        f"{run.busy_share:.0%}",
                        f"{run.others_share:.0%}",
                        json.dumps(run.errors) if run.errors else "0",
                    ]
                )
    table(header, rows)
    print(
        "  app µs/ev: CPU time of the server's processes (gunicorn master and workers; with\n"
        "  SQLite that includes the database) per event; PG µs/ev: CPU time of all PostgreSQL\n"
        "  processes per event; client: the load generator's CPU (1 core = 100%); busy: share of\n"
        "  the machine's CPU in use; others: share used by processes outside this benchmark."
    )
    noisy = [run for run in bench.results.values() if run.others_share > 0.1]
    if noisy:
        worst = max(run.others_share for run in noisy)
        print(
            f"  WARNING: other processes used up to {worst:.0%} of the machine's CPU during "
            f"{len(noisy)} of the runs;\n  their numbers are low and noisy: run again on a "
            "quiet machine."
        )
    if bench.processing:
        print()
        threads = os.environ.get("WORKERS", "2")
        print(f"backlog processing afterwards (`npsloop worker`, {threads} threads, no HTTP load):")
        for db, p in bench.processing.items():
            drain = p.backlog / p.per_s if p.per_s else float("nan")
            print(
                f"  {db}: {p.per_s:,.0f} events/s processed over {p.seconds:.1f} s "
                f"({p.processed:,} of {p.backlog:,} waiting, {p.failed:,} failed); "
                f"the whole backlog would take ~{fmt(drain)} s"
            )
    for note in bench.notes:
        print(f"  WARNING: {note}")
    print()
    print("aims (from the issue):")
    for line in aims(bench, dbs):
        print(f"  {line}")


def aims(bench: Bench, dbs: list[str]) -> list[str]:
    lines = []
    pg = {m: bench.results.get(("postgres", "npsloop", m)) for m in MODES}
    for mode, aim, what in (
        ("single", AIM_SINGLE, "single identify calls/s"),
        ("batch", AIM_BATCH, "events/s in batches"),
    ):
        run = pg[mode]
        if run is None:
            lines.append(f"[ -- ] >= {aim:,} {what} on PostgreSQL: not measured")
            continue
        ok = run.events_per_s >= aim
        lines.append(
            f"[{' ok ' if ok else 'MISS'}] >= {aim:,} {what} on PostgreSQL: {run.events_per_s:,.0f}"
        )
    for db in dbs:
        for mode in MODES:
            ours = bench.results.get((db, "npsloop", mode))
            base = bench.results.get((db, "baseline", mode))
            if not ours or not base or not base.events_per_s:
                continue
            ratio = ours.events_per_s / base.events_per_s
            lines.append(
                f"[{' ok ' if ratio >= AIM_RATIO else 'MISS'}] ratio to the baseline >= "
                f"{AIM_RATIO} ({db}, {mode}): {ratio:.2f}"
            )
    return lines


def table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    left = {0, 1, 2} if "server" in header else {0, 1}

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i in left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


# --------------------------------------------------------------------------- main


def default_workers() -> int:
    return 2 * (os.cpu_count() or 2) + 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=8, help="timed seconds per row")
    parser.add_argument("--warmup", type=float, default=2, help="untimed seconds before each")
    parser.add_argument("--concurrency", type=int, default=16, help="connections in flight")
    parser.add_argument(
        "--clients", type=int, default=1, help="load generator processes (share --concurrency)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="gunicorn workers for npsloop and the baseline (default 2 x cores + 1)",
    )
    parser.add_argument(
        "--target",
        choices=["both", "npsloop", "baseline"],
        default="both",
        help="which servers to measure (the ratio needs both)",
    )
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument(
        "--process-seconds",
        type=float,
        default=10,
        help="afterwards, run `npsloop worker` this long on the backlog (0: skip)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    sub = parser.add_subparsers(dest="command")
    gen = sub.add_parser("loadgen", help="internal: one load generator process")
    gen.add_argument("--url", required=True)
    gen.add_argument("--key", required=True)
    gen.add_argument("--mode", choices=MODES, required=True)
    gen.add_argument("--concurrency", type=int, required=True)
    gen.add_argument("--batch-size", type=int, required=True)
    gen.add_argument("--start-at", type=float, required=True)
    gen.add_argument("--warmup", type=float, required=True)
    gen.add_argument("--seconds", type=float, required=True)
    return parser


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "loadgen":
        return loadgen(args)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in background
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    import gunicorn

    settings = [
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, load average before the start "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"gunicorn {gunicorn.__version__}: {args.workers} sync workers for npsloop and for the "
        "baseline (no keep-alive: sync workers close each connection)",
        f"load: {args.concurrency} concurrent connections from {args.clients} httpx process(es), "
        f"{args.warmup:g} s warm-up + {args.seconds:g} s timed per row; batches of "
        f"{args.batch_size} identify events",
        f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL), jobs queue: SqliteHuey "
        "file in the data dir",
        "timed: the HTTP answer, after the events are committed (and the job enqueued); "
        "the npsloop worker is NOT running during the timed part",
    ]
    bench = None
    with contextlib.ExitStack() as stack:
        try:
            if "postgres" in dbs:
                settings.insert(4, describe_postgres())
            bench = Bench(args, stack)
            for db in dbs:
                for target in ("npsloop", "baseline"):
                    if args.target in ("both", target):
                        bench.measure(db, target)
        except KeyboardInterrupt:
            print("\ninterrupted: stopping the servers and cleaning up", file=sys.stderr)
            return 130
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the cleanup finish
    signal.signal(signal.SIGINT, signal.default_int_handler)
    report(bench, args, dbs, settings)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "settings": settings,
                    "results": [
                        {
                            "db": db,
                            "server": target,
                            "mode": mode,
                            "events_per_s": run.events_per_s,
                            "requests_per_s": run.requests_per_s,
                            "p50_ms": run.percentile(50),
                            "p99_ms": run.percentile(99),
                            "errors": run.errors,
                        }
                        for (db, target, mode), run in bench.results.items()
                    ],
                    "processing": {
                        db: {"events_per_s": p.per_s, "backlog": p.backlog, "failed": p.failed}
                        for db, p in bench.processing.items()
                    },
                    "aims": aims(bench, dbs),
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
