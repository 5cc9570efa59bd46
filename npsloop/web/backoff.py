"""When to try again after a failed delivery (email, Segment, later webhooks)."""

from __future__ import annotations

import datetime as dt
import random

MAX_DELAY = dt.timedelta(hours=6)
MAX_RETRY_AFTER = dt.timedelta(hours=1)


def retry_delay(attempt: int, *, retry_after: float | None = None) -> dt.timedelta:
    """Exponential backoff with ±20 % jitter: 1, 2, 4 … minutes, at most 6 hours.

    Never sooner than the receiver's Retry-After asks (itself capped at an hour,
    so a silly value cannot park a delivery for days).
    """
    base = min(60 * 2 ** max(attempt - 1, 0), MAX_DELAY.total_seconds())
    delay = dt.timedelta(seconds=base * random.uniform(0.8, 1.2))
    if retry_after:
        delay = max(delay, min(dt.timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return delay
