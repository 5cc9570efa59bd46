"""The dashboard's own parameters beside the filter: period, rolling window, breakdown."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from django.utils.translation import gettext as _

from npsloop.insights import breakdowns, periods
from npsloop.insights.trend import MAX_ROLLING
from npsloop.responses.filters import ResponseFilter

ROLLING_CHOICES = (1, 2, 3, 4, 6, 8, 12)
TABLES = ("trend", "breakdown", "distribution")


@dataclass(frozen=True)
class Options:
    period: str = ""  # "" = the default for the date range
    rolling: int = 1
    breakdown: str = breakdowns.SURVEY
    errors: dict[str, str] = field(default_factory=dict, compare=False)

    def to_query(self, **changes) -> str:
        """The options that differ from the defaults, as a query string."""
        opts = dataclasses.replace(self, **changes) if changes else self
        pairs = []
        if opts.period:
            pairs.append(("period", opts.period))
        if opts.rolling != 1:
            pairs.append(("rolling", str(opts.rolling)))
        if opts.breakdown != breakdowns.SURVEY:
            pairs.append(("breakdown", opts.breakdown))
        return urlencode(pairs)


def _items(query) -> list[tuple[str, str]]:
    if query is None:
        return []
    if isinstance(query, str):
        return parse_qsl(query.lstrip("?"))
    if hasattr(query, "getlist"):
        return [(k, v) for k in query for v in query.getlist(k)]
    return [(k, v) for k, vs in query.items() for v in (vs if isinstance(vs, list) else [vs])]


def parse_options(query) -> Options:
    """Read period, rolling and breakdown; bad values fall back to the defaults, explained."""
    values = {k: str(v).strip() for k, v in _items(query)}
    errors: dict[str, str] = {}
    period = values.get("period", "")
    if period and period not in periods.PERIODS:
        errors["period"] = _("Choose day, week, month or quarter.")
        period = ""
    rolling = 1
    if raw := values.get("rolling", ""):
        if raw.isdigit() and 1 <= int(raw) <= MAX_ROLLING:
            rolling = int(raw)
        else:
            errors["rolling"] = _("Use a rolling window of 1 to %(max)d periods.") % {
                "max": MAX_ROLLING
            }
    breakdown = values.get("breakdown", "") or breakdowns.SURVEY
    if not breakdowns.valid(breakdown):
        errors["breakdown"] = _("Choose survey, language, gender or a contact property.")
        breakdown = breakdowns.SURVEY
    return Options(period=period, rolling=rolling, breakdown=breakdown, errors=errors)


def with_range(flt: ResponseFilter, today: dt.date) -> ResponseFilter:
    """The filter with a full date range: the last 90 days when it has none, today as the
    end when only the start is given, 90 days up to the end when only the end is."""
    if flt.date_from and flt.date_to:
        return flt
    if flt.date_from:
        return dataclasses.replace(flt, date_to=max(today, flt.date_from))
    if flt.date_to:
        start = flt.date_to - dt.timedelta(days=periods.DEFAULT_DAYS - 1)
        return dataclasses.replace(flt, date_from=start)
    date_from, date_to = periods.default_range(today)
    return dataclasses.replace(flt, date_from=date_from, date_to=date_to)
