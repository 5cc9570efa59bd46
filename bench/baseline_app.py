"""The baseline for bench/ingest.py: the least a WSGI app must do to take Segment events.

It answers the same two endpoints as npsloop (`POST /segment/v1/identify` and
`POST /segment/v1/batch`), with the same work per request and nothing else:

* read the body and parse the JSON;
* find the survey by its API key (Basic auth user name): one SELECT by the key's
  prefix, then a constant-time compare of the SHA-256 digest, as npsloop does;
* per event: check the type and the ids, take the messageId, parse the timestamp,
  serialise the payload (the event with the batch's context merged in);
* insert the rows into npsloop's own `ingest_ingestevent` table (migrated by npsloop,
  so the same indexes and the unique (survey_id, message_id) constraint) with one
  multi-row `INSERT … ON CONFLICT DO NOTHING`, committed before the answer;
* answer `{"success": true, "accepted": n, "rejected": []}`.

Plain SQL through the `sqlite3` module or psycopg, one connection per worker process
kept open. Configured by the environment: BENCH_BASELINE_DB is `sqlite:///path` or a
`postgres://` URL. Served by gunicorn: `python -m gunicorn bench.baseline_app:application`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import os
import sqlite3
import uuid
from typing import Any
from urllib.parse import unquote, urlparse

MAX_BODY = 500 * 1024
TYPES = {"identify", "track", "page", "screen", "group", "alias"}
COLUMNS = (
    "organization_id, survey_id, message_id, type, user_id, anonymous_id, "
    "timestamp, received_at, payload, state, error"
)


class BadRequest(Exception):
    def __init__(self, status: str, code: str):
        super().__init__(code)
        self.status, self.code = status, code


class SqliteStore:
    """The same pragmas as npsloop's SQLite settings (WAL, synchronous=NORMAL)."""

    def __init__(self, path: str):
        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")

    def survey(self, prefix: str) -> tuple[int, int, str] | None:
        return self.conn.execute(
            "SELECT id, organization_id, api_key_digest FROM surveys_survey "
            "WHERE api_key_prefix = ?",
            (prefix,),
        ).fetchone()

    def insert(self, rows: list[tuple]) -> None:
        # Django stores aware datetimes on SQLite as naive UTC text; so do we.
        rows = [r[:6] + (_sqlite_time(r[6]), _sqlite_time(r[7])) + r[8:] for r in rows]
        values = ",".join(["(?,?,?,?,?,?,?,?,?,?,?)"] * len(rows))
        sql = (
            f"INSERT INTO ingest_ingestevent ({COLUMNS}) VALUES {values} "
            "ON CONFLICT (survey_id, message_id) DO NOTHING"
        )
        # One statement in autocommit mode is one transaction, committed on return.
        self.conn.execute(sql, [v for row in rows for v in row])


class PostgresStore:
    def __init__(self, url: str):
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)

    def survey(self, prefix: str) -> tuple[int, int, str] | None:
        return self.conn.execute(
            "SELECT id, organization_id, api_key_digest FROM surveys_survey "
            "WHERE api_key_prefix = %s",
            (prefix,),
        ).fetchone()

    def insert(self, rows: list[tuple]) -> None:
        values = ",".join(["(%s,%s,%s,%s,%s,%s,%s,%s,%s::jsonb,%s,%s)"] * len(rows))
        sql = (
            f"INSERT INTO ingest_ingestevent ({COLUMNS}) VALUES {values} "
            "ON CONFLICT (survey_id, message_id) DO NOTHING"
        )
        self.conn.execute(sql, [v for row in rows for v in row])


def _sqlite_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")


_store: SqliteStore | PostgresStore | None = None


def store() -> SqliteStore | PostgresStore:
    """Connected lazily, in the worker process (after gunicorn's fork)."""
    global _store
    if _store is None:
        url = os.environ["BENCH_BASELINE_DB"]
        parsed = urlparse(url)
        if parsed.scheme == "sqlite":
            _store = SqliteStore(unquote(parsed.path))
        else:
            _store = PostgresStore(url)
    return _store


def _key(environ: dict[str, Any]) -> str:
    scheme, _sep, value = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        return base64.b64decode(value.strip(), validate=True).decode().partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _survey(key: str) -> tuple[int, int]:
    parts = key.split("_", 3)
    if len(parts) != 4 or parts[0] != "npl" or parts[1] != "svy":
        raise BadRequest("401 Unauthorized", "invalid_key")
    found = store().survey(parts[2])
    if found is None:
        raise BadRequest("401 Unauthorized", "invalid_key")
    survey_id, organization_id, digest = found
    if not hmac.compare_digest(hashlib.sha256(key.encode()).hexdigest(), digest):
        raise BadRequest("401 Unauthorized", "invalid_key")
    return survey_id, organization_id


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list | bool):
        return ""
    return str(value).strip()[:200]


def _row(raw: Any, survey: tuple[int, int], now: dt.datetime, default_type: str) -> tuple:
    if not isinstance(raw, dict):
        raise BadRequest("400 Bad Request", "invalid_event")
    kind = _text(raw.get("type") or default_type).lower()
    if kind not in TYPES:
        raise BadRequest("400 Bad Request", "invalid_type")
    user_id, anonymous_id = _text(raw.get("userId")), _text(raw.get("anonymousId"))
    if not user_id and not anonymous_id:
        raise BadRequest("400 Bad Request", "missing_id")
    message_id = _text(raw.get("messageId")) or f"npsloop:{uuid.uuid4()}"
    timestamp = _time(raw.get("timestamp")) or now
    payload = json.dumps({**raw, "type": kind})
    survey_id, organization_id = survey
    return (
        organization_id,
        survey_id,
        message_id,
        kind,
        user_id,
        anonymous_id,
        timestamp,
        now,
        payload,
        "new",
        "",
    )


def handle(environ: dict[str, Any]) -> dict[str, Any]:
    path = environ.get("PATH_INFO", "")
    if environ.get("REQUEST_METHOD") != "POST":
        raise BadRequest("405 Method Not Allowed", "method_not_allowed")
    if path not in ("/segment/v1/identify", "/segment/v1/batch"):
        raise BadRequest("404 Not Found", "not_found")
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > MAX_BODY:
        raise BadRequest("413 Payload Too Large", "too_large")
    try:
        body = json.loads(environ["wsgi.input"].read(length))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("400 Bad Request", "invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest("400 Bad Request", "invalid_body")
    survey = _survey(_key(environ))
    now = dt.datetime.now(dt.UTC)
    if path.endswith("/batch"):
        events = body.get("batch")
        if not isinstance(events, list):
            raise BadRequest("400 Bad Request", "invalid_batch")
        shared = {k: body[k] for k in ("context", "integrations") if k in body}
        rows = [_row({**shared, **e} if shared else e, survey, now, "") for e in events]
    else:
        rows = [_row(body, survey, now, "identify")]
    if rows:
        store().insert(rows)
    return {"success": True, "accepted": len(rows), "rejected": []}


def application(environ, start_response):
    try:
        status, answer = "200 OK", handle(environ)
    except BadRequest as error:
        status, answer = error.status, {"success": False, "code": error.code}
    data = json.dumps(answer).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]
