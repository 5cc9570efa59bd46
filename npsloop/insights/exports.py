"""The dashboard's tables as CSV: the same numbers as on the page, safe to open in Excel."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

from npsloop.insights.breakdowns import Breakdown
from npsloop.insights.nps import NpsSummary, category
from npsloop.insights.trend import Trend
from npsloop.responses.filters import ResponseFilter

# A cell starting with one of these is read as a formula by spreadsheets (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SLUG = re.compile(r"[^a-z0-9]+")


def safe_cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe.

    Numbers we computed stay numbers (a negative NPS is −12.5, not a formula); only
    text (survey names, property values, labels) can carry a formula.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _num(value: float | None) -> object:
    return "" if value is None else round(value, 2)


def _ci(summary: NpsSummary) -> tuple[object, object]:
    bounds = summary.confidence
    return ("", "") if bounds is None else (_num(bounds[0]), _num(bounds[1]))


def _summary_cells(summary: NpsSummary) -> list[object]:
    return [
        summary.total,
        summary.promoters,
        summary.passives,
        summary.detractors,
        _num(summary.nps),
        *_ci(summary),
    ]


SUMMARY_HEADER = ["responses", "promoters", "passives", "detractors", "nps", "ci_low", "ci_high"]


def trend_rows(trend: Trend) -> list[list[object]]:
    header = ["period", "start", "end", "partial", *SUMMARY_HEADER]
    if trend.rolling > 1:
        header += [f"rolling_{trend.rolling}_responses", "rolling_nps"]
    rows: list[list[object]] = [header]
    for p in trend.points:
        row = [trend.period, p.start.isoformat(), p.end.isoformat(), p.partial]
        row += _summary_cells(p.summary)
        if trend.rolling > 1:
            row += [p.window.total, _num(p.window.nps)]
        rows.append(row)
    return rows


def breakdown_rows(breakdown: Breakdown) -> list[list[object]]:
    rows: list[list[object]] = [["group", "value", *SUMMARY_HEADER, "too_few_to_judge"]]
    for g in breakdown.groups:
        rows.append([g.label, g.key, *_summary_cells(g.summary), g.too_few])
    return rows


def distribution_rows(summary: NpsSummary) -> list[list[object]]:
    rows: list[list[object]] = [["score", "category", "responses", "share_percent"]]
    for score, count in enumerate(summary.distribution):
        rows.append([score, category(score), count, _num(summary.share(count))])
    return rows


def to_csv(rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


def filename(table: str, organization_name: str, flt: ResponseFilter) -> str:
    """e.g. npsloop-acme-trend-2025-01-01-2025-03-31.csv: only [a-z0-9.-]."""
    slug = _SLUG.sub("-", organization_name.lower()).strip("-")[:40] or "organization"
    parts = ["npsloop", slug, table]
    if flt.date_from:
        parts.append(flt.date_from.isoformat())
    if flt.date_to:
        parts.append(flt.date_to.isoformat())
    return "-".join(parts) + ".csv"
