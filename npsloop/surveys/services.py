from __future__ import annotations

from typing import Any

from django.db import transaction

from npsloop.accounts.models import Organization
from npsloop.surveys.defaults import DEFAULT_TEXTS
from npsloop.surveys.models import Survey, SurveyText
from npsloop.web.secrets import issue_key

# The survey form's fields, in the order shown.
FORM_FIELDS = (
    "name",
    "company_name",
    "sender_name",
    "reply_to",
    "default_language",
    "salutation",
    "thank_you_url",
    "min_delay_days",
    "max_delay_days",
    "min_interval_weeks",
    "segment_write_key",
    "trait_prefix",
)
# What create_survey accepts: the form's fields and the Segment tab's.
SURVEY_FIELDS = {*FORM_FIELDS, "segment_enabled", "webhook_secret"}


@transaction.atomic
def create_survey(
    *, organization: Organization, texts: dict[str, dict[str, str]] | None = None, **fields: Any
) -> tuple[Survey, str]:
    """Create a survey with texts for every language; returns it and its API key (shown once)."""
    unknown = set(fields) - SURVEY_FIELDS
    if unknown:
        raise TypeError(f"unknown survey fields: {sorted(unknown)}")
    fields.setdefault("company_name", organization.name)
    fields.setdefault("sender_name", fields["company_name"])
    key = issue_key("svy")
    survey = Survey.objects.create(
        organization=organization, api_key_prefix=key.prefix, api_key_digest=key.digest, **fields
    )
    for language, defaults in DEFAULT_TEXTS.items():
        SurveyText.objects.create(
            survey=survey, language=language, **(defaults | (texts or {}).get(language, {}))
        )
    return survey, key.full


def rotate_api_key(*, survey: Survey) -> str:
    """A new key replaces the old one at once; returns the new key (shown once)."""
    key = issue_key("svy")
    Survey.objects.filter(pk=survey.pk).update(api_key_prefix=key.prefix, api_key_digest=key.digest)
    survey.api_key_prefix, survey.api_key_digest = key.prefix, key.digest
    return key.full


def set_status(*, survey: Survey, status: str) -> None:
    if status not in Survey.Status.values:
        raise ValueError(f"unknown status {status!r}")
    Survey.objects.filter(pk=survey.pk).update(status=status)
    survey.status = status
