from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from npsloop.accounts.models import Organization
from npsloop.surveys.models import Survey, SurveyText
from npsloop.web.secrets import matches, split_prefix


def surveys_of(organization: Organization, *, include_archived: bool = False) -> QuerySet[Survey]:
    qs = Survey.objects.filter(organization=organization)
    if not include_archived:
        qs = qs.exclude(status=Survey.Status.ARCHIVED)
    return qs


def survey_of(organization: Organization, pk: int) -> Survey:
    return get_object_or_404(Survey, organization=organization, pk=pk)


def text_for(survey: Survey, language: str) -> SurveyText:
    """The survey's text in this language, else in its default language."""
    texts = {t.language: t for t in survey.texts.all()}
    return texts.get(language) or texts.get(survey.default_language) or next(iter(texts.values()))


def language_for(survey: Survey, wanted: str) -> str:
    available = set(survey.texts.values_list("language", flat=True))
    short = (wanted or "").split("-")[0].split("_")[0].lower()
    return short if short in available else survey.default_language


def survey_for_api_key(full_key: str) -> Survey | None:
    prefix = split_prefix(full_key, "svy")
    if prefix is None:
        return None
    survey = Survey.objects.filter(api_key_prefix=prefix).first()
    if survey is None or not matches(full_key, survey.api_key_digest):
        return None
    return survey
