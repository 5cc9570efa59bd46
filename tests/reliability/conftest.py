"""One cluster (tests/reliability/harness.py) for the module: starting it takes a while."""

from __future__ import annotations

import logging
import os

import pytest

from tests.reliability.harness import Cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not os.environ.get("NPSLOOP_RELIABILITY") or os.environ.get("DATABASE_URL"):
        # Decided in the test module (an explicit skip); never start a cluster for it.
        pytest.skip("the reliability suite runs in the SQLite pass only")
    # httpx logs every request at INFO: thousands of lines in a failure's report.
    httpx_log = logging.getLogger("httpx")
    level = httpx_log.level
    httpx_log.setLevel(logging.WARNING)
    cluster = Cluster(log_dir=tmp_path_factory.mktemp("reliability-logs"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()
        httpx_log.setLevel(level)
