from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Router

from npsloop.api import present
from npsloop.api.errors import InvalidFilter
from npsloop.api.params import FILTER_HELP, response_filter
from npsloop.api.schemas import MetricsOut
from npsloop.api.shared import ERRORS
from npsloop.insights.nps import rate
from npsloop.insights.options import parse_options
from npsloop.insights.selectors import dashboard
from npsloop.insights.trend import MAX_ROLLING

router = Router(tags=["metrics"])


@router.get(
    "/metrics",
    response={200: MetricsOut, **ERRORS},
    description=FILTER_HELP
    + " Without from/to, the last 90 days. period (day/week/month/quarter), rolling "
    "(periods in the window) and breakdown (survey, language, gender, prop.<key>) "
    "shape the trend and the breakdown.",
)
def metrics(request: HttpRequest):
    """The NPS and the dashboard's figures for a filter and date range."""
    organization = request.auth.organization
    flt = response_filter(request)
    query = request.GET.copy()
    errors = {}
    if not all(v.strip().isascii() for v in query.getlist("rolling")):
        # str.isdigit takes "²", which int() then refuses: not the parser's to see.
        query.pop("rolling")
        errors["rolling"] = _("Use a rolling window of 1 to %(max)d periods.") % {
            "max": MAX_ROLLING
        }
    options = parse_options(query)
    errors = {**options.errors, **errors}
    if errors:
        raise InvalidFilter(_("The filter is not valid."), details=errors)
    today = timezone.localdate(timezone.now(), organization.zone)
    board = dashboard(organization, flt, options, today=today)
    m = board.metrics
    return {
        "date_from": m.date_from,
        "date_to": m.date_to,
        "summary": present.nps(m.summary),
        "previous": present.nps(m.previous),
        "delta": m.delta,
        "comments": m.comments,
        "comment_rate": rate(m.comments, m.summary.total),
        "sent": m.sent,
        "responded": m.responded,
        "response_rate": m.response_rate,
        "unsubscribes": m.unsubscribes,
        "bounces": m.bounces,
        "period": board.trend.period,
        "rolling": board.trend.rolling,
        "trend": [
            {
                "start": p.start,
                "end": p.end,
                "partial": p.partial,
                "nps": p.summary.nps,
                "total": p.summary.total,
                "window_nps": p.window.nps,
            }
            for p in board.trend.points
        ],
        "breakdown_by": board.breakdown.by,
        "breakdown": [
            {
                "key": str(g.key),
                "label": str(g.label),
                "nps": g.summary.nps,
                "total": g.summary.total,
            }
            for g in board.breakdown.groups
        ],  # fmt: skip
    }
