"""Query parameters shared by the endpoints: the filter language, times, paging.

The parsers come from the inbox, which drops a bad value; the API answers it with a 400
instead, and also refuses here what the database or Python's dates cannot take.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl

from django.core.exceptions import ValidationError
from django.http import HttpRequest, QueryDict
from django.utils.translation import gettext as _

from npsloop.api.errors import InvalidFilter
from npsloop.contacts import normalize
from npsloop.responses.filters import ResponseFilter, parse
from npsloop.responses.pagination import BadCursor, decode

# Parameters of the API itself; everything else in the query string is the filter language.
API_PARAMS = {"since", "until", "updated_since", "expand", "period", "rolling", "breakdown"}
FILTER_HELP = (
    "Filters use the inbox's filter language as query parameters: survey, category "
    "(promoter/passive/detractor), score_min, score_max, from, to (dates from 2000-01-01 "
    "to 2099-12-31), comment (with/without), q, tag, status (open/closed), lang, assignee, "
    "prop.<key>. An unknown parameter is a 400 naming it."
)
# `from` and `to`: the dashboard compares with the range before and counts a day past
# the end, so both stay far inside Python's dates (years 1 to 9999), and the widest
# range is 400 quarters, the most points a trend has (insights.periods.MAX_POINTS).
FIRST_DAY = dt.date(2000, 1, 1)
LAST_DAY = dt.date(2099, 12, 31)
MAX_ID = 2**62  # ids are 64-bit integers in the database


def _nul_errors(query) -> dict[str, str]:
    """PostgreSQL cannot compare text with a NUL character in it."""
    return {
        key: _("Text may not contain NUL (\\u0000).")
        for key in query
        if "\x00" in key or any("\x00" in value for value in query.getlist(key))
    }


def is_id(value: str) -> bool:
    """ASCII digits of a 64-bit id (str.isdigit also takes "²", which int() refuses)."""
    return value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID


def _range_errors(flt: ResponseFilter) -> dict[str, str]:
    errors = {}
    for name, day in (("from", flt.date_from), ("to", flt.date_to)):
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            errors[name] = _("Use a date from %(first)s to %(last)s.") % {
                "first": FIRST_DAY.isoformat(),
                "last": LAST_DAY.isoformat(),
            }
    if flt.assignee and flt.assignee != "none" and not is_id(flt.assignee):
        errors["assignee"] = _("Choose a member.")
    return errors


def check_filter(query: QueryDict, *, prefix: str = "") -> ResponseFilter:
    """The filter in `query`; InvalidFilter (400) naming each bad parameter."""
    errors = _nul_errors(query)
    if not errors:
        flt = parse(query, strict=True)
        errors = {**flt.errors, **_range_errors(flt)}
    if errors:
        details = {prefix + key: value for key, value in errors.items()}
        raise InvalidFilter(_("The filter is not valid."), details=details)
    return flt


def response_filter(request: HttpRequest) -> ResponseFilter:
    query = request.GET.copy()
    for name in API_PARAMS:
        query.pop(name, None)
    return check_filter(query)


def query_filter(text: str) -> ResponseFilter:
    """A filter written as a query string (a share link's), checked as the API's own."""
    query = QueryDict(mutable=True)
    for key, value in parse_qsl(text.lstrip("?")):
        query.appendlist(key, value)
    return check_filter(query, prefix="query.")


def instant(value: object) -> dt.datetime | None:
    """An ISO 8601 date-time or a Unix time (seconds or milliseconds) that the database can
    store; raises ValidationError for anything else."""
    invalid = ValidationError(_("%(value)s is not a valid date.") % {"value": str(value)[:64]})
    if isinstance(value, str) and "\x00" in value:
        raise invalid
    try:
        parsed = normalize.segment_time(value)
        # Stored and compared in UTC: 0001-01-01T00:00+05:00 has no UTC time.
        return parsed.astimezone(dt.UTC) if parsed is not None else None
    except (ValueError, OverflowError):  # float("²") passes str.isdigit
        raise invalid from None


def moment(name: str, value: str | None) -> dt.datetime | None:
    """An ISO 8601 date-time or a Unix time (seconds or milliseconds)."""
    if value in (None, ""):
        return None
    try:
        return instant(value)
    except ValidationError as exc:
        raise InvalidFilter(
            _("The filter is not valid."), details={name: exc.messages[0]}
        ) from None


def check_cursor(cursor: str | None) -> str | None:
    """A cursor the pagination can use; BadCursor (400) for one it did not hand out."""
    if cursor:
        at, pk = decode(cursor)
        try:
            at.astimezone(dt.UTC)
        except OverflowError:
            raise BadCursor(_("This page link is broken; start from the first page.")) from None
        if not 0 < pk <= MAX_ID:
            raise BadCursor(_("This page link is broken; start from the first page."))
    return cursor
