"""Start real `npsloop worker` processes against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connection


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def start_worker(
    *, jobs_url: str, email_url: str, data_dir: Path, log: Path, threads: int = 1, **env: str
) -> subprocess.Popen:
    environment = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "JOBS_URL": jobs_url,
        "EMAIL_URL": email_url,
        "NPSLOOP_DATA_DIR": str(data_dir),
        "SECRET_KEY": settings.SECRET_KEY,
        "BASE_URL": settings.BASE_URL,
        "WORKERS": str(threads),
        "DJANGO_SETTINGS_MODULE": "npsloop.settings",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "npsloop.cli", "worker"],
        env=environment,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
