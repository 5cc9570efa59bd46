"""Retry a database write that must follow something already done outside the database.

After the SMTP server accepted a message, failing to record it would make the
reconciler send it again. A short database outage (a restart, a failover) must not
turn into a second email: the write is tried again on a fresh connection for a while.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

log = logging.getLogger(__name__)
T = TypeVar("T")


def retry_on_disconnect(write: Callable[[], T], *, seconds: float = 120.0) -> T:
    """Run `write`; on a lost connection, reconnect and try again until `seconds` pass.

    Only connection errors are retried, and only outside a transaction (inside one the
    whole transaction is gone and its caller must decide).
    """
    deadline = time.monotonic() + seconds
    delay = 0.2
    while True:
        try:
            return write()
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block or time.monotonic() + delay > deadline:
                raise
            log.warning("database connection lost; trying the write again in %.1f s", delay)
            connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
