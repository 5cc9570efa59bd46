from __future__ import annotations

import dataclasses
from urllib.parse import parse_qsl

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from npsloop.accounts.decorators import member_required
from npsloop.insights import exports, presenters, rollups, selectors, services
from npsloop.insights.breakdowns import LANGUAGE
from npsloop.insights.metrics import filtered_distribution
from npsloop.insights.options import TABLES, parse_options, with_range
from npsloop.responses.filters import parse
from npsloop.responses.selectors import saved_filters_of
from npsloop.surveys.selectors import survey_of, surveys_of
from npsloop.surveys.views import pop_new_key


def home(request: HttpRequest) -> HttpResponse:
    return redirect("dashboard" if request.user.is_authenticated else "login")


def _today(request: HttpRequest):
    return timezone.now().astimezone(request.organization.zone).date()


def _insights(request: HttpRequest, path: str, flt, options) -> dict:
    org = request.organization
    data = selectors.dashboard(org, flt, options, today=_today(request))
    keys = selectors.property_keys(org)
    return presenters.context(path, data, property_keys=keys) | {
        "latest": selectors.latest_responses(org, data.ranged)
    }


@member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    org = request.organization
    options = parse_options(request.GET)
    saved_id = request.GET.get("saved", "")
    if saved_id.isdigit():
        # The saved-filter menu: open the saved filter, keep period and breakdown.
        saved = saved_filters_of(org).filter(pk=int(saved_id)).first()
        if saved is not None:
            path = reverse("dashboard")
            return redirect(presenters.page_url(path, parse(saved.query), options))
    flt = parse(request.GET)
    membership = selectors.membership_of(org, request.user)
    context = _insights(request, reverse("dashboard"), flt, options) | {
        "saved": saved_filters_of(org),
        "surveys": surveys_of(org, include_archived=True),
        "membership": membership,
        "hidden_filter": _hidden(flt),
    }
    return render(request, "insights/dashboard.html", context)


def _hidden(flt) -> list[tuple[str, str]]:
    """Filter parameters the dashboard form has no field for: kept as hidden inputs."""
    shown = dataclasses.replace(flt, date_from=None, date_to=None, surveys=(), languages=())
    return parse_qsl(shown.to_query())


@member_required
def survey_detail(request: HttpRequest, pk: int) -> HttpResponse:
    survey = survey_of(request.organization, pk)
    flt = dataclasses.replace(parse(request.GET), surveys=(survey.pk,))
    options = parse_options(request.GET)
    if "breakdown" not in request.GET:
        # One survey: by survey would be one row; by language says more.
        options = dataclasses.replace(options, breakdown=LANGUAGE)
    path = reverse("survey_detail", args=[survey.pk])
    context = _insights(request, path, flt, options) | {
        "survey": survey,
        "new_key": pop_new_key(request),
        "dashboard_url": presenters.page_url(reverse("dashboard"), flt, options),
    }
    return render(request, "insights/survey_detail.html", context)


@member_required
def export_csv(request: HttpRequest) -> HttpResponse:
    """/dashboard/export.csv?<filter>&table=trend|breakdown|distribution"""
    org = request.organization
    table = request.GET.get("table", "trend")
    if table not in TABLES:
        return HttpResponse(
            _("Choose table=trend, breakdown or distribution."),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    options = parse_options(request.GET)
    ranged = with_range(parse(request.GET), _today(request))
    if table == "trend":
        trend = selectors.trend(
            org,
            ranged,
            period=options.period or None,
            rolling_window=options.rolling,
            today=_today(request),
        )
        rows = exports.trend_rows(trend)
    elif table == "breakdown":
        rows = exports.breakdown_rows(selectors.breakdown(org, ranged, options.breakdown))
    else:
        rollup = rollups.for_filter(org, ranged, ...)
        summary, _comments = filtered_distribution(org, ranged, rollup)
        rows = exports.distribution_rows(summary)
    response = HttpResponse(exports.to_csv(rows), content_type="text/csv; charset=utf-8")
    name = exports.filename(table, org.name, ranged)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "private, no-store"
    return response


@member_required
@require_POST
def digest_toggle(request: HttpRequest) -> HttpResponse:
    enabled = request.POST.get("weekly_digest") == "on"
    services.set_weekly_digest(
        organization=request.organization, user=request.user, enabled=enabled
    )
    if enabled:
        messages.success(request, _("You will get the weekly digest every Monday morning."))
    else:
        messages.success(request, _("You will no longer get the weekly digest."))
    query = parse(request.POST.get("query", "")).to_query()
    return redirect(reverse("dashboard") + (f"?{query}" if query else "") + "#digest")
