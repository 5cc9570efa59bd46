"""Reads of the daily roll-ups (see rollups.py): the same counts as the live queries for
filters on survey, date range, category and score range, comment and language.

Each read sums the needed score columns over the matching rows, grouped as asked, and
leaves out groups without a response, as the live GROUP BY does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.db.models import Q, QuerySet, Sum

from npsloop.accounts.models import Organization
from npsloop.insights import periods
from npsloop.insights.models import SCORES, DailyProperty, DailyScore, RollupState
from npsloop.responses.filters import CATEGORIES, ResponseFilter

# Counts: per score 0..10, and how many of them have a comment.
Counts = tuple[dict[int, int], int]


# The filter's fields the roll-ups hold; any other one set means the live queries (a
# field added to the filter language later too, until the roll-ups learn it).
ROLLED_FIELDS = frozenset(
    {"surveys", "categories", "score_min", "score_max", "date_from", "date_to"}
    | {"comment", "languages", "errors"}
)


def supports(flt: ResponseFilter) -> bool:
    """Whether the roll-ups hold every dimension the filter narrows by."""
    return not any(
        getattr(flt, f.name) for f in dataclasses.fields(flt) if f.name not in ROLLED_FIELDS
    )


def has_key(state: RollupState, key: str) -> bool:
    return key == "" or key in state.keys


def _scores(flt: ResponseFilter) -> list[int]:
    """The scores the filter's categories and score range let through."""
    allowed = []
    for score in SCORES:
        if flt.categories and not any(
            low <= score <= high for low, high in (CATEGORIES[c] for c in flt.categories)
        ):
            continue
        if flt.score_min is not None and score < flt.score_min:
            continue
        if flt.score_max is not None and score > flt.score_max:
            continue
        allowed.append(score)
    return allowed


def _rows(
    qs: QuerySet, organization: Organization, flt: ResponseFilter, *, days: bool = True
) -> QuerySet:
    qs = qs.filter(organization=organization)
    if flt.surveys:
        qs = qs.filter(survey_id__in=flt.surveys)
    if flt.languages:
        qs = qs.filter(language__in=flt.languages)
    if days:
        if flt.date_from:
            qs = qs.filter(day__gte=flt.date_from)
        if flt.date_to:
            qs = qs.filter(day__lte=flt.date_to)
    return qs.order_by()


def months_and_days(date_from: dt.date | None, date_to: dt.date | None) -> Q:
    """DailyProperty rows that add up to [date_from, date_to] (None: open): the months
    wholly inside it, and the days before the first and after the last of them."""
    first = date_from
    if first is not None and first.day != 1:
        first = periods.shift(periods.floor(first, periods.MONTH), periods.MONTH)
    # The day after the last whole month.
    after = None
    if date_to is not None:
        after = periods.floor(date_to + dt.timedelta(days=1), periods.MONTH)
    if first is not None and after is not None and first >= after:  # no whole month
        return Q(month=False, day__gte=date_from, day__lte=date_to)
    months = Q(month=True)
    if first is not None:
        months &= Q(day__gte=first)
    if after is not None:
        months &= Q(day__lt=after)
    if date_from is not None and date_from < first:
        months |= Q(month=False, day__gte=date_from, day__lt=first)
    if date_to is not None and date_to >= after:
        months |= Q(month=False, day__gte=after, day__lte=date_to)
    return months


def _grouped(
    qs: QuerySet, flt: ResponseFilter, group: tuple[str, ...], *, comments: bool = False
) -> dict[tuple, Counts]:
    """{group values: ({score: n}, comments)} for the filter, groups with responses only.
    comments=False leaves the comment count at 0 when the filter does not need it."""
    scores = _scores(flt)
    if not scores:
        return {}
    # With a comment: c<s>; without one: n<s> − c<s>; either: n<s>.
    sums = {}
    for s in scores:
        if flt.comment != "with":
            sums[f"n{s}"] = Sum(f"n{s}")
        if flt.comment or comments:
            sums[f"c{s}"] = Sum(f"c{s}")
    names = list(sums)
    if group:
        rows = qs.values(*group).annotate(**sums).values_list(*group, *names)
    else:
        total = qs.aggregate(**sums)
        rows = [tuple(total[name] for name in names)]
    # Where each score's two sums stand in a row (None: not asked for).
    at = {name: len(group) + i for i, name in enumerate(names)}
    columns = [(s, at.get(f"n{s}"), at.get(f"c{s}")) for s in scores]
    out: dict[tuple, Counts] = {}
    for row in rows:
        by_score, commented = {}, 0
        for s, n_at, c_at in columns:
            n = (row[n_at] or 0) if n_at is not None else 0
            c = (row[c_at] or 0) if c_at is not None else 0
            if flt.comment == "with":
                n = c
            elif flt.comment == "without":
                n, c = n - c, 0
            if n:
                by_score[s] = n
            commented += c
        if by_score:
            out[row[: len(group)]] = (by_score, commented)
    return out


def distribution(organization: Organization, flt: ResponseFilter) -> Counts:
    """({score: n}, comments) of the filter's responses."""
    rows = _grouped(_rows(DailyScore.objects, organization, flt), flt, (), comments=True)
    return rows.get((), ({}, 0))


def by_day(organization: Organization, flt: ResponseFilter) -> dict[dt.date, dict[int, int]]:
    rows = _grouped(_rows(DailyScore.objects, organization, flt), flt, ("day",))
    return {day: counts for (day,), (counts, _c) in rows.items()}


def by_field(organization: Organization, flt: ResponseFilter, field: str) -> dict:
    """{survey_id or language: {score: n}}."""
    rows = _grouped(_rows(DailyScore.objects, organization, flt), flt, (field,))
    return {value: counts for (value,), (counts, _c) in rows.items()}


def by_property(organization: Organization, flt: ResponseFilter, key: str) -> dict[str, dict]:
    """{value: {score: n}} of the contact property `key` ("" = gender)."""
    qs = _rows(DailyProperty.objects, organization, flt, days=False).filter(key=key)
    qs = qs.filter(months_and_days(flt.date_from, flt.date_to))
    rows = _grouped(qs, flt, ("value",))
    return {value: counts for (value,), (counts, _c) in rows.items()}
