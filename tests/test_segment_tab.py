"""The survey's Segment tab and the Segment facts on the contact page."""

from __future__ import annotations

import base64
import json
import re

import pytest
from django.urls import reverse

from npsloop.contacts.models import Contact
from npsloop.ingest.models import IngestEvent
from npsloop.invitations.models import Decision
from npsloop.surveys.models import Survey
from npsloop.surveys.selectors import survey_for_api_key
from npsloop.surveys.services import create_survey

SETTINGS = [
    "segment_enabled",
    "min_delay_days",
    "max_delay_days",
    "min_interval_weeks",
    "segment_write_key",
    "trait_prefix",
    "webhook_secret",
]


def _tab(survey: Survey) -> str:
    return reverse("survey_segment", args=[survey.pk])


def _settings(survey: Survey) -> dict:
    survey.refresh_from_db()
    return {name: getattr(survey, name) for name in SETTINGS}


def _form(**changes) -> dict:
    data = {
        "segment_enabled": "on",
        "min_delay_days": "3",
        "max_delay_days": "14",
        "min_interval_weeks": "12",
        "segment_write_key": "wk_123",
        "trait_prefix": "NPS_",
        "webhook_secret": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _identify(client, key: str, events: list[dict]):
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    for event in events:
        response = client.post(
            "/segment/v1/identify",
            json.dumps(event),
            content_type="application/json",
            HTTP_AUTHORIZATION=auth,
        )
        assert response.status_code == 200, response.content


def _batch(client, key: str, events: list[dict]):
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    response = client.post(
        "/segment/v1/batch",
        json.dumps({"batch": events}),
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    assert response.status_code == 200 and response.json()["accepted"] == len(events)


@pytest.fixture
def keyed(org_a, outbox_mode):
    """A survey with Segment automation on, and its API key."""
    return create_survey(organization=org_a.organization, name="Segment NPS", segment_enabled=True)


# --- settings and key ---------------------------------------------------------------


def test_tab_shows_endpoints_and_key_prefix(member_client, survey):
    response = member_client.get(_tab(survey))
    assert response.status_code == 200
    html = response.content.decode()
    assert "http://testserver/segment<" in html  # the API host, on its own
    assert "http://testserver/segment/webhook" in html
    assert f"npl_svy_{survey.api_key_prefix}_…" in html
    assert (
        reverse("survey_segment", args=[survey.pk])
        in member_client.get(reverse("survey_detail", args=[survey.pk])).content.decode()
    )
    # The default prefix, and the delay explanation with the current values.
    assert "NPS_rating" in html and "NPS_comment" in html and "NPS_date" in html
    assert "26 weeks" in html


def test_new_key_is_shown_once_after_rotation(member_client, survey):
    old_prefix = survey.api_key_prefix
    response = member_client.post(_tab(survey), {"rotate_key": "1"})
    assert response.status_code == 302 and response.url == _tab(survey)
    html = member_client.get(_tab(survey)).content.decode()
    key = re.search(r'id="survey-key">(npl_svy_[^<]+)<', html).group(1)
    assert survey_for_api_key(key) == survey
    survey.refresh_from_db()
    assert survey.api_key_prefix != old_prefix
    again = member_client.get(_tab(survey)).content.decode()
    assert key not in again and f"npl_svy_{survey.api_key_prefix}_…" in again


def test_saving_the_form_changes_the_settings(member_client, survey):
    response = member_client.post(
        _tab(survey),
        _form(trait_prefix="callexa_", webhook_secret="s3cret"),
        follow=True,
    )
    assert response.redirect_chain == [(_tab(survey), 302)]
    assert "Segment settings saved." in response.content.decode()
    assert _settings(survey) == {
        "segment_enabled": True,
        "min_delay_days": 3,
        "max_delay_days": 14,
        "min_interval_weeks": 12,
        "segment_write_key": "wk_123",
        "trait_prefix": "callexa_",
        "webhook_secret": "s3cret",
    }
    html = response.content.decode()
    assert "callexa_rating" in html
    # Unchecking the switch turns automation off.
    member_client.post(_tab(survey), _form(segment_enabled=None, max_delay_days="0"))
    assert _settings(survey)["segment_enabled"] is False
    assert _settings(survey)["max_delay_days"] == 0


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"trait_prefix": "NPS-"}, "trait_prefix"),
        ({"trait_prefix": "nps rating "}, "trait_prefix"),
        ({"trait_prefix": "ä_"}, "trait_prefix"),
        ({"trait_prefix": "x" * 41}, "trait_prefix"),
        ({"trait_prefix": ""}, "trait_prefix"),
        ({"min_delay_days": "10", "max_delay_days": "5"}, "max_delay_days"),
        ({"min_delay_days": "-1"}, "min_delay_days"),
        ({"min_interval_weeks": "abc"}, "min_interval_weeks"),
    ],
)
def test_invalid_input_gives_field_errors_and_changes_nothing(
    member_client, survey, changes, field
):
    before = _settings(survey)
    response = member_client.post(_tab(survey), _form(**changes))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert _settings(survey) == before
    html = response.content.decode()
    assert 'class="errorlist' in html
    # The explanation still shows the saved values, not the rejected ones.
    assert "26 weeks" in html


def test_other_organizations_get_404(client, survey, org_b):
    client.force_login(org_b.user)
    before = _settings(survey)
    prefix = survey.api_key_prefix
    assert client.get(_tab(survey)).status_code == 404
    assert client.post(_tab(survey), _form()).status_code == 404
    assert client.post(_tab(survey), {"rotate_key": "1"}).status_code == 404
    assert _settings(survey) == before and survey.api_key_prefix == prefix


def test_anonymous_visitors_are_sent_to_login(client, survey):
    response = client.get(_tab(survey))
    assert response.status_code == 302 and "/login/" in response.url
    assert client.post(_tab(survey), _form()).status_code == 302
    assert _settings(survey)["segment_write_key"] == ""


# --- what arrived ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_events_counts_and_contact_page(member_client, keyed):
    survey, key = keyed
    _identify(
        member_client,
        key,
        [
            {
                "userId": "ann",
                "messageId": "m-ann-1",
                "traits": {"email": "ann@example.com", "firstName": "Ann"},
            },
            {"userId": "ann", "messageId": "m-ann-2", "traits": {"email": "ann@example.com"}},
            {"userId": "nobody", "messageId": "m-no", "traits": {"firstName": "No"}},
            {"anonymousId": "anon-7", "messageId": "m-bad", "traits": {"email": "not-an-email"}},
            {
                "userId": "kim",
                "messageId": "m-kim",
                "context": {"traits": {"email": "kim@example.com"}},
            },
        ],
    )
    track = {
        "type": "track",
        "userId": "ann",
        "event": "Order Completed",
        "messageId": "m-track",
        "timestamp": "2030-01-01T00:00:00Z",
    }
    _batch(member_client, key, [track])
    assert IngestEvent.objects.filter(state="done").count() == 6

    response = member_client.get(_tab(survey))
    html = response.content.decode()
    counts = {c.reason: (c.recent, c.total) for c in response.context["counts"]}
    assert counts["scheduled"] == (2, 2)
    assert counts["within_interval"] == (1, 1)  # ann was surveyed already
    assert counts["no_email"] == (1, 1)
    assert counts["invalid_email"] == (1, 1)
    assert counts["too_old"] == (0, 0)
    rows = {r.event.message_id: r for r in response.context["events"]}
    assert list(rows) == ["m-track", "m-kim", "m-bad", "m-no", "m-ann-2", "m-ann-1"]
    assert rows["m-ann-1"].decision.reason == "scheduled"
    assert rows["m-ann-2"].decision.reason == "within_interval"
    assert rows["m-kim"].email == "kim@example.com"  # from context.traits
    assert rows["m-bad"].email == "not-an-email"
    assert rows["m-track"].decision is None
    for text in [
        "Survey scheduled",
        "Surveyed within the minimum interval",
        "No email address",
        "Invalid email address",
        "ann@example.com",
        "anon-7",
        "track",
    ]:
        assert text in html

    ann = Contact.objects.get(external_id="ann")
    page = member_client.get(reverse("contact_detail", args=[ann.pk])).content.decode()
    decisions = page[page.index('id="decisions"') : page.index('id="timeline"')]
    timeline = page[page.index('id="timeline"') :]
    assert "Surveyed within the minimum interval" in decisions
    assert "Survey scheduled" in decisions and "Segment NPS" in decisions
    assert decisions.index("Surveyed within") < decisions.index("Survey scheduled")  # newest first
    assert "Order Completed" in timeline and "identify" in timeline
    assert timeline.index("Order Completed") < timeline.index("identify")
    assert "Last seen" in page and ann.last_seen_at is not None
    assert "Segment userId" in page and ">ann<" in page


@pytest.mark.django_db(transaction=True)
def test_user_ids_are_escaped(member_client, keyed):
    survey, key = keyed
    evil = "<script>alert(1)</script>"
    _identify(
        member_client,
        key,
        [{"userId": evil, "anonymousId": evil, "traits": {"email": "e@example.com"}}],
    )
    html = member_client.get(_tab(survey)).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert evil not in html
    contact = Contact.objects.get(external_id=evil)
    page = member_client.get(reverse("contact_detail", args=[contact.pk])).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and evil not in page


@pytest.mark.django_db(transaction=True)
def test_no_n_plus_one_with_fifty_events(member_client, keyed, django_assert_max_num_queries):
    survey, key = keyed
    _batch(
        member_client,
        key,
        [
            {"type": "identify", "userId": f"u{i}", "traits": {"email": f"u{i}@example.com"}}
            for i in range(50)
        ]
        + [{"type": "track", "userId": f"u{i}", "event": "Seen"} for i in range(10)],
    )
    assert Decision.objects.filter(survey=survey).count() == 50
    # Session, user, membership, survey, counts, events, their decisions: 7, however many.
    with django_assert_max_num_queries(8):
        response = member_client.get(_tab(survey))
    assert len(response.context["events"]) == 50
    assert sum(1 for r in response.context["events"] if r.decision) == 40

    contact = Contact.objects.get(external_id="u1")
    for _ in range(5):
        _identify(member_client, key, [{"userId": "u1", "traits": {"email": "u1@example.com"}}])
    # … plus the contact, the survey choices, invitations and their events, decisions, timeline.
    with django_assert_max_num_queries(10):
        page = member_client.get(reverse("contact_detail", args=[contact.pk]))
    assert len(page.context["decisions"]) == 6
    assert len(page.context["timeline"]) == 7
