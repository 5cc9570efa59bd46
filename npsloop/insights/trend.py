"""NPS and response count over time: one grouped query, every period listed."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from types import EllipsisType

from django.db.models import BooleanField, Case, Count, DateField, Min, Value, When
from django.db.models.functions import TruncDay, TruncMonth, TruncQuarter, TruncWeek
from django.utils import timezone

from npsloop.accounts.models import Organization
from npsloop.insights import periods, rolled, rollups
from npsloop.insights.models import RollupState
from npsloop.insights.nps import NpsSummary, combine, delta, direction, rolling, summarize
from npsloop.responses.filters import ResponseFilter, compile_filter

TRUNC = {
    periods.DAY: TruncDay,
    periods.WEEK: TruncWeek,
    periods.MONTH: TruncMonth,
    periods.QUARTER: TruncQuarter,
}
MAX_ROLLING = 52


@dataclass(frozen=True)
class TrendPoint:
    start: dt.date
    end: dt.date  # inclusive
    summary: NpsSummary  # the responses of this period (within the date range)
    window: NpsSummary  # the rolling window ending with this period (= summary without one)
    partial: bool = False  # the date range cuts the period

    @property
    def nps(self) -> float | None:
        """The plotted value: the window's NPS."""
        return self.window.nps


@dataclass(frozen=True)
class Trend:
    period: str
    rolling: int
    date_from: dt.date | None
    date_to: dt.date | None
    points: tuple[TrendPoint, ...]

    @property
    def current(self) -> TrendPoint | None:
        return self.points[-1] if self.points else None

    @property
    def previous(self) -> TrendPoint | None:
        return self.points[-2] if len(self.points) > 1 else None

    @property
    def delta(self) -> float | None:
        """The current period's NPS against the previous period's (window values)."""
        if self.current is None or self.previous is None:
            return None
        return delta(self.current.nps, self.previous.nps)

    @property
    def direction(self) -> str:
        return direction(self.delta)


def _first_day(organization: Organization, flt: ResponseFilter) -> dt.date | None:
    first = compile_filter(organization, flt).aggregate(first=Min("created_at"))["first"]
    return None if first is None else first.astimezone(organization.zone).date()


def trend(
    organization: Organization,
    flt: ResponseFilter,
    *,
    period: str | None = None,
    rolling_window: int = 1,
    today: dt.date | None = None,
    rollup: RollupState | None | EllipsisType = ...,
) -> Trend:
    """Every period of the filter's date range with its summary, empty ones included.

    Without a start date the series starts with the first matching response; without an
    end date it ends today (in the organization's zone). `period` defaults to one that
    suits the range's length and is made coarser when there would be too many points.
    With rolling_window=N each point also carries the summary of the last N periods
    (counts summed), reaching before the range for the first points. From the daily
    roll-ups when the filter allows (see rollups.for_filter), else one grouped query.
    """
    zone = organization.zone
    if not 1 <= rolling_window <= MAX_ROLLING:
        raise ValueError(f"rolling_window must be 1..{MAX_ROLLING}")
    rollup = rollups.for_filter(organization, flt, rollup)
    date_to = flt.date_to or today or timezone.now().astimezone(zone).date()
    daily = None
    if rollup is not None and flt.date_from is None:
        daily = rolled.by_day(organization, flt)  # every day: the first one starts the series
        date_from = min(daily, default=None)
    else:
        date_from = flt.date_from or _first_day(organization, flt)
    if date_from is None or date_to < date_from:
        return Trend(period or periods.WEEK, rolling_window, flt.date_from, date_to, ())
    period = periods.fitting_period(
        date_from, date_to, period or periods.default_period(date_from, date_to)
    )
    starts = periods.series(date_from, date_to, period)
    lead = rolling_window - 1
    lookback = [periods.shift(starts[0], period, -n) for n in range(lead, 0, -1)]

    query_from = lookback[0] if lookback else date_from
    if rollup is not None:
        if daily is None:
            daily = rolled.by_day(
                organization, dataclasses.replace(flt, date_from=query_from, date_to=date_to)
            )
        own, earlier = _from_days(daily, period, query_from, date_from, date_to)
    else:
        own, earlier = _live_buckets(organization, flt, period, query_from, date_from, date_to)
    summaries = {s: summarize(own.get(s, {})) for s in starts}
    full = [
        combine([summaries.get(s, summarize({})), summarize(earlier.get(s, {}))])
        for s in [*lookback, *starts]
    ]
    windows = rolling(full, rolling_window, lead=lead)
    points = tuple(
        TrendPoint(
            start=start,
            end=periods.last_day(start, period),
            summary=summaries[start],
            window=window,
            partial=start < date_from or periods.last_day(start, period) > date_to,
        )
        for start, window in zip(starts, windows, strict=True)
    )
    return Trend(period, rolling_window, date_from, date_to, points)


Buckets = dict[dt.date, dict[int, int]]


def _from_days(
    daily: Buckets, period: str, query_from: dt.date, date_from: dt.date, date_to: dt.date
) -> tuple[Buckets, Buckets]:
    """(counts per period start, counts per period start before date_from) from days."""
    own: Buckets = {}
    earlier: Buckets = {}
    for day, counts in daily.items():
        if not query_from <= day <= date_to:
            continue
        target = earlier if day < date_from else own
        bucket = target.setdefault(periods.floor(day, period), {})
        for score, n in counts.items():
            bucket[score] = bucket.get(score, 0) + n
    return own, earlier


def _live_buckets(
    organization: Organization,
    flt: ResponseFilter,
    period: str,
    query_from: dt.date,
    date_from: dt.date,
    date_to: dt.date,
) -> tuple[Buckets, Buckets]:
    zone = organization.zone
    lead = query_from < date_from
    responses = compile_filter(
        organization, dataclasses.replace(flt, date_from=query_from, date_to=date_to)
    ).order_by()
    bucket = TRUNC[period]("created_at", output_field=DateField(), tzinfo=zone)
    before = Value(False)
    if lead:
        # Responses before the range feed the rolling windows, never a period's own count.
        before = Case(
            When(created_at__lt=periods.midnight(date_from, zone), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
    rows = (
        responses.annotate(bucket=bucket, before=before)
        .values_list("bucket", "before", "score")
        .annotate(n=Count("id"))
    )
    own: Buckets = {}
    earlier: Buckets = {}
    for start, is_before, score, n in rows:
        target = earlier if is_before else own
        target.setdefault(start, {})[score] = n
    return own, earlier
