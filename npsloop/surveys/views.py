from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from npsloop.accounts.decorators import member_required
from npsloop.surveys.defaults import DEFAULT_TEXTS
from npsloop.surveys.forms import SurveyForm, SurveyTextForm
from npsloop.surveys.models import Survey, SurveyText
from npsloop.surveys.selectors import survey_of, surveys_of
from npsloop.surveys.services import SURVEY_FIELDS, create_survey, rotate_api_key, set_status

_NEW_KEY = "npsloop-new-survey-key"
KEY_ROTATED = _lazy("A new API key replaces the old one, which stops working now.")


def _text_forms(request: HttpRequest, survey: Survey | None) -> list[tuple[str, SurveyTextForm]]:
    existing = {t.language: t for t in survey.texts.all()} if survey else {}
    forms = []
    for language, defaults in DEFAULT_TEXTS.items():
        instance = existing.get(language)
        forms.append(
            (
                language,
                SurveyTextForm(
                    request.POST or None,
                    prefix=language,
                    instance=instance,
                    initial=None if instance else defaults,
                ),
            )
        )
    return forms


@member_required
def survey_list(request: HttpRequest) -> HttpResponse:
    archived = request.GET.get("archived") == "1"
    surveys = surveys_of(request.organization, include_archived=archived)
    if archived:
        surveys = surveys.filter(status=Survey.Status.ARCHIVED)
    return render(request, "surveys/list.html", {"surveys": surveys, "archived": archived})


@member_required
def survey_create(request: HttpRequest) -> HttpResponse:
    org = request.organization
    form = SurveyForm(
        request.POST or None,
        initial={"company_name": org.name, "sender_name": org.name, "name": _("NPS survey")},
    )
    text_forms = _text_forms(request, None)
    if request.method == "POST" and form.is_valid() and all(f.is_valid() for _l, f in text_forms):
        fields = {k: v for k, v in form.cleaned_data.items() if k in SURVEY_FIELDS}
        survey, key = create_survey(
            organization=org,
            texts={lang: f.cleaned_data for lang, f in text_forms},
            **fields,
        )
        remember_new_key(request, key)
        messages.success(request, _("Survey created."))
        return redirect("survey_detail", pk=survey.pk)
    return render(
        request, "surveys/form.html", {"form": form, "text_forms": text_forms, "survey": None}
    )


@member_required
def survey_edit(request: HttpRequest, pk: int) -> HttpResponse:
    survey = survey_of(request.organization, pk)
    form = SurveyForm(request.POST or None, instance=survey)
    text_forms = _text_forms(request, survey)
    if request.method == "POST" and form.is_valid() and all(f.is_valid() for _l, f in text_forms):
        with transaction.atomic():
            form.save()
            for language, text_form in text_forms:
                text = text_form.save(commit=False)
                if text.pk is None:
                    text = SurveyText(survey=survey, language=language, **text_form.cleaned_data)
                text.save()
        messages.success(request, _("Survey saved."))
        return redirect("survey_detail", pk=survey.pk)
    return render(
        request, "surveys/form.html", {"form": form, "text_forms": text_forms, "survey": survey}
    )


@member_required
@require_POST
def survey_status(request: HttpRequest, pk: int, status: str) -> HttpResponse:
    survey = survey_of(request.organization, pk)
    if status not in Survey.Status.values:
        raise Http404
    set_status(survey=survey, status=status)
    # Held invitations of a resumed survey are picked up by the minutely reconciler.
    messages.success(
        request, _("Survey is now %(status)s.") % {"status": survey.get_status_display()}
    )
    return redirect("survey_detail", pk=survey.pk)


@member_required
@require_POST
def survey_rotate_key(request: HttpRequest, pk: int) -> HttpResponse:
    survey = survey_of(request.organization, pk)
    remember_new_key(request, rotate_api_key(survey=survey))
    messages.success(request, KEY_ROTATED)
    return redirect("survey_detail", pk=survey.pk)


def remember_new_key(request: HttpRequest, key: str) -> None:
    """Keep a new API key in the session for exactly one display."""
    request.session[_NEW_KEY] = key


def pop_new_key(request: HttpRequest) -> str | None:
    return request.session.pop(_NEW_KEY, None)
