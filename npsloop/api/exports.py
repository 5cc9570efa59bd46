"""Bulk export of responses as CSV, JSON Lines or XLSX, in constant memory.

CSV and JSON Lines are written by the database, line by line while the answer streams
(export_lines). XLSX is written from the rows read here (rows(): plain dicts, the
reference for export_lines' tests) by XlsxWriter in constant_memory mode to a temporary
file (one row in memory at a time), which is then streamed from disk.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.models import QuerySet
from django.db.models.sql.constants import MULTI
from django.http import FileResponse, HttpResponseBase, StreamingHttpResponse

from npsloop.accounts.models import Organization
from npsloop.api import export_lines
from npsloop.api.export_lines import COLUMNS
from npsloop.responses.filters import ResponseFilter, compile_filter, where_sql
from npsloop.responses.models import Response, Tag

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
CHUNK = 2000


# Plain columns instead of model instances, and the driver's values as they come (no
# per-value Django converters): building a Response, its Survey and its Contact for
# every row cost more than everything else in the export together.
_FIELDS = (
    "id", "created_at", "updated_at", "survey_id", "survey__name", "score", "comment",
    "commented_at", "language", "status", "contact_id", "contact__email",
    "contact__first_name", "contact__last_name", "contact__properties",
)  # fmt: skip


def _category(score: int) -> str:
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """Django keeps UTC; SQLite's driver hands it over without a zone."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def _properties(value: str | dict | None) -> dict:
    if isinstance(value, str):  # JSON text on both databases (as Django reads jsonb)
        value = orjson.loads(value)
    return value or {}


def _tag_names(ids: list[int], using: str) -> dict[int, list[str]]:
    """The sorted tag names of these responses, in one query. Written out because the
    ORM prepares each of the thousands of ids one by one, which cost more than the query."""
    links, tags = Response.tags.through._meta.db_table, Tag._meta.db_table
    connection = connections[using]
    # One array parameter on PostgreSQL (psycopg parses a query of 2,000 placeholders
    # slowly); SQLite has no arrays.
    if connection.vendor == "postgresql":
        where, params = "l.response_id = ANY(%s)", [ids]
    else:
        where, params = f"l.response_id IN ({', '.join(['%s'] * len(ids))})", ids
    # Table names come from the models and the ids are bound parameters.
    sql = f"SELECT l.response_id, t.name FROM {links} l JOIN {tags} t ON t.id = l.tag_id "  # noqa: S608
    sql += f"WHERE {where}"
    names: dict[int, list[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for response_id, name in cursor.fetchall():
            names.setdefault(response_id, []).append(name)
    for found in names.values():
        found.sort()
    return names


def _raw_chunks(qs: QuerySet[Response]) -> Iterator[list[tuple]]:
    """The rows of _FIELDS, newest first, one list per fetch of CHUNK rows (a
    server-side cursor on PostgreSQL: memory stays flat)."""
    query = qs.order_by("-created_at", "-id").values_list(*_FIELDS)
    compiler = query.query.get_compiler(using=query.db)
    connection = connections[query.db]
    if connection.vendor != "postgresql":
        return compiler.execute_sql(MULTI, chunked_fetch=True, chunk_size=CHUNK) or iter(())
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:  # a filter that can match nothing
        return iter(())
    return _postgres_chunks(connection, sql, params)


def _postgres_chunks(connection, sql: str, params) -> Iterator[list[tuple]]:
    from psycopg.types.datetime import TimestamptzLoader

    connection.ensure_connection()
    # Our own named cursor (in the caller's transaction) so that it can use psycopg's
    # timestamp loader, in C: the one Django registers parses every timestamp in Python,
    # which cost more than the rest of the export.
    name = f"npsloop_export_{secrets.token_hex(6)}"
    with connection.connection.cursor(name=name) as cursor:
        cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        cursor.itersize = CHUNK
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK):
            yield rows


def batches(qs: QuerySet[Response]) -> Iterator[list[dict[str, Any]]]:
    """The responses as dicts, newest first, one list per database fetch."""
    # PostgreSQL: in a transaction, because outside one the server-side cursor is
    # declared WITH HOLD and the whole result is built before the first row comes back
    # (48 s for a million rows); a client that goes away closes the generator: rolled
    # back. Not on SQLite: its transactions begin IMMEDIATE (config.py) and would hold
    # the write lock for the whole download, blocking every write.
    if connections[qs.db].vendor != "postgresql":
        yield from _dicts(qs)
        return
    with transaction.atomic(using=qs.db):
        yield from _dicts(qs)


def _dicts(qs: QuerySet[Response]) -> Iterator[list[dict[str, Any]]]:
    for chunk in _raw_chunks(qs):
        tags = _tag_names([row[0] for row in chunk], qs.db)
        yield [
            {
                "id": rid,
                "created_at": _aware(created),
                "updated_at": _aware(updated),
                "survey_id": survey_id,
                "survey": survey,
                "score": score,
                "category": _category(score),
                "comment": comment,
                "commented_at": _aware(commented),
                "language": language,
                "status": status,
                "tags": tags.get(rid, []),
                "person_id": contact_id,
                "email": (email or "") if contact_id else "",
                "name": " ".join(p for p in (first, last) if p) if contact_id else "",
                "properties": _properties(properties) if contact_id else {},
            }
            for (
                rid,
                created,
                updated,
                survey_id,
                survey,
                score,
                comment,
                commented,
                language,
                status,
                contact_id,
                email,
                first,
                last,
                properties,
            ) in chunk  # fmt: skip
        ]


def rows(qs: QuerySet[Response]) -> Iterator[dict[str, Any]]:
    """One dict per response, newest first."""
    for batch in batches(qs):
        yield from batch


def _json_text(value: dict) -> str:
    """Properties as one cell: compact JSON with sorted keys, empty when there are none."""
    if not value:
        return ""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:  # an integer beyond 64 bits or a lone surrogate
        return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _text(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, dict):
        return _json_text(value)
    if value is None:
        return ""
    return value


def xlsx_file(items: Iterable[dict[str, Any]]):
    import xlsxwriter

    out = tempfile.TemporaryFile()  # noqa: SIM115  (FileResponse closes it)
    book = xlsxwriter.Workbook(
        out,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    sheet = book.add_worksheet("responses")
    bold = book.add_format({"bold": True})
    sheet.write_row(0, 0, COLUMNS, bold)
    for index, item in enumerate(items, start=1):
        sheet.write_row(index, 0, [_text(item[c]) for c in COLUMNS])
    book.close()
    out.seek(0)
    return out


def export_response(
    organization: Organization,
    flt: ResponseFilter,
    fmt: str,
    filename: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    updated_since: dt.datetime | None = None,
) -> HttpResponseBase:
    """The organization's responses that match the filter (and were created since / until,
    changed since) as a download, newest first."""
    name = f"{filename}.{fmt}"
    if fmt == "xlsx":
        qs = compile_filter(organization, flt)
        if since is not None:
            qs = qs.filter(created_at__gte=since)
        if until is not None:
            qs = qs.filter(created_at__lt=until)
        if updated_since is not None:
            qs = qs.filter(updated_at__gte=updated_since)
        return FileResponse(
            xlsx_file(rows(qs)), as_attachment=True, filename=name, content_type=FORMATS["xlsx"]
        )
    connection = connections[Response.objects.db]
    where, params = where_sql(organization, flt, connection=connection)
    adapt = connection.ops.adapt_datetimefield_value
    for condition, moment in (
        ("r.created_at >= %s", since),
        ("r.created_at < %s", until),
        ("r.updated_at >= %s", updated_since),
    ):
        if moment is not None:
            where += f" AND {condition}"
            params.append(adapt(moment))
    chunks = export_lines.lines(fmt, where, params, using=connection.alias)
    response = StreamingHttpResponse(chunks, content_type=FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
