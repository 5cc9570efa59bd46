from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from npsloop.accounts.decorators import member_required
from npsloop.insights.selectors import overview, per_survey
from npsloop.responses.selectors import responses_of
from npsloop.surveys.selectors import survey_of
from npsloop.surveys.views import pop_new_key


def home(request: HttpRequest) -> HttpResponse:
    return redirect("dashboard" if request.user.is_authenticated else "login")


@member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    org = request.organization
    return render(
        request,
        "insights/dashboard.html",
        {
            "overview": overview(org),
            "surveys": per_survey(org),
            "latest": responses_of(org)[:20],
        },
    )


@member_required
def survey_detail(request: HttpRequest, pk: int) -> HttpResponse:
    survey = survey_of(request.organization, pk)
    return render(
        request,
        "insights/survey_detail.html",
        {
            "survey": survey,
            "overview": overview(request.organization, survey=survey),
            "latest": responses_of(request.organization, survey=survey)[:20],
            "new_key": pop_new_key(request),
        },
    )
