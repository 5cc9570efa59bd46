"""Bulk export of responses as CSV, JSON Lines or XLSX, in constant memory.

CSV and JSON Lines are generated row by row while the answer streams. XLSX is
written by XlsxWriter in constant_memory mode to a temporary file (one row in
memory at a time), which is then streamed from disk.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse, HttpResponseBase, StreamingHttpResponse

from npsloop.responses.models import Response

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
CHUNK = 2000
COLUMNS = [
    "id", "created_at", "updated_at", "survey_id", "survey", "score", "category", "comment",
    "commented_at", "language", "status", "tags", "person_id", "email", "name", "properties",
]  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def rows(qs: QuerySet[Response]) -> Iterator[dict[str, Any]]:
    """One dict per response, read in chunks of CHUNK rows."""
    qs = (
        qs.select_related("survey", "contact")
        .prefetch_related("tags")
        .order_by("-created_at", "-id")
    )
    for r in qs.iterator(chunk_size=CHUNK):
        contact = r.contact
        yield {
            "id": r.pk,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
            "survey_id": r.survey_id,
            "survey": r.survey.name,
            "score": r.score,
            "category": r.category,
            "comment": r.comment,
            "commented_at": r.commented_at,
            "language": r.language,
            "status": r.status,
            "tags": sorted(t.name for t in r.tags.all()),
            "person_id": r.contact_id,
            "email": contact.email if contact else "",
            "name": contact.full_name if contact else "",
            "properties": (contact.properties or {}) if contact else {},
        }


def _text(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
    if value is None:
        return ""
    return value


def _cell(value: Any) -> Any:
    """A spreadsheet cell; text that a spreadsheet would run as a formula is quoted."""
    value = _text(value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_chunks(items: Iterable[dict[str, Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(COLUMNS)  # the BOM lets Excel read UTF-8
    for item in items:
        yield writer.writerow([_cell(item[c]) for c in COLUMNS])


def jsonl_chunks(items: Iterable[dict[str, Any]]) -> Iterator[str]:
    for item in items:
        yield json.dumps(item, ensure_ascii=False, default=_text) + "\n"


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


def export_response(qs: QuerySet[Response], fmt: str, filename: str) -> HttpResponseBase:
    items = rows(qs)
    name = f"{filename}.{fmt}"
    if fmt == "xlsx":
        return FileResponse(
            xlsx_file(items), as_attachment=True, filename=name, content_type=FORMATS["xlsx"]
        )
    chunks = csv_chunks(items) if fmt == "csv" else jsonl_chunks(items)
    response = StreamingHttpResponse(chunks, content_type=FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
