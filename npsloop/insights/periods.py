"""Periods of a trend: pure date arithmetic, no database, no clock.

Dates are days in the organization's time zone, as in the filter language. Weeks
start on Monday (ISO 8601, as the databases' week truncation does); quarters start
in January, April, July and October.
"""

from __future__ import annotations

import datetime as dt

DAY, WEEK, MONTH, QUARTER = "day", "week", "month", "quarter"
PERIODS = (DAY, WEEK, MONTH, QUARTER)
# A trend never has more points than this: a longer series asks for a coarser period.
MAX_POINTS = 400
# Without a date range, the dashboard shows the last DEFAULT_DAYS days.
DEFAULT_DAYS = 90


def floor(day: dt.date, period: str) -> dt.date:
    """The first day of the period that contains `day`."""
    if period == DAY:
        return day
    if period == WEEK:
        return day - dt.timedelta(days=day.weekday())
    if period == MONTH:
        return day.replace(day=1)
    if period == QUARTER:
        return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)
    raise ValueError(f"unknown period {period!r}")


def shift(start: dt.date, period: str, n: int = 1) -> dt.date:
    """The start of the period n periods after (n < 0: before) the one starting at `start`."""
    if period == DAY:
        return start + dt.timedelta(days=n)
    if period == WEEK:
        return start + dt.timedelta(weeks=n)
    months = {MONTH: 1, QUARTER: 3}.get(period)
    if months is None:
        raise ValueError(f"unknown period {period!r}")
    index = start.year * 12 + start.month - 1 + n * months
    return dt.date(index // 12, index % 12 + 1, 1)


def last_day(start: dt.date, period: str) -> dt.date:
    """The last day (inclusive) of the period starting at `start`."""
    return shift(start, period) - dt.timedelta(days=1)


def series(date_from: dt.date, date_to: dt.date, period: str) -> list[dt.date]:
    """Start of every period that overlaps [date_from, date_to], empty ones included."""
    if date_to < date_from:
        return []
    starts, start = [], floor(date_from, period)
    while start <= date_to:
        starts.append(start)
        start = shift(start, period)
    return starts


def count(date_from: dt.date, date_to: dt.date, period: str) -> int:
    if date_to < date_from:
        return 0
    first, last = floor(date_from, period), floor(date_to, period)
    if period == DAY:
        return (last - first).days + 1
    if period == WEEK:
        return (last - first).days // 7 + 1
    months = (last.year - first.year) * 12 + last.month - first.month
    return months // (3 if period == QUARTER else 1) + 1


def default_period(date_from: dt.date, date_to: dt.date) -> str:
    """A readable number of points: days up to a month, weeks up to half a year,
    months up to three years, quarters beyond."""
    days = (date_to - date_from).days + 1
    if days <= 31:
        return DAY
    if days <= 190:
        return WEEK
    if days <= 3 * 366:
        return MONTH
    return QUARTER


def fitting_period(date_from: dt.date, date_to: dt.date, period: str) -> str:
    """`period`, or the next coarser one while the series would have too many points."""
    index = PERIODS.index(period)
    while index < len(PERIODS) - 1 and count(date_from, date_to, PERIODS[index]) > MAX_POINTS:
        index += 1
    return PERIODS[index]


def default_range(today: dt.date, days: int = DEFAULT_DAYS) -> tuple[dt.date, dt.date]:
    """The last `days` days, today included."""
    return today - dt.timedelta(days=days - 1), today


def previous_range(date_from: dt.date, date_to: dt.date) -> tuple[dt.date, dt.date]:
    """The range of the same length just before [date_from, date_to]."""
    length = (date_to - date_from).days + 1
    return date_from - dt.timedelta(days=length), date_from - dt.timedelta(days=1)


def week_of(day: dt.date) -> tuple[dt.date, dt.date]:
    """Monday and Sunday of the week that contains `day`."""
    monday = floor(day, WEEK)
    return monday, monday + dt.timedelta(days=6)


def midnight(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    """The first instant of `day` in `zone` (an aware datetime)."""
    return dt.datetime.combine(day, dt.time(), zone)
