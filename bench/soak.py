"""Soak: Segment ingest, rating clicks and inbox reads together, for minutes.

    .venv/bin/python bench/soak.py [--seconds 300] [--ingest-interval 0.3] ...

Starts what tests/reliability starts (tests/reliability/harness.py): a fresh PostgreSQL
database, a Redis database for the jobs, two `npsloop serve --no-worker` web servers
(gunicorn) and two `npsloop worker` processes, an SMTP server and a webhook receiver,
all on 127.0.0.1. Then, together for --seconds: Segment identify calls (single and
batches, some events twice) to both web servers in turn; every survey email that
arrives is clicked (the rating page and the score its script records, some comments);
members read the inbox (its first page and a response's page) from both servers. A
notification rule sends a signed webhook per response. No faults.

It prints, per endpoint, requests/s, p50 and p99 latency and the errors; the RSS of
every process at the start (after --warmup seconds of load) and at the end, flagging
growth beyond 20 %; the backlog when the load stops; and, after waiting for it to
drain, the counts of tests/reliability (sent, received, lost, duplicated). Exit
status 1 when something was lost or duplicated, a 5xx was answered, or a process
grew beyond 20 % or died. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import random
import re
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.reliability.harness import (  # noqa: E402
    CSRF_INPUT,
    Clicker,
    Cluster,
    HttpLog,
    IngestLoad,
    drain,
    drain_state,
    group_rss,
    percentile,
    say,
    tally,
    timed,
)

INBOX_ID = re.compile(r'href="/inbox/(\d+)/"')
GROWTH_LIMIT = 0.20


class InboxReaders:
    """Team members signed in, reading the inbox: its first page, then one response."""

    def __init__(self, cluster: Cluster, log: HttpLog, *, threads: int, pause: float):
        self.cluster = cluster
        self.log = log
        self.pause = pause
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(i,), name=f"inbox{i}", daemon=True)
            for i in range(threads)
        ]

    def start(self) -> InboxReaders:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _login(self, client: Any) -> None:
        """Sign in on the first server; the session (in the database) works on both."""
        server = self.cluster.servers[0]
        page = client.get(server + "/login/")
        token = CSRF_INPUT.search(page.text)
        answer = client.post(
            server + "/login/",
            data={
                "csrfmiddlewaretoken": token.group(1) if token else "",
                "username": self.cluster.EMAIL,
                "password": self.cluster.PASSWORD,
            },
        )
        if answer.status_code != 302:
            raise RuntimeError(f"sign-in failed: {answer.status_code}")

    def _run(self, index: int) -> None:
        import httpx

        rnd = random.Random(index)
        client = httpx.Client(timeout=30, follow_redirects=False)
        self._login(client)
        n = index
        while not self.stopping.is_set():
            server = n % len(self.cluster.servers)
            n += 1
            base = self.cluster.servers[server]
            page = timed(self.log, "inbox page", server, partial(client.get, base + "/inbox/"))
            ids = INBOX_ID.findall(page.text) if page is not None else []
            if ids:
                pk = rnd.choice(ids)
                timed(
                    self.log,
                    "inbox response",
                    server,
                    partial(client.get, f"{base}/inbox/{pk}/"),
                )
            self.stopping.wait(self.pause)


def rss_by_process(cluster: Cluster) -> dict[str, tuple[str, int]]:
    """ "web1 1234" → (role, RSS KiB) for every process of the cluster."""
    found = {}
    for name, pgid in cluster.pgids().items():
        group = group_rss(pgid)
        gunicorns = [pid for pid, (cmd, _rss) in group.items() if "gunicorn" in cmd]
        for pid, (cmd, rss) in sorted(group.items()):
            if pid in gunicorns:
                role = "gunicorn master" if pid == min(gunicorns) else "gunicorn worker"
            elif " serve" in cmd:
                role = "npsloop serve"
            else:
                role = "npsloop worker"
            found[f"{name} {pid}"] = (role, rss)
    return found


def table(header: list[str], rows: list[list[str]], left: set[int]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i in left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300, help="load duration (timed part)")
    parser.add_argument(
        "--warmup", type=float, default=20, help="load before the timed part and the first RSS"
    )
    parser.add_argument(
        "--ingest-interval", type=float, default=0.6, help="seconds between Segment requests"
    )
    parser.add_argument("--batch-size", type=int, default=5, help="new people per batch")
    parser.add_argument("--click-threads", type=int, default=3)
    parser.add_argument("--inbox-threads", type=int, default=2)
    parser.add_argument(
        "--inbox-pause", type=float, default=0.5, help="seconds a reader waits between reads"
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn processes per server")
    parser.add_argument("--threads", type=int, default=2, help="threads per npsloop worker")
    parser.add_argument("--drain-timeout", type=float, default=180)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    logging.getLogger("httpx").setLevel(logging.WARNING)

    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, load average "
        f"before the start {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    cluster = Cluster(
        name="npsloop_soak",
        redis_dbs=(12, 9, 8, 7),
        web_workers=args.web_workers,
        threads=args.threads,
    )
    try:
        cluster.start()
        survey = cluster.new_survey("Soak", prefix="soak")
        log = HttpLog()
        ingest = IngestLoad(
            cluster.servers,
            survey,
            log,
            interval=args.ingest_interval,
            batch_size=args.batch_size,
            seed=7,
        )
        clicker = Clicker(
            cluster.smtp.mailbox,
            cluster.servers,
            survey.prefix,
            log,
            threads=args.click_threads,
            seed=8,
        )
        readers = InboxReaders(cluster, log, threads=args.inbox_threads, pause=args.inbox_pause)
        ingest.start()
        clicker.start()
        readers.start()
        say(f"soak: warming up for {args.warmup:g} s")
        time.sleep(args.warmup)
        rss_start = rss_by_process(cluster)
        begin = time.time()
        say(f"soak: {args.seconds:g} s of load (logs in {cluster.log_dir})")
        next_note = time.monotonic() + 30
        while time.time() < begin + args.seconds:
            time.sleep(min(1.0, begin + args.seconds - time.time()) if args.seconds else 0)
            if time.monotonic() >= next_note:
                state = drain_state(cluster, survey)
                say(
                    f"soak: {time.time() - begin:.0f} s, queue {cluster.redis.queue_length()}, "
                    f"{state}"
                )
                next_note += 30
        end = time.time()
        rss_end = rss_by_process(cluster)
        readers.stop()
        backlog = drain_state(cluster, survey) | {"jobs queued": cluster.redis.queue_length()}
        say(f"soak: load stopped; backlog {backlog}; draining")
        # No clock: without faults nothing may need the test's clock (a retry would
        # take its real minute).
        drained, drain_seconds, _ticks = drain(
            cluster, survey, ingest, clicker, timeout=args.drain_timeout, use_clock=False
        )
        clicker.stop()
        t = tally(cluster, survey, ingest, clicker, log)
        alive = cluster.alive()
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with contextlib.suppress(Exception):
            cluster.close()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    # ---- throughput and latency of the timed window, per endpoint
    timed_calls = [c for c in log.snapshot() if begin <= c.start and c.end <= end]
    seconds = end - begin
    print()
    print(
        f"npsloop soak: {seconds:.0f} s of Segment ingest + rating clicks + inbox reads on "
        f"PostgreSQL, 2 web servers x {args.web_workers} gunicorn processes, 2 workers x "
        f"{args.threads} threads, jobs in Redis (after {args.warmup:g} s of warm-up)"
    )
    print()
    by_endpoint: dict[str, list] = defaultdict(list)
    for c in timed_calls:
        by_endpoint[c.endpoint].append(c)
    rows = []
    per_endpoint = {}
    for endpoint, calls in sorted(by_endpoint.items()):
        ok = [c.end - c.start for c in calls if isinstance(c.status, int) and c.status < 400]
        errors = Counter(
            str(c.status) for c in calls if not (isinstance(c.status, int) and c.status < 400)
        )
        per_endpoint[endpoint] = {
            "requests": len(calls),
            "per_s": len(calls) / seconds,
            "p50_ms": percentile(ok, 50),
            "p99_ms": percentile(ok, 99),
            "errors": dict(errors),
        }
        rows.append(
            [
                endpoint,
                str(len(calls)),
                f"{len(calls) / seconds:.1f}",
                percentile(ok, 50),
                percentile(ok, 99),
                json.dumps(dict(errors)) if errors else "0",
            ]
        )
    table(["endpoint", "requests", "req/s", "p50 ms", "p99 ms", "errors"], rows, left={0, 5})
    events = len(ingest.accepted)
    in_window = {
        "identify events accepted": sum(n for at, n in ingest.accepted_at if begin <= at <= end),
        "emails": sum(1 for m in cluster.smtp.mailbox.messages if begin <= m.at <= end),
        "webhooks": sum(1 for h in cluster.receiver.hooks if begin <= h.at <= end),
    }
    print()
    print(
        "the loop in the timed window: "
        + ", ".join(f"{what} {n / seconds:.1f}/s" for what, n in in_window.items())
    )
    print(
        f"work done over the whole run: {events} identify events accepted, "
        f"{len(cluster.smtp.mailbox.messages)} emails, {len(clicker.clicked)} responses, "
        f"{len(cluster.receiver.hooks)} webhooks received"
    )
    print(f"backlog when the load stopped: {backlog}")
    print(f"drained: {drained}, {drain_seconds:.0f} s after the load stopped")

    # ---- memory
    print()
    grew = []
    rows = []
    for key in sorted(set(rss_start) | set(rss_end)):
        role, before = rss_start.get(key, ("", 0))
        role2, after = rss_end.get(key, ("", 0))
        growth = (after - before) / before if before and after else float("nan")
        flag = ""
        if not before or not after:
            flag = "started or gone during the run"
            grew.append(key)
        elif growth > GROWTH_LIMIT:
            flag = f"GREW > {GROWTH_LIMIT:.0%}"
            grew.append(key)
        rows.append(
            [
                key,
                role or role2,
                f"{before / 1024:.1f}",
                f"{after / 1024:.1f}",
                f"{growth:+.1%}" if growth == growth else "-",
                flag,
            ]
        )
    table(["process", "role", "RSS start MiB", "RSS end MiB", "growth", ""], rows, left={0, 1, 5})

    # ---- correctness, as tests/reliability counts it
    print()
    print(t.table("counts (as tests/reliability):"))
    failed = bool(t.problems) or bool(grew) or not drained or not all(alive.values())
    results = {
        "seconds": seconds,
        "endpoints": per_endpoint,
        "per_s": {what: n / seconds for what, n in in_window.items()},
        "rss_kib": {
            k: {"start": rss_start.get(k, ("", 0))[1], "end": rss_end.get(k, ("", 0))[1]}
            for k in set(rss_start) | set(rss_end)
        },
        "grew": grew,
        "backlog": backlog,
        "drained": drained,
        "problems": t.problems,
        "alive": alive,
    }
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print()
    print("FAILED: " + "; ".join(t.problems + grew) if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
