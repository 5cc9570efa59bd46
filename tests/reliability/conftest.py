"""One cluster (tests/reliability/harness.py) for the module: starting it takes a while.

Its PostgreSQL is a server of the suite's own (PrivatePostgres), unless
RELIABILITY_PG_ADMIN_URL names one to use instead. The whole module has a time budget
(RELIABILITY_TIMEOUT seconds, 300 by default): past it, or on SIGTERM, the run stops
with a message saying so, and the cluster and its server are still stopped and removed.
"""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

import pytest

from tests.reliability.harness import (
    EXTERNAL_PG_ADMIN_URL,
    Cluster,
    ExternalPostgres,
    PrivatePostgres,
)

TIMEOUT = int(os.environ.get("RELIABILITY_TIMEOUT", "300"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not os.environ.get("NPSLOOP_RELIABILITY"):
        # Decided in the test module (an explicit skip); never start a cluster for it.
        pytest.skip("the reliability suite is opt-in: NPSLOOP_RELIABILITY=1 (make reliability)")
    log_dir = tmp_path_factory.mktemp("reliability-logs")

    # pytest.exit unwinds the test and then tears the fixtures down: a hang ends with the
    # processes and the PostgreSQL server stopped, and says why.
    def stop_run(signum: int, _frame: Any) -> None:
        why = (
            f"timed out after {TIMEOUT} s (RELIABILITY_TIMEOUT)"
            if signum == signal.SIGALRM
            else f"stopped by signal {signal.Signals(signum).name}"
        )
        pytest.exit(f"reliability suite {why}; process logs: {log_dir}", returncode=1)

    previous = {sig: signal.signal(sig, stop_run) for sig in (signal.SIGALRM, signal.SIGTERM)}
    signal.alarm(TIMEOUT)
    # httpx logs every request at INFO: thousands of lines in a failure's report.
    httpx_log = logging.getLogger("httpx")
    level = httpx_log.level
    httpx_log.setLevel(logging.WARNING)
    cluster = None
    try:
        postgres = (
            ExternalPostgres(EXTERNAL_PG_ADMIN_URL) if EXTERNAL_PG_ADMIN_URL else PrivatePostgres()
        )
        cluster = Cluster(log_dir=log_dir, postgres=postgres)
        cluster.start()
        yield cluster
    finally:
        signal.alarm(0)
        # Cleaning up: a second SIGTERM must not cut it short (`timeout -k` still kills).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if cluster is not None:
                cluster.close()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            httpx_log.setLevel(level)
