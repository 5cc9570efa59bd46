"""Reads for the dashboard, the CSV export, the digest and (later) the API.

Each takes (organization, ResponseFilter, options) and runs a fixed number of
aggregate queries: metrics.py (key figures), trend.py (over time), breakdowns.py
(by group). This module puts them together for one page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet

from npsloop.accounts.models import Membership, Organization
from npsloop.insights import rollups
from npsloop.insights.breakdowns import Breakdown, breakdown, property_keys
from npsloop.insights.metrics import Metrics, distribution, metrics
from npsloop.insights.options import Options, with_range
from npsloop.insights.trend import Trend, trend
from npsloop.responses.filters import ResponseFilter, compile_filter
from npsloop.responses.models import Response

__all__ = [
    "Dashboard",
    "breakdown",
    "dashboard",
    "distribution",
    "latest_responses",
    "membership_of",
    "metrics",
    "property_keys",
    "trend",
]


@dataclass(frozen=True)
class Dashboard:
    flt: ResponseFilter  # the filter as given, for links
    ranged: ResponseFilter  # the filter with the date range the numbers are for
    options: Options
    metrics: Metrics
    trend: Trend
    breakdown: Breakdown


def dashboard(
    organization: Organization, flt: ResponseFilter, options: Options, *, today: dt.date
) -> Dashboard:
    """Key figures, trend and one breakdown for the filter (last 90 days without a range)."""
    ranged = with_range(flt, today)
    # One look at the roll-ups (and refresh, if due) for the three reads.
    rollup = rollups.for_filter(organization, ranged, ...)
    return Dashboard(
        flt=flt,
        ranged=ranged,
        options=options,
        metrics=metrics(organization, ranged, rollup=rollup),
        trend=trend(
            organization,
            ranged,
            period=options.period or None,
            rolling_window=options.rolling,
            today=today,
            rollup=rollup,
        ),
        breakdown=breakdown(organization, ranged, options.breakdown, rollup=rollup),
    )


def latest_responses(
    organization: Organization, flt: ResponseFilter, *, limit: int = 20
) -> QuerySet[Response]:
    return (
        compile_filter(organization, flt)
        .select_related("contact", "survey")
        .order_by("-created_at", "-id")[:limit]
    )


def membership_of(organization: Organization, user) -> Membership | None:
    return Membership.objects.filter(organization=organization, user_id=user.pk).first()
