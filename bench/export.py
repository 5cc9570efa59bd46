"""Export benchmark: a million responses as JSON Lines and CSV over HTTP.

    .venv/bin/python bench/export.py [--db sqlite|postgres|both] [--rows 1000000] [--reuse]

For each database the fill of bench/fill.py (one organization, 1,000,000 responses over
two years; with --reuse the kept one) is served as in production (`npsloop serve
--no-worker`: gunicorn as npsloop configures it, the production settings). With a read-only API
token, `GET /api/v1/responses/export?format=jsonl|csv` (no filter: every response) is
downloaded to a file while the RSS of the gunicorn workers is watched. The baseline is
npsloop's own export statement (the database writes each line) run on a plain
driver connection (sqlite3 / psycopg COPY, no Django, no HTTP), writing the lines to a
file. It prints rows/s, time to the first byte, the
worker's peak memory, the ratio npsloop ÷ baseline, and whether the aims (at least
50,000 rows/s, peak server memory under 200 MB, within 2x of the baseline) are met.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import fill  # noqa: E402
from bench.ingest import Processes, cpu_sample, free_port, tail  # noqa: E402

PY = sys.executable
AIM_ROWS_PER_S = 50_000
AIM_PEAK_MB = 200.0
AIM_RATIO = 0.5  # npsloop rows/s ÷ baseline rows/s: "within 2x"
FORMATS = ("jsonl", "csv")
TOKEN_NAME = "bench/export.py"
CHUNK = 2000  # rows per fetch on SQLite, as npsloop reads them
SAMPLE_EVERY = 0.02  # seconds between RSS samples
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

TOKEN_SNIPPET = """
import json, sys
from npsloop.cli import _setup
_setup()
from django.contrib.auth import get_user_model
from npsloop.accounts.models import ApiToken, Organization
from npsloop.accounts.services import create_api_token
info = json.loads(sys.argv[1])
org = Organization.objects.get(pk=info["org"])
ApiToken.objects.filter(organization=org, name=sys.argv[2]).delete()
_token, key = create_api_token(
    organization=org, user=get_user_model().objects.get(pk=info["user"]), name=sys.argv[2],
    scope=ApiToken.Scope.READ,
)
print("TOKEN=" + key)
"""

# --------------------------------------------------------------------------- baseline


def dump_statement(kind: str, fmt: str) -> tuple[str, list[Any], bytes]:
    """npsloop's export statement for the whole organization (export_lines.statement),
    in the driver's placeholders, and the file's header: the baseline runs the very same
    SQL. Django is set up only to read the table names, before the clock starts."""
    import django

    django.setup()
    from npsloop.api import export_lines

    vendor = "postgresql" if kind == "postgres" else "sqlite"
    sql, first = export_lines.statement(vendor, fmt, "r.organization_id = %s")
    header = export_lines.CSV_HEADER if fmt == "csv" else b""
    return fill.sql_for(kind, sql), first, header


def dump(args: argparse.Namespace) -> dict[str, Any]:
    """The baseline, in its own process: the export's statement on the driver's own
    connection (sqlite3: a plain cursor, 2,000 rows a fetch; psycopg: COPY in a
    transaction with the export's settings), every line written to a file."""
    kind, info = fill.child_info()
    sql, params, header = dump_statement(kind, args.format)
    params.append(info["org"])
    url = os.environ["DATABASE_URL"]
    rows = 0
    began, cpu = time.perf_counter(), time.process_time()
    with open(args.out, "wb") as out:
        out.write(header)
        if kind == "postgres":
            import psycopg

            from npsloop.api.export_lines import POSTGRES_SETTINGS

            with psycopg.connect(url) as conn, conn.transaction():
                for setting in POSTGRES_SETTINGS:
                    conn.execute(setting)
                with conn.cursor() as cur, cur.copy(sql, params) as copy:
                    for data in copy:
                        out.write(data)
                        rows += 1
        else:
            conn = sqlite3.connect(url.removeprefix("sqlite:///"))
            cur = conn.execute(sql, params)
            while batch := cur.fetchmany(CHUNK):
                out.write(("\n".join([row[0] for row in batch]) + "\n").encode())
                rows += len(batch)
            conn.close()
    seconds = time.perf_counter() - began
    return {
        "rows": rows,
        "seconds": seconds,
        "cpu": time.process_time() - cpu,
        "bytes": Path(args.out).stat().st_size,
        "peak_mb": status_kb(os.getpid(), "VmHWM") / 1024,
    }


# --------------------------------------------------------------------------- memory


def status_kb(pid: int, key: str) -> float:
    """A field of /proc/PID/status in kB (VmRSS, VmHWM), or NaN."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def rss_kb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE / 1024
    except (OSError, IndexError, ValueError):
        return float("nan")


def reset_peak(pid: int) -> bool:
    """Set VmHWM back to the current RSS (Linux ≥ 4.0; our own processes)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def cpu_ticks(pid: int) -> int:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
        fields = raw[raw.rindex(")") + 2 :].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return 0


def gunicorn_workers(leader: int) -> list[int]:
    """The gunicorn workers under `npsloop serve` (process `leader`): the children of
    its child that runs gunicorn."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                raw = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            fields = raw[raw.rindex(")") + 2 :].split()
            if int(fields[2]) == leader:  # same process group
                parents[int(entry.name)] = int(fields[1])
    masters = [pid for pid, parent in parents.items() if parent == leader]
    return sorted(pid for pid, parent in parents.items() if parent in masters)


class Watcher:
    """Samples the RSS of the workers while a download runs; the peak is VmHWM after a
    reset (exact), or the largest sample where the reset is not possible."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.idle = {pid: rss_kb(pid) for pid in pids}
        self.exact = all(reset_peak(pid) for pid in pids)
        self.sampled = dict(self.idle)
        self.ticks = {pid: cpu_ticks(pid) for pid in pids}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_EVERY):
            for pid in self.pids:
                self.sampled[pid] = max(self.sampled[pid], rss_kb(pid))

    def __enter__(self) -> Watcher:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()

    def result(self) -> tuple[int, float, float]:
        """(the worker that served: most CPU, its RSS before in MB, its peak in MB)."""
        served = max(self.pids, key=lambda pid: cpu_ticks(pid) - self.ticks[pid])
        peak = status_kb(served, "VmHWM") if self.exact else float("nan")
        if peak != peak:
            peak = self.sampled[served]
        return served, self.idle[served] / 1024, max(peak, self.sampled[served]) / 1024


# --------------------------------------------------------------------------- one run


@dataclass
class Run:
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    first_byte: float = float("nan")  # seconds to the answer's headers
    idle_mb: float = float("nan")
    peak_mb: float = float("nan")
    server_cpu: float = float("nan")  # CPU seconds of the server's process group
    db_cpu: float = float("nan")  # CPU seconds of PostgreSQL
    error: str = ""
    same: bool | None = None  # the same bytes as the baseline

    @property
    def rows_per_s(self) -> float:
        """Also for a download that was cut off: the rate until then."""
        return self.rows / self.seconds if self.seconds else 0.0


def worker_timeouts(log: Path, offset: int) -> list[str]:
    """gunicorn's WORKER TIMEOUT lines in the server log after `offset` bytes."""
    with open(log, "rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    return [
        line[line.index("WORKER TIMEOUT") :]
        for line in text.splitlines()
        if "WORKER TIMEOUT" in line
    ]


def count_rows(path: Path, fmt: str) -> int:
    if fmt == "jsonl":
        count = 0
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                count += block.count(b"\n")
        return count
    with open(path, encoding="utf-8-sig", newline="") as f:
        return max(0, sum(1 for _ in csv.reader(f)) - 1)


def first_difference(a: Path, b: Path) -> str:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        for number, (la, lb) in enumerate(zip(fa, fb, strict=False), start=1):
            if la != lb:
                return f"line {number}: npsloop {la[:200]!r} vs baseline {lb[:200]!r}"
    return "one file is longer"


def same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


class Bench:
    def __init__(self, args: argparse.Namespace, stack: contextlib.ExitStack):
        self.args = args
        self.stack = stack
        self.procs = Processes()
        stack.callback(self.procs.stop_all)
        self.work = Path(tempfile.mkdtemp(prefix="npsloop-bench-export-"))
        stack.callback(shutil.rmtree, self.work, ignore_errors=True)
        self.results: dict[tuple[str, str], dict[str, list[Run]]] = {}
        self.described: list[str] = []
        self.notes: list[str] = []

    def measure(self, kind: str) -> None:
        args = self.args
        filled = fill.prepare(kind, args.rows, reuse=args.reuse)
        if not filled.kept:
            self.stack.callback(filled.drop)
        info = filled.info
        counts, took = info["counts"], info["fill_seconds"]
        self.described.append(
            f"{kind}: {counts['responses']:,} responses, {counts['contacts']:,} contacts, "
            f"{counts['response_tags']:,} tag links; filled in {took['total']:.0f} s"
            + (" (reused from an earlier run)" if filled.reused else "")
        )
        env = filled.env | {"BENCH_FILL_INFO": json.dumps(info), "BENCH_DB_KIND": kind}
        if args.gunicorn_timeout is not None:
            env["GUNICORN_CMD_ARGS"] = f"--timeout {args.gunicorn_timeout}"
        token = self.token(env, info)
        try:
            url, proc, log = self.serve(env, token)
            workers = gunicorn_workers(proc.pid)
            fill.say(f"{kind}: serving at {url}, gunicorn workers {workers}, log {log}")
            self.warm_up(url, token, info)
            for fmt in args.formats:
                runs: dict[str, list[Run]] = {"npsloop": [], "baseline": []}
                self.results[kind, fmt] = runs
                for index in range(args.repeat):
                    order = ("npsloop", "baseline") if index % 2 == 0 else ("baseline", "npsloop")
                    paths = {}
                    for target in order:
                        paths[target] = self.work / f"{kind}-{target}.{fmt}"
                        if target == "npsloop":
                            seen = log.stat().st_size
                            run = self.download(url, token, fmt, paths[target], proc.pid)
                            killed = worker_timeouts(log, seen)
                            if killed and not run.error:
                                run.error = f"gunicorn {killed[0]}"
                        else:
                            run = self.baseline(env, fmt, paths[target])
                        runs[target].append(run)
                        fill.say(self.line(kind, fmt, target, run, counts["responses"]))
                    ours, theirs = runs["npsloop"][-1], runs["baseline"][-1]
                    if not ours.error and not theirs.error:
                        ours.same = same_bytes(paths["npsloop"], paths["baseline"])
                        if not ours.same:
                            self.notes.append(
                                f"{kind} {fmt}: npsloop's file differs from the baseline's at "
                                + first_difference(paths["npsloop"], paths["baseline"])
                            )
                    if ours.rows != counts["responses"] and not ours.error:
                        ours.error = f"{ours.rows:,} rows of {counts['responses']:,}"
                    for path in paths.values():
                        path.unlink(missing_ok=True)
            killed = worker_timeouts(log, 0)
            if killed:
                self.notes.append(
                    f"{kind}: gunicorn killed {len(killed)} worker(s) during the exports "
                    f"({killed[0]}): the sync worker's --timeout"
                )
            self.procs.stop(proc)
        finally:
            self.revoke(filled)

    def line(self, kind: str, fmt: str, target: str, run: Run, expected: int) -> str:
        if run.error:
            return f"{kind} {fmt} {target}: FAILED after {run.seconds:.1f} s: {run.error}"
        return (
            f"{kind} {fmt} {target}: {run.rows:,} rows in {run.seconds:.1f} s = "
            f"{run.rows_per_s:,.0f} rows/s, {run.bytes / 1e6:,.0f} MB, peak {run.peak_mb:.0f} MB"
            + ("" if run.rows == expected else f" (expected {expected:,} rows)")
        )

    def token(self, env: dict[str, str], info: dict[str, Any]) -> str:
        done = subprocess.run(
            [PY, "-c", TOKEN_SNIPPET, json.dumps(info), TOKEN_NAME],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"creating the API token failed:\n{done.stdout}\n{done.stderr}")
        return next(x[6:] for x in done.stdout.splitlines() if x.startswith("TOKEN="))

    def revoke(self, filled: fill.Filled) -> None:
        """Delete the benchmark's token again (a kept database stays as it was filled)."""
        with contextlib.suppress(Exception):
            conn = filled.connect()
            try:
                sql = fill.sql_for(filled.kind, "DELETE FROM accounts_apitoken WHERE name = %s")
                conn.execute(sql, (TOKEN_NAME,))
                conn.commit()
            finally:
                conn.close()

    def serve(self, env: dict[str, str], token: str):
        import httpx

        port = free_port()
        argv = [PY, "-m", "npsloop.cli", "serve", "--no-worker", "--host", "127.0.0.1"]
        argv += ["--port", str(port), "--web-workers", str(self.args.web_workers)]
        log = self.work / f"server-{port}.log"
        proc = self.procs.start(argv, env, log)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180  # `npsloop serve` migrates first
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited ({proc.returncode}):\n{tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                answer = httpx.get(
                    url + "/api/v1/surveys", headers={"Authorization": f"Bearer {token}"}, timeout=5
                )
                if answer.status_code == 200:
                    break
                raise RuntimeError(f"GET /api/v1/surveys: {answer.status_code} {answer.text}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer:\n{tail(log)}")
            time.sleep(0.25)
        while len(gunicorn_workers(proc.pid)) < self.args.web_workers:
            time.sleep(0.1)
        return url, proc, log

    def warm_up(self, url: str, token: str, info: dict[str, Any]) -> None:
        """A small export per format, a few times: every worker has imported the code and
        opened its database connection (the requests are spread over the workers)."""
        import httpx

        since = (dt.datetime.fromisoformat(info["end"]) - dt.timedelta(hours=6)).isoformat()
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(2 * self.args.web_workers):
            for fmt in self.args.formats:
                answer = httpx.get(
                    f"{url}/api/v1/responses/export",
                    params={"format": fmt, "since": since},
                    headers=headers,
                    timeout=60,
                )
                if answer.status_code != 200:
                    raise RuntimeError(f"warm-up export: {answer.status_code} {answer.text[:300]}")

    def download(self, url: str, token: str, fmt: str, path: Path, pgid: int) -> Run:
        import httpx

        run = Run()
        headers = {"Authorization": f"Bearer {token}"}
        workers = gunicorn_workers(pgid)
        before = cpu_sample(pgid)
        with Watcher(workers) as watcher:
            began = time.perf_counter()
            try:
                with (
                    httpx.Client(timeout=httpx.Timeout(30, read=600)) as client,
                    client.stream(
                        "GET", f"{url}/api/v1/responses/export", params={"format": fmt},
                        headers=headers,
                    ) as answer,
                    open(path, "wb") as out,
                ):  # fmt: skip
                    run.first_byte = time.perf_counter() - began
                    if answer.status_code != 200:
                        answer.read()
                        text = " ".join(answer.text.split())[:160]
                        run.error = (
                            f"HTTP {answer.status_code} after {run.first_byte:.1f} s: {text}"
                        )
                    else:
                        for block in answer.iter_raw(1 << 16):
                            out.write(block)
            except httpx.HTTPError as exc:
                run.error = f"{type(exc).__name__}: {exc} (the answer was cut off)"
            run.seconds = time.perf_counter() - began
        after = cpu_sample(pgid)
        # A process that exits meanwhile (a killed worker, a closed connection's backend)
        # takes its CPU time along: the figures are then too low, never negative.
        run.server_cpu = max(0.0, after[0] - before[0])
        run.db_cpu = max(0.0, after[1] - before[1])
        _served, run.idle_mb, run.peak_mb = watcher.result()
        run.bytes = path.stat().st_size if path.exists() else 0
        run.rows = count_rows(path, fmt) if path.exists() else 0
        return run

    def baseline(self, env: dict[str, str], fmt: str, path: Path) -> Run:
        argv = [PY, str(Path(__file__).resolve()), "dump", "--format", fmt, "--out", str(path)]
        before = cpu_sample(os.getpgrp())
        done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)
        after = cpu_sample(os.getpgrp())  # PostgreSQL's CPU in the same span
        if done.returncode:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            return Run(error=f"the baseline failed ({done.returncode}): {last[:200]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        return Run(
            rows=result["rows"],
            bytes=result["bytes"],
            seconds=result["seconds"],
            peak_mb=result["peak_mb"],
            server_cpu=result["cpu"],  # the dump process's own CPU
            db_cpu=max(0.0, after[1] - before[1]),
        )


# --------------------------------------------------------------------------- report


def median(runs: list[Run], attr: str) -> float:
    values = [v for r in runs if (v := getattr(r, attr)) == v]  # NaN: not measured
    return statistics.median(values) if values else float("nan")


def fmt_num(value: float, digits: int = 0) -> str:
    return "-" if value != value else f"{value:,.{digits}f}"


def report(bench: Bench, args: argparse.Namespace) -> bool:
    import gunicorn

    print()
    print("npsloop export benchmark: GET /api/v1/responses/export?format=… (every response)")
    print(f"  {fill.machine()}")
    if any(kind == "postgres" for kind, _fmt in bench.results):
        print(f"  {fill.describe_postgres()}")
    for line in bench.described:
        print(f"  {line}")
    print(
        f"  server: npsloop serve --no-worker --web-workers {args.web_workers} (gunicorn "
        f"{gunicorn.__version__}, gthread workers with WEB_THREADS="
        f"{os.environ.get('WEB_THREADS', '4')} threads; timeout: "
        + (
            f"{args.gunicorn_timeout} s via GUNICORN_CMD_ARGS"
            if args.gunicorn_timeout is not None
            else "gunicorn's default, 30 s"
        )
        + "); client: httpx, one download at a time, to a file"
    )
    print(f"  {args.repeat} run(s) per format, npsloop and baseline alternating; medians shown")
    print()
    header = ["db", "format", "rows", "MB", "npsloop rows/s", "first byte s", "worker MB"]
    header += ["server CPU s", "PG CPU s", "baseline rows/s", "base MB", "ratio", "same bytes"]
    header += [f"aim >={AIM_ROWS_PER_S // 1000}k/s, <{AIM_PEAK_MB:g} MB, >={AIM_RATIO:g}"]
    rows, all_met = [], True
    for (kind, fmt), runs in bench.results.items():
        ours, theirs = runs["npsloop"], runs["baseline"]
        errors = [r.error for r in ours + theirs if r.error]
        rate = statistics.median(r.rows_per_s for r in ours) if ours else float("nan")
        base_rate = median(theirs, "rows_per_s")
        ratio = rate / base_rate if base_rate == base_rate and base_rate else float("nan")
        peak = max((r.peak_mb for r in ours), default=float("nan"))
        met = (
            not errors
            and rate >= AIM_ROWS_PER_S
            and peak < AIM_PEAK_MB
            and ratio == ratio
            and ratio >= AIM_RATIO
        )
        all_met &= met
        misses = []
        if errors:
            misses.append("FAILED")
        else:
            if rate < AIM_ROWS_PER_S:
                misses.append("rows/s")
            if not peak < AIM_PEAK_MB:
                misses.append("memory")
            if not ratio >= AIM_RATIO:
                misses.append("ratio")
        same = {r.same for r in ours if r.same is not None}
        rows.append(
            [
                kind,
                fmt,
                f"{statistics.median(r.rows for r in ours):,.0f}" if ours else "-",
                fmt_num(median(ours, "bytes") / 1e6),
                fmt_num(rate),
                fmt_num(median(ours, "first_byte"), 2),
                f"{fmt_num(median(ours, 'idle_mb'))} -> {fmt_num(peak)}",
                fmt_num(median(ours, "server_cpu"), 1),
                fmt_num(median(ours, "db_cpu"), 1) if kind == "postgres" else "-",
                fmt_num(base_rate),
                fmt_num(median(theirs, "peak_mb")),
                fmt_num(ratio, 2),
                "yes" if same == {True} else "NO" if False in same else "-",
                "yes" if met else "NO (" + ", ".join(misses) + ")",
            ]
        )
        for error in errors:
            bench.notes.append(f"{kind} {fmt}: {error}")
    fill.table(header, rows)
    print()
    print(
        "  npsloop rows/s: rows received ÷ seconds from sending the request to the last byte\n"
        "  (written to a file); first byte: seconds to the answer's headers; worker MB: RSS of\n"
        "  the gunicorn worker that served the export, before -> peak during it (VmHWM after a\n"
        "  reset, plus samples every 20 ms); server CPU: CPU seconds of npsloop's processes\n"
        "  (gunicorn; with SQLite the database work too); PG CPU: of all PostgreSQL processes.\n"
        "  baseline: npsloop's export statement (the database writes each line) run on the\n"
        "  driver's own connection (sqlite3 cursor, 2,000 rows per fetch / psycopg COPY), the\n"
        "  lines written to a file, no HTTP and no Django; rows/s from the query to the closed\n"
        "  file; base MB its process's peak RSS. ratio: npsloop rows/s ÷ baseline rows/s.\n"
        "  same bytes: npsloop's\n"
        "  download and the baseline's file are identical."
    )
    for note in bench.notes:
        print(f"  WARNING: {note}")
    print()
    print(f"aim met for every database and format: {'yes' if all_met else 'NO'}")
    return all_met


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = fill.fill_parser(__doc__.split("\n\n")[0])
    parser.add_argument(
        "--formats",
        type=lambda s: [f for f in s.split(",") if f],
        default=list(FORMATS),
        help="comma-separated: jsonl,csv",
    )
    parser.add_argument("--repeat", type=int, default=3, help="downloads per format")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--gunicorn-timeout",
        type=int,
        help="passed as GUNICORN_CMD_ARGS=--timeout N (default: gunicorn's 30 s, as in "
        "production; 0 turns the worker timeout off)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("command", nargs="?", choices=["dump"], help=argparse.SUPPRESS)
    parser.add_argument("--format", choices=FORMATS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "dump":
        print(json.dumps(dump(args)))
        return 0
    unknown = set(args.formats) - set(FORMATS)
    if unknown:
        raise SystemExit(f"unknown format(s): {', '.join(sorted(unknown))}")
    signal.signal(signal.SIGTERM, fill.interrupt)  # clean up on SIGTERM as on Ctrl-C
    with contextlib.ExitStack() as stack:
        bench = Bench(args, stack)
        try:
            for kind in fill.kinds_of(args.db):
                bench.measure(kind)
        except KeyboardInterrupt:
            print("\ninterrupted (the databases were dropped unless --reuse)", file=sys.stderr)
            return 130
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the cleanup finish
    signal.signal(signal.SIGINT, signal.default_int_handler)
    report(bench, args)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "described": bench.described,
                    "results": {
                        f"{kind} {fmt}": {
                            target: [r.__dict__ | {"rows_per_s": r.rows_per_s} for r in runs]
                            for target, runs in by_target.items()
                        }
                        for (kind, fmt), by_target in bench.results.items()
                    },
                    "notes": bench.notes,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
