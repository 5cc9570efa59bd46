"""The CSV and JSON Lines exports, each line written by the database.

Making the lines in Python cost more than the query itself: the driver builds a Python
object for each of the 15 values of a row before a single byte is written (about 20 µs a
row, 30,000 rows/s on a small machine). So the query writes the whole line and Python
only passes the text on:

* SQLite builds each line with printf(): JSON strings by json_quote(), CSV cells quoted
  in the query.
* PostgreSQL streams the rows with COPY, so it keeps working while the answer is sent:
  CSV through its own CSV writer, JSON Lines built by format() like SQLite's.

Both databases write the same bytes, except for `properties`, which is the person's JSON
as each database keeps it (SQLite: as Django wrote it; PostgreSQL: jsonb's text).
exports.rows (the ORM's reading, which the XLSX export uses) is the reference that
tests/test_export_lines.py holds these queries to.

The CSV: a BOM, the header, then one line per response ending in "\\n"; every text
cell quoted (empty text too), numbers and times bare, nothing at all for a missing value
(no person, no comment time, no tags, empty properties); a cell that a spreadsheet would
run as a formula starts with an apostrophe.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from npsloop.contacts.models import Contact
from npsloop.responses.models import Response
from npsloop.responses.selectors import FULL_NAME_SQL, tag_rows_sql
from npsloop.surveys.models import Survey

COLUMNS = [
    "id", "created_at", "updated_at", "survey_id", "survey", "score", "category", "comment",
    "commented_at", "language", "status", "tags", "person_id", "email", "name", "properties",
]  # fmt: skip
CSV_HEADER = ("\ufeff" + ",".join(COLUMNS) + "\n").encode()  # the BOM lets Excel read UTF-8
CHUNK = 2000  # rows per fetch on SQLite
PIECE_BYTES = 256 * 1024  # PostgreSQL: COPY hands over one row at a time; sent in pieces

# The line templates of printf() / format(), bound as a parameter (their %s are the SQL
# function's, not the driver's).
# Times are UTC: their offset is in the templates (a concatenation less per value).
JSON_TEMPLATE = (
    '{"id":%s,"created_at":"%s+00:00","updated_at":"%s+00:00","survey_id":%s,"survey":%s,'
    '"score":%s,"category":"%s","comment":%s,"commented_at":%s,"language":%s,"status":%s,'
    '"tags":%s,"person_id":%s,"email":%s,"name":%s,"properties":%s}'
)
# SQLite's CSV line: the quotes of the text columns that are never NULL are in the template.
CSV_TEMPLATE = '%s,%s+00:00,%s+00:00,%s,"%s",%s,%s,"%s",%s,"%s","%s",%s,%s,%s,%s,%s'

_CATEGORY = (
    "CASE WHEN r.score >= 9 THEN 'promoter' WHEN r.score >= 7 THEN 'passive' ELSE 'detractor' END"
)
_ORDER = "ORDER BY r.created_at DESC, r.id DESC"


def _from(extra_join: str = "") -> str:
    return (
        f"FROM {Response._meta.db_table} r "
        f"JOIN {Survey._meta.db_table} s ON s.id = r.survey_id "
        f"LEFT JOIN {Contact._meta.db_table} c ON c.id = r.contact_id {extra_join}"
    )


# ---------------------------------------------------------------------------------- SQLite


def _sqlite_moment(column: str) -> str:
    """Django keeps UTC as 'YYYY-MM-DD HH:MM:SS[.ffffff]': isoformat() without the zone."""
    return f"replace({column}, ' ', 'T')"


def _sqlite_escaped(expr: str) -> str:
    """The text with its quotes doubled (replace() only where there is one to double)."""
    return f"""CASE WHEN instr({expr}, '"') THEN replace({expr}, '"', '""') ELSE {expr} END"""


def _sqlite_safe(expr: str) -> str:
    """The escaped text, with an apostrophe before = + - @ tab CR (a formula)."""
    escaped = _sqlite_escaped(expr)
    apostrophe = "''''"
    return (
        f"CASE WHEN unicode({expr}) IN (61, 43, 45, 64, 9, 13) "
        f"THEN {apostrophe} || {escaped} ELSE {escaped} END"
    )


def _sqlite_cell(expr: str) -> str:
    """A quoted, formula-safe CSV cell for a value that may be NULL (then it stays NULL)."""
    return f"""'"' || {_sqlite_safe(expr)} || '"'"""


def _sqlite_sorted_rows() -> str:
    """The response's tag names in code point order. SQLite before 3.44 has no ORDER BY
    in an aggregate; an ordered subquery is read in its order (it is not flattened into
    an aggregate query)."""
    return f"SELECT t.name AS name {tag_rows_sql()} ORDER BY t.name"  # noqa: S608  (names only)


def _sqlite_if_tagged(expr: str, none: str) -> str:
    """Most responses have no tag: an index lookup spares them the sorting subquery."""
    links = Response.tags.through._meta.db_table
    return (
        f"CASE WHEN EXISTS (SELECT 1 FROM {links} x WHERE x.response_id = r.id) "  # noqa: S608
        f"THEN {expr} ELSE {none} END"
    )


@functools.cache
def _sqlite_sql(fmt: str) -> str:
    moment, cell, safe, escaped = _sqlite_moment, _sqlite_cell, _sqlite_safe, _sqlite_escaped
    if fmt == "csv":
        # The names joined in a subquery, so that the cell's formula test reads them once.
        names = f"(SELECT group_concat(name, ', ') AS g FROM ({_sqlite_sorted_rows()}))"  # noqa: S608
        values = [
            "r.id", moment("r.created_at"), moment("r.updated_at"), "r.survey_id",
            safe("s.name"), "r.score", _CATEGORY, safe("r.comment"),
            f"{moment('r.commented_at')} || '+00:00'", safe("r.language"),
            escaped("r.status"),  # open or closed: never a formula
            _sqlite_if_tagged(f"(SELECT {cell('g')} FROM {names})", "NULL"),  # noqa: S608
            "r.contact_id", cell("c.email"), cell(FULL_NAME_SQL),
            # Starts with {: never a formula.
            f"""'"' || {escaped("NULLIF(c.properties, '{}')")} || '"'""",
        ]  # fmt: skip
    else:
        names = f"(SELECT json_group_array(name) FROM ({_sqlite_sorted_rows()}))"  # noqa: S608
        values = [
            "r.id", moment("r.created_at"), moment("r.updated_at"), "r.survey_id",
            "json_quote(s.name)", "r.score", _CATEGORY, "json_quote(r.comment)",
            f"""coalesce('"' || {moment("r.commented_at")} || '+00:00"', 'null')""",
            "json_quote(r.language)", "json_quote(r.status)", _sqlite_if_tagged(names, "'[]'"),
            "coalesce(r.contact_id, 'null')", "json_quote(coalesce(c.email, ''))",
            f"json_quote(coalesce({FULL_NAME_SQL}, ''))",
            "coalesce(c.properties, '{}')",  # valid JSON: the column has a JSON_VALID check
        ]  # fmt: skip
    # printf()'s %s writes NULL as nothing (format() is its name only from SQLite 3.38 on).
    # S608: table names only; values are parameters.
    return f"SELECT printf(%s, {', '.join(values)}) {_from()} WHERE {{where}} {_ORDER}"  # noqa: S608


def _sqlite_lines(connection: BaseDatabaseWrapper, fmt: str, where: str, params: list[Any]):
    """No transaction: SQLite's transactions begin IMMEDIATE (config.py) and would hold
    the write lock for the whole download; one statement reads one snapshot anyway."""
    sql, first = statement("sqlite", fmt, where)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*first, *params])
        while rows := cursor.fetchmany(CHUNK):
            yield ("\n".join([row[0] for row in rows]) + "\n").encode()


# ------------------------------------------------------------------------------ PostgreSQL


def _pg_moment(column: str) -> str:
    """isoformat(): microseconds unless they are zero (the session's zone is UTC)."""
    return f"replace(to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '')"


def _pg_safe(expr: str) -> str:
    return (
        f"CASE WHEN left({expr}, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r') "
        f"THEN '''' || {expr} ELSE {expr} END"
    )


# The text columns, which COPY quotes even when empty (as SQLite's cells are).
_PG_QUOTED = ("survey", "comment", "language", "status", "tags", "email", "name", "properties")


@functools.cache
def _pg_sql(fmt: str) -> str:
    safe = _pg_safe

    def moment(column: str) -> str:
        return f"{_pg_moment(column)} || '+00:00'"

    # A lateral join computes the tag names once per row (a subquery inside CASE would be
    # run twice); sorted by code point, as Python and SQLite sort.
    if fmt == "csv":
        names = "string_agg(t.name, ', ' ORDER BY t.name COLLATE \"C\")"
    else:
        names = 'array_to_json(array_agg(t.name ORDER BY t.name COLLATE "C"))'
    tags = f"LEFT JOIN LATERAL (SELECT {names} AS names {tag_rows_sql()}) tg ON true"
    if fmt == "csv":
        columns = [
            "r.id", moment("r.created_at"), moment("r.updated_at"), "r.survey_id",
            f"{safe('s.name')} AS survey", "r.score", _CATEGORY,
            f"{safe('r.comment')} AS comment", moment("r.commented_at"),
            f"{safe('r.language')} AS language", "r.status",
            f"{safe('tg.names')} AS tags", "r.contact_id", f"{safe('c.email')} AS email",
            f"{safe(FULL_NAME_SQL)} AS name",
            "NULLIF(c.properties, '{}'::jsonb)::text AS properties",
        ]  # fmt: skip
        select = ", ".join(columns)
        options = f"FORMAT csv, FORCE_QUOTE ({', '.join(_PG_QUOTED)})"
    else:
        values = [
            "r.id", _pg_moment("r.created_at"), _pg_moment("r.updated_at"), "r.survey_id",
            "to_json(s.name)", "r.score", _CATEGORY, "to_json(r.comment)",
            f"""coalesce('"' || {moment("r.commented_at")} || '"', 'null')""",
            "to_json(r.language)", "to_json(r.status)", "coalesce(tg.names::text, '[]')",
            "coalesce(r.contact_id::text, 'null')", "to_json(coalesce(c.email, ''))",
            f"to_json(coalesce({FULL_NAME_SQL}, ''))", "coalesce(c.properties::text, '{}')",
        ]  # fmt: skip
        select = f"format(%s, {', '.join(values)})"
        # CSV mode with a quote and a delimiter that a JSON line cannot hold (JSON escapes
        # every control character): the lines come out as they are. Text mode would
        # double each backslash.
        options = "FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02'"
    sql = f"SELECT {select} {_from(tags)} WHERE {{where}} {_ORDER}"  # noqa: S608
    return f"COPY ({sql}) TO STDOUT ({options})"


def _postgres_lines(connection: BaseDatabaseWrapper, fmt: str, where: str, params: list[Any]):
    """In a transaction (a client that goes away closes the generator: COPY is cancelled
    and the transaction rolled back)."""
    sql, first = statement("postgresql", fmt, where)
    with transaction.atomic(using=connection.alias):
        with connection.cursor() as cursor:
            for setting in POSTGRES_SETTINGS:
                cursor.execute(setting)
        with (
            connection.connection.cursor() as cursor,
            cursor.copy(sql, [*first, *params]) as copy,
        ):
            pieces: list[Any] = []
            size = 0
            for data in copy:
                pieces.append(data)
                size += len(data)
                if size >= PIECE_BYTES:
                    yield b"".join(pieces)
                    pieces, size = [], 0
            if pieces:
                yield b"".join(pieces)


# ---------------------------------------------------------------------------------- shared

# PostgreSQL's settings for the export's transaction. JIT compiling took 0.7 s before the
# first row; the memo of contacts in the plan (a nested loop, which keeps the order, so
# that the first rows come at once) needs more than the default 4 MB of work_mem to help
# (60,000 -> 74,000 rows/s). The zone makes to_char() write UTC.
POSTGRES_SETTINGS = (
    "SET LOCAL jit = off",
    "SET LOCAL work_mem = '64MB'",
    "SET LOCAL TIME ZONE 'UTC'",
)


def statement(vendor: str, fmt: str, where: str) -> tuple[str, list[Any]]:
    """The export's SQL for the database ("sqlite" or "postgresql"; on PostgreSQL a COPY
    statement) with the parameters that come before the WHERE's own."""
    sql = (_pg_sql if vendor == "postgresql" else _sqlite_sql)(fmt).replace("{where}", where)
    if vendor == "postgresql" and fmt == "csv":
        return sql, []
    return sql, [CSV_TEMPLATE if fmt == "csv" else JSON_TEMPLATE]


def lines(fmt: str, where: str, params: list[Any], *, using: str = "default") -> Iterator[bytes]:
    """The export as pieces of bytes, newest first: `where` over the aliases r (responses)
    and c (contacts), as filters.where_sql writes it, with its parameters."""
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"no line format {fmt!r}")
    connection = connections[using]
    run = _postgres_lines if connection.vendor == "postgresql" else _sqlite_lines
    pieces = run(connection, fmt, where, params)
    try:
        # The header goes with the first piece, after the query started: a query that
        # fails at once is then an error answer, not a 200 with a header and nothing else.
        first = next(pieces, b"")
        yield (CSV_HEADER if fmt == "csv" else b"") + first
        yield from pieces
    finally:
        pieces.close()  # a client that went away: COPY cancelled, transaction rolled back
