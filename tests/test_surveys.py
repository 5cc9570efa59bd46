from __future__ import annotations

import re

import pytest
from django.urls import reverse

from npsloop.surveys.models import Survey
from npsloop.surveys.selectors import survey_for_api_key

pytestmark = pytest.mark.django_db


def _form_data(**overrides) -> dict:
    data = {
        "name": "Customer NPS",
        "company_name": "Acme",
        "sender_name": "Acme Team",
        "reply_to": "care@acme.test",
        "default_language": "en",
        "salutation": "informal",
        "thank_you_url": "",
        "min_delay_days": "3",
        "max_delay_days": "14",
        "min_interval_weeks": "26",
        "segment_write_key": "",
        "trait_prefix": "NPS_",
    }
    for lang, question in [("en", "How likely …{company}?"), ("de", "Wie wahrscheinlich …?")]:
        data |= {
            f"{lang}-email_subject": f"Subject {lang}",
            f"{lang}-intro": "",
            f"{lang}-question": question,
            f"{lang}-follow_up_question": f"Why {lang}?",
            f"{lang}-thank_you_text": f"Thanks {lang}",
        }
    return data | overrides


def test_create_survey_in_the_dashboard_shows_its_key_once(member_client, org_a):
    response = member_client.post(reverse("survey_create"), _form_data())
    survey = Survey.objects.get()
    assert response["Location"] == reverse("survey_detail", args=[survey.pk])
    assert (survey.organization, survey.min_delay_days, survey.max_delay_days) == (
        org_a.organization,
        3,
        14,
    )
    assert {t.language: t.question for t in survey.texts.all()} == {
        "en": "How likely …{company}?",
        "de": "Wie wahrscheinlich …?",
    }
    page = member_client.get(response["Location"]).content.decode()
    key = re.search(r'id="survey-key">([^<]+)<', page).group(1)
    assert survey_for_api_key(key) == survey
    assert key not in member_client.get(response["Location"]).content.decode()


def test_survey_form_errors(member_client):
    response = member_client.post(
        reverse("survey_create"),
        _form_data(
            min_delay_days="10",
            max_delay_days="5",
            reply_to="nope",
            thank_you_url="javascript:alert(1)",
            **{"en-question": ""},
        ),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert {"max_delay_days", "reply_to", "thank_you_url"} <= set(errors)
    assert not Survey.objects.exists()


def test_edit_pause_resume_archive(member_client, survey):
    member_client.post(
        reverse("survey_edit", args=[survey.pk]),
        _form_data(name="Renamed", **{"de-question": "Neu?"}),
    )
    survey.refresh_from_db()
    assert survey.name == "Renamed"
    assert survey.texts.get(language="de").question == "Neu?"
    for status in ["paused", "active", "archived"]:
        member_client.post(reverse("survey_status", args=[survey.pk, status]))
        survey.refresh_from_db()
        assert survey.status == status
    assert "Renamed" not in member_client.get(reverse("survey_list")).content.decode()
    assert "Renamed" in member_client.get(reverse("survey_list") + "?archived=1").content.decode()
    with pytest.raises(ValueError):
        from npsloop.surveys.services import set_status

        set_status(survey=survey, status="deleted")


def test_status_change_needs_post(member_client, survey):
    assert (
        member_client.get(reverse("survey_status", args=[survey.pk, "paused"])).status_code == 405
    )


def test_rotating_the_key_invalidates_the_old_one(member_client, org_a):
    from npsloop.surveys.services import create_survey

    survey, old_key = create_survey(organization=org_a.organization, name="S")
    assert survey_for_api_key(old_key) == survey
    member_client.post(reverse("survey_rotate_key", args=[survey.pk]))
    page = member_client.get(reverse("survey_detail", args=[survey.pk])).content.decode()
    new_key = re.search(r'id="survey-key">([^<]+)<', page).group(1)
    assert survey_for_api_key(old_key) is None
    assert survey_for_api_key(new_key) == survey


def test_unknown_status_is_not_found(member_client, survey):
    response = member_client.post(reverse("survey_status", args=[survey.pk, "deleted"]))
    assert response.status_code == 404
    survey.refresh_from_db()
    assert survey.status == "active"
