"""Turn the environment's URLs into Django and huey settings."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse


def sqlite_options() -> dict:
    # WAL lets the web server read while the worker writes; IMMEDIATE takes the
    # write lock at BEGIN so two writers queue on the busy timeout instead of
    # failing with "database is locked" half-way through a transaction.
    return {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }


def huey_settings(url: str, *, workers: int) -> dict:
    base = {
        "name": "npsloop",
        "results": False,
        "consumer": {
            "workers": workers,
            "worker_type": "thread",
            "periodic": True,
            "check_worker_health": True,
            "initial_delay": 0.1,
            "backoff": 1.15,
            "max_delay": 1.0,
        },
    }
    if url == "immediate":
        return base | {"immediate": True}
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = Path(unquote(parsed.path))
        path.parent.mkdir(parents=True, exist_ok=True)
        return base | {
            "huey_class": "huey.SqliteHuey",
            "filename": str(path),
            "immediate": False,
        }
    if parsed.scheme in {"redis", "rediss"}:
        return base | {"huey_class": "huey.RedisHuey", "url": url, "immediate": False}
    raise ValueError(
        f"JOBS_URL {url!r} is not supported: use sqlite:///path, redis://host:port/db or immediate"
    )


def email_settings(url: str) -> dict:
    """Parse EMAIL_URL into SMTP connection settings; empty means the outbox."""
    if not url:
        return {"mode": "outbox"}
    parsed = urlparse(url)
    scheme = parsed.scheme
    if scheme not in {"smtp", "smtp+tls", "smtp+ssl", "smtps", "submission"}:
        raise ValueError(
            f"EMAIL_URL scheme {scheme!r} is not supported: use smtp://, smtp+tls:// or smtp+ssl://"
        )
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    use_ssl = scheme in {"smtp+ssl", "smtps"} or query.get("ssl") in {"1", "true"}
    use_tls = scheme in {"smtp+tls", "submission"} or query.get("tls") in {"1", "true"}
    default_port = 465 if use_ssl else 587 if use_tls else 25
    return {
        "mode": "smtp",
        "host": parsed.hostname or "localhost",
        "port": parsed.port or default_port,
        "username": unquote(parsed.username or ""),
        "password": unquote(parsed.password or ""),
        "use_ssl": use_ssl,
        "use_tls": use_tls,
    }
