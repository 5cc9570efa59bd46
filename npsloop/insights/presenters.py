"""From numbers to a page: links that keep the filter, labels, charts and their tables."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from django.urls import reverse
from django.utils.formats import date_format
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from npsloop.insights import charts, periods
from npsloop.insights.breakdowns import GENDER, LANGUAGE, SURVEY, Breakdown, Group
from npsloop.insights.nps import (
    MIN_RESPONSES_TO_JUDGE,
    NpsSummary,
    category,
    round_half_away,
)
from npsloop.insights.options import ROLLING_CHOICES, TABLES, Options
from npsloop.insights.selectors import Dashboard
from npsloop.insights.trend import Trend, TrendPoint
from npsloop.responses.filters import PROPERTY_PREFIX, ResponseFilter

PERIOD_NAMES = {
    periods.DAY: gettext_lazy("Day"),
    periods.WEEK: gettext_lazy("Week"),
    periods.MONTH: gettext_lazy("Month"),
    periods.QUARTER: gettext_lazy("Quarter"),
}
# The same inside a sentence ("NPS per week"): its own strings, as German keeps the capital.
PERIOD_IN_TEXT = {
    periods.DAY: gettext_lazy("day"),
    periods.WEEK: gettext_lazy("week"),
    periods.MONTH: gettext_lazy("month"),
    periods.QUARTER: gettext_lazy("quarter"),
}


def _join(*queries: str) -> str:
    query = "&".join(q for q in queries if q)
    return f"?{query}" if query else ""


def page_url(path: str, flt: ResponseFilter, options: Options, **changes) -> str:
    return path + _join(flt.to_query(), options.to_query(**changes))


def inbox_url(flt: ResponseFilter) -> str:
    return reverse("inbox") + _join(flt.to_query())


def export_url(flt: ResponseFilter, options: Options, table: str) -> str:
    return reverse("dashboard_export") + _join(flt.to_query(), options.to_query(), f"table={table}")


def narrow(flt: ResponseFilter, param: tuple[str, str]) -> ResponseFilter:
    """The filter limited to one group of a breakdown."""
    name, value = param
    if name == "survey":
        return dataclasses.replace(flt, surveys=(int(value),))
    if name == "lang":
        return dataclasses.replace(flt, languages=(value,))
    key = name[len(PROPERTY_PREFIX) :]
    kept = tuple((k, v) for k, v in flt.properties if k != key)
    return dataclasses.replace(flt, properties=tuple(sorted({*kept, (key, value)})))


def _nps_text(value: float | None) -> str:
    rounded = round_half_away(value)
    return "—" if rounded is None else str(rounded).replace("-", "\u2212")


def axis_label(start: dt.date, period: str) -> str:
    if period == periods.QUARTER:
        quarter = (start.month - 1) // 3 + 1
        return _("Q%(quarter)d %(year)d") % {"quarter": quarter, "year": start.year}
    if period == periods.MONTH:
        return date_format(start, "M Y")
    return date_format(start, "j M")


def period_name(point: TrendPoint, period: str) -> str:
    """The period in words, e.g. "Week of 6 Jan 2025"."""
    day = date_format(point.start, "j M Y")
    if period == periods.DAY:
        return day
    if period == periods.WEEK:
        return _("Week of %(day)s") % {"day": day}
    if period == periods.MONTH:
        return date_format(point.start, "F Y")
    return axis_label(point.start, period)


def _describe(summary: NpsSummary) -> str:
    if not summary.total:
        return _("no responses")
    bounds = summary.confidence
    return _("NPS %(nps)s (95%% CI %(low)s to %(high)s), %(n)d responses") % {
        "nps": _nps_text(summary.nps),
        "low": _nps_text(bounds[0]),
        "high": _nps_text(bounds[1]),
        "n": summary.total,
    }


@dataclass(frozen=True)
class TrendRow:
    point: TrendPoint
    name: str

    @property
    def summary(self) -> NpsSummary:
        return self.point.summary

    @property
    def window(self) -> NpsSummary:
        return self.point.window


def trend_svg(trend: Trend, rows: list[TrendRow], chart_id: str = "trend-chart") -> SafeString:
    points = []
    for row in rows:
        window = row.point.window
        bounds = window.confidence
        tip = f"{row.name}: {_describe(window)}"
        if trend.rolling > 1:
            tip = f"{row.name}: " + _("%(window)s (last %(n)d periods)") % {
                "window": _describe(window),
                "n": trend.rolling,
            }
        points.append(
            charts.TrendPoint(
                label=axis_label(row.point.start, trend.period),
                tooltip=tip,
                nps=window.nps,
                low=bounds[0] if bounds else None,
                high=bounds[1] if bounds else None,
                count=row.point.summary.total,
            )
        )
    values = [r for r in rows if r.window.total]
    if values:
        desc = _(
            "NPS per %(period)s from %(first)s to %(last)s: %(first_nps)s at first, "
            "%(last_nps)s at last; response counts as bars below. The table has every value."
        ) % {
            "period": str(PERIOD_IN_TEXT[trend.period]),
            "first": rows[0].name,
            "last": rows[-1].name,
            "first_nps": _nps_text(values[0].window.nps),
            "last_nps": _nps_text(values[-1].window.nps),
        }
    else:
        desc = _("No responses in this range.")
    return charts.trend_chart(
        points,
        chart_id=chart_id,
        title=_("NPS and responses by %(period)s") % {"period": str(PERIOD_IN_TEXT[trend.period])},
        desc=desc,
        nps_label=_("NPS")
        + (" (%s)" % (_("rolling %(n)s") % {"n": trend.rolling}) if trend.rolling > 1 else ""),
        count_label=_("Responses"),
    )


def distribution_svg(summary: NpsSummary, chart_id: str = "distribution-chart") -> SafeString:
    bars = [
        charts.Bar(
            label=str(score),
            value=count,
            css=category(score),
            tooltip=_("Score %(score)d: %(n)d responses") % {"score": score, "n": count},
        )
        for score, count in enumerate(summary.distribution)
    ]
    desc = _("%(n)d responses: %(p)d promoters, %(pa)d passives, %(d)d detractors.") % {
        "n": summary.total,
        "p": summary.promoters,
        "pa": summary.passives,
        "d": summary.detractors,
    }
    return charts.bar_chart(
        bars, chart_id=chart_id, title=_("Responses per score, 0 to 10"), desc=desc, width=380
    )


@dataclass(frozen=True)
class GroupRow:
    group: Group
    filter_url: str | None
    inbox_url: str | None
    detail_url: str | None


def breakdown_svg(title: str, rows: list[GroupRow], chart_id: str = "breakdown-chart"):
    chart_rows = []
    for row in rows:
        summary = row.group.summary
        bounds = summary.confidence
        chart_rows.append(
            charts.Row(
                label=row.group.label,
                nps=summary.nps,
                low=bounds[0] if bounds else None,
                high=bounds[1] if bounds else None,
                tooltip=f"{row.group.label}: {_describe(summary)}"
                + (f" · {_('too few to judge')}" if summary.too_few else ""),
                muted=summary.too_few,
            )
        )
    desc = _(
        "NPS with its 95%% confidence interval for each of %(n)d groups; groups with "
        "too few responses are drawn faint. The table has every value."
    ) % {"n": len(rows)}
    return charts.breakdown_chart(chart_rows, chart_id=chart_id, title=title, desc=desc)


def breakdown_choices(keys: list[str]) -> list[tuple[str, str]]:
    fixed = [(SURVEY, _("Survey")), (LANGUAGE, _("Language")), (GENDER, _("Gender"))]
    return fixed + [(PROPERTY_PREFIX + k, k) for k in keys]


def breakdown_title(bd: Breakdown, choices: list[tuple[str, str]]) -> str:
    label = dict(choices).get(bd.by) or bd.property_key or bd.by
    return _("NPS by %(group)s") % {"group": label}


def context(path: str, data: Dashboard, *, property_keys: list[str]) -> dict:
    """Everything the insight partials show, with links back to `path` that keep the filter."""
    flt, ranged, options, trend = data.flt, data.ranged, data.options, data.trend
    bd = data.breakdown
    rows = [TrendRow(point=p, name=period_name(p, trend.period)) for p in trend.points]
    choices = breakdown_choices(property_keys)
    if data.breakdown.by not in dict(choices):
        choices.append((data.breakdown.by, data.breakdown.property_key or data.breakdown.by))
    group_rows = []
    for group in data.breakdown.groups:
        narrowed = narrow(flt, group.param) if group.param else None
        group_rows.append(
            GroupRow(
                group=group,
                filter_url=page_url(path, narrowed, options) if narrowed else None,
                inbox_url=inbox_url(narrow(ranged, group.param)) if group.param else None,
                detail_url=reverse("survey_detail", args=[group.survey.pk])
                if group.survey is not None
                else None,
            )
        )
    title = breakdown_title(data.breakdown, choices)
    previous = data.metrics.previous_range
    return {
        "data": data,
        "flt": flt,
        "ranged": ranged,
        "options": options,
        "metrics": data.metrics,
        "summary": data.metrics.summary,
        "trend": trend,
        "trend_rows": rows,
        "trend_chart": trend_svg(trend, rows),
        "distribution_chart": distribution_svg(data.metrics.summary),
        "breakdown": data.breakdown,
        "breakdown_rows": group_rows,
        "breakdown_title": title,
        "breakdown_chart": breakdown_svg(title, group_rows),
        "breakdown_links": [
            (value, label, page_url(path, flt, options, breakdown=value), value == bd.by)
            for value, label in choices
        ],
        "period_links": [
            (
                value,
                PERIOD_NAMES[value],
                page_url(path, flt, options, period=value),
                value == trend.period,
            )
            for value in periods.PERIODS
        ],
        "period_name": PERIOD_NAMES[trend.period],
        "current_name": rows[-1].name if rows else "",
        "min_responses": MIN_RESPONSES_TO_JUDGE,
        "rolling_choices": ROLLING_CHOICES,
        "previous_range": previous,
        "previous_days": (previous[1] - previous[0]).days + 1 if previous else 0,
        "inbox_url": inbox_url(ranged),
        "export": {table: export_url(flt, options, table) for table in TABLES},
        "errors": {**flt.errors, **options.errors},
    }
