"""Query parameters shared by the endpoints: the filter language, times, paging."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _

from npsloop.api.errors import InvalidFilter
from npsloop.contacts import normalize
from npsloop.responses.filters import ResponseFilter, parse

# Parameters of the API itself; everything else in the query string is the filter language.
API_PARAMS = {"since", "until", "updated_since", "expand", "period", "rolling", "breakdown"}
FILTER_HELP = (
    "Filters use the inbox's filter language as query parameters: survey, category "
    "(promoter/passive/detractor), score_min, score_max, from, to (dates), comment "
    "(with/without), q, tag, status (open/closed), lang, assignee, prop.<key>. "
    "An unknown parameter is a 400 naming it."
)


def response_filter(request: HttpRequest) -> ResponseFilter:
    query = request.GET.copy()
    for name in API_PARAMS:
        query.pop(name, None)
    flt = parse(query, strict=True)
    if flt.errors:
        raise InvalidFilter(_("The filter is not valid."), details=dict(flt.errors))
    return flt


def moment(name: str, value: str | None) -> dt.datetime | None:
    """An ISO 8601 date-time or a Unix time (seconds or milliseconds)."""
    if value in (None, ""):
        return None
    try:
        return normalize.segment_time(value)
    except ValidationError as exc:
        raise InvalidFilter(
            _("The filter is not valid."), details={name: exc.messages[0]}
        ) from None
