"""What the job queue (huey) can tell about itself: reachability, depth, lag.

huey's storage does not record when a task entered the ready queue, so the age
of the oldest *pending* task cannot be read from it. What it can tell is the
oldest *scheduled* task whose time has come and that no consumer has moved to
the queue yet (SQLite and Redis storage): that grows when no worker runs. The
lag of the work itself is measured on the rows (see metrics.backlog).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

T = TypeVar("T")


def get_huey():
    from huey.contrib.djhuey import HUEY

    return HUEY


def backend_name(huey) -> str:
    if huey.immediate:
        return "immediate"
    storage = huey.storage
    if isinstance(storage, SqliteStorage):
        return "sqlite"
    if isinstance(storage, RedisStorage):
        return "redis"
    if isinstance(storage, MemoryStorage):
        return "memory"
    return type(storage).__name__


def call_with_timeout(fn: Callable[[], T], seconds: float) -> T:
    """Run fn in a daemon thread; give up waiting after `seconds`.

    A Redis host that drops packets would otherwise hold the probe (and the web
    worker answering it) until the operating system's connect timeout.
    """
    outcome: dict = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="npsloop-ops-check", daemon=True).start()
    if not done.wait(seconds):
        raise TimeoutError(f"no answer within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@dataclass(frozen=True)
class QueueStats:
    backend: str
    pending: int
    scheduled: int
    # Seconds since the oldest scheduled task became due; None when unknown.
    overdue_seconds: float | None


def _overdue_seconds(huey) -> float | None:
    storage = huey.storage
    now = huey._get_timestamp()  # huey's own clock: naive UTC by default
    if isinstance(storage, SqliteStorage):
        rows = storage.sql(
            "select min(timestamp) from schedule where queue = ?", (storage.name,), results=True
        )
        oldest, now_ts = rows[0][0], now.timestamp()
    elif isinstance(storage, RedisStorage):
        first = storage.conn.zrange(storage.schedule_key, 0, 0, withscores=True)
        oldest, now_ts = (first[0][1] if first else None), storage.convert_ts(now)
    else:
        return None
    if oldest is None:
        return 0.0
    return max(0.0, now_ts - float(oldest))


def queue_stats(huey) -> QueueStats:
    return QueueStats(
        backend=backend_name(huey),
        pending=int(huey.pending_count()),
        scheduled=int(huey.scheduled_count()),
        overdue_seconds=_overdue_seconds(huey),
    )
