"""The survey's Segment tab: endpoints and key to copy, settings, set-up steps, what arrived."""

from __future__ import annotations

import copy

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from npsloop.accounts.decorators import member_required
from npsloop.ingest.forms import SegmentSettingsForm
from npsloop.ingest.selectors import RECENT_DAYS, RECENT_EVENTS, decision_counts, recent_events
from npsloop.surveys.selectors import survey_of
from npsloop.surveys.services import rotate_api_key
from npsloop.surveys.views import KEY_ROTATED, pop_new_key, remember_new_key


def endpoint_urls() -> dict[str, str]:
    """The API host for Segment's libraries and RudderStack, and the webhook URL."""
    webhook = settings.BASE_URL + reverse("segment_webhook")
    identify = reverse("segment_v1", args=["identify"])
    return {
        "api_host": settings.BASE_URL + identify.removesuffix("/v1/identify"),
        "webhook": webhook,
    }


@member_required
def segment_tab(request: HttpRequest, pk: int) -> HttpResponse:
    survey = survey_of(request.organization, pk)
    if request.method == "POST" and "rotate_key" in request.POST:
        remember_new_key(request, rotate_api_key(survey=survey))
        messages.success(request, KEY_ROTATED)
        return redirect("survey_segment", pk=survey.pk)
    # The form works on a copy: an invalid POST must not show unsaved values as current.
    form = SegmentSettingsForm(
        request.POST if request.method == "POST" else None, instance=copy.copy(survey)
    )
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Segment settings saved."))
        return redirect("survey_segment", pk=survey.pk)
    return render(
        request,
        "ingest/segment_tab.html",
        {
            "survey": survey,
            "form": form,
            "urls": endpoint_urls(),
            "new_key": pop_new_key(request),
            "counts": decision_counts(survey),
            "events": recent_events(survey),
            "recent_days": RECENT_DAYS,
            "recent_limit": RECENT_EVENTS,
        },
    )
