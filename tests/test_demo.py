from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.html import escape

from npsloop.accounts.models import Organization
from npsloop.contacts.models import Contact
from npsloop.demo import COMMENTS, ORGANIZATION_NAME, load_demo
from npsloop.insights.nps import category, summarize
from npsloop.invitations.models import Invitation, InvitationEvent
from npsloop.responses.models import Response
from npsloop.responses.selectors import responses_of
from npsloop.surveys.models import Survey

EMAIL = "demo@example.com"
PASSWORD = "demo-password"
State = Invitation.State


def _counts() -> tuple[int, ...]:
    models = (Organization, get_user_model(), Survey, Contact, Invitation, Response)
    return (*(m.objects.count() for m in models), InvitationEvent.objects.count())


@pytest.fixture
def demo(db) -> tuple[Organization, str]:
    summary = load_demo(email=EMAIL, password=PASSWORD, contacts=120)
    return Organization.objects.get(name=ORGANIZATION_NAME), summary


def test_counts_match_the_request_and_the_summary(demo, settings):
    org, summary = demo
    contacts = Contact.objects.filter(organization=org)
    invitations = Invitation.objects.filter(organization=org)
    responses = Response.objects.filter(organization=org)
    assert contacts.count() == 120
    assert sorted(Survey.objects.filter(organization=org).values_list("name", flat=True)) == [
        "Customer NPS",
        "Onboarding NPS",
    ]
    # Most contacts are invited, and about 55-65 % of the invitations are answered.
    assert 0.75 * 120 <= invitations.count() <= 120
    assert 0.5 <= responses.count() / invitations.count() <= 0.7
    assert f"{contacts.count()} contacts" in summary
    assert f"{invitations.count()} invitations" in summary
    assert f"{responses.count()} responses" in summary
    assert f"Sign in at {settings.BASE_URL}/login/ as {EMAIL} / {PASSWORD}" in summary
    assert set(invitations.values_list("source", flat=True)) == {Invitation.Source.DEMO}


def test_contacts_look_real(demo):
    org, _summary = demo
    contacts = list(Contact.objects.filter(organization=org))
    languages = [c.language for c in contacts]
    assert set(languages) == {"en", "de"}
    assert 0.45 <= languages.count("en") / len(contacts) <= 0.75
    assert {c.gender for c in contacts} == {"female", "male", ""}
    now = timezone.now()
    for contact in contacts:
        assert contact.first_name and contact.last_name
        assert re.fullmatch(r"[a-z0-9.]+@(example\.(com|org|net)|beispiel\.example)", contact.email)
        assert now - dt.timedelta(days=271) < contact.signed_up_at < now
        assert contact.properties["plan"] in {"free", "pro", "enterprise"}
        assert contact.properties["country"] in {"DE", "AT", "CH", "US", "GB"}
        # Backdated: the contact arrived when it signed up, not when the demo was loaded.
        assert contact.created_at == contact.signed_up_at
    assert len({c.email.lower() for c in contacts}) == len(contacts)
    assert any(c.unsubscribed_at for c in contacts)
    assert any(c.bounced_at for c in contacts)


def test_responses_belong_to_answered_invitations(demo):
    org, _summary = demo
    responses = list(Response.objects.filter(organization=org).select_related("invitation"))
    assert responses
    for response in responses:
        invitation = response.invitation
        assert invitation.state == State.RESPONDED
        assert 0 <= response.score <= 10
        assert invitation.sent_at < response.created_at <= timezone.now()
        assert response.contact_id == invitation.contact_id
        assert response.survey_id == invitation.survey_id
        assert response.language == invitation.language == response.contact.language
        assert (response.commented_at is not None) == bool(response.comment)
    answered = Invitation.objects.filter(organization=org, state=State.RESPONDED)
    assert answered.count() == len(responses)


def test_comments_match_language_and_score(demo):
    org, _summary = demo
    commented = Response.objects.filter(organization=org).exclude(comment="")
    assert {r.language for r in commented} == {"en", "de"}
    for response in commented:
        assert response.comment in COMMENTS[response.language][category(response.score)]
    share = commented.count() / Response.objects.filter(organization=org).count()
    assert 0.35 <= share <= 0.7
    for language in ("en", "de"):
        assert sum(len(texts) for texts in COMMENTS[language].values()) >= 25


def test_nps_is_believable(demo):
    org, _summary = demo
    scores = list(Response.objects.filter(organization=org).values_list("score", flat=True))
    nps = summarize(scores).nps
    assert nps is not None
    assert -100 < nps < 100
    assert 0 <= nps <= 60  # around +20 to +40, with room for a small sample


def test_every_lasting_state_shows_up(demo):
    org, _summary = demo
    invitations = Invitation.objects.filter(organization=org)
    states = set(invitations.values_list("state", flat=True))
    assert {State.SCHEDULED, State.SENT, State.RESPONDED, State.BOUNCED} <= states
    now = timezone.now()
    for invitation in invitations.select_related("contact"):
        if invitation.state == State.SCHEDULED:
            assert invitation.send_at > now and invitation.sent_at is None
        if invitation.state in (State.SENT, State.RESPONDED):
            assert invitation.contact.signed_up_at <= invitation.send_at <= invitation.sent_at
            assert invitation.message_id
        if invitation.state == State.BOUNCED:
            assert invitation.contact.bounced_at is not None


def test_events_tell_each_invitations_story(demo):
    org, _summary = demo
    for invitation in Invitation.objects.filter(organization=org).prefetch_related("events"):
        kinds = [e.kind for e in invitation.events.all()]
        assert kinds[0] == "scheduled"
        assert ("sent" in kinds) == (invitation.sent_at is not None)
        assert ("responded" in kinds) == (invitation.state == State.RESPONDED)
        times = [e.at for e in invitation.events.all()]
        assert times == sorted(times)


def test_a_second_call_changes_nothing(demo):
    before = _counts()
    message = load_demo(email=EMAIL, password=PASSWORD, contacts=120)
    assert "already loaded" in message
    assert f"as {EMAIL}" in message
    assert _counts() == before


def test_the_same_seed_gives_the_same_data(demo):
    org, _summary = demo
    load_demo(email="other@example.com", password=PASSWORD, contacts=120)
    other = Organization.objects.exclude(pk=org.pk).get()

    def data(organization):
        return list(
            Response.objects.filter(organization=organization)
            .order_by("contact__email")
            .values_list("contact__email", "score", "comment")
        )

    assert data(org) == data(other)


def test_the_dashboard_shows_the_demo(demo, client):
    org, _summary = demo
    client.force_login(get_user_model().objects.get(email=EMAIL))
    page = client.get("/dashboard/")
    assert page.status_code == 200
    html = page.content.decode()
    latest = [r.comment for r in responses_of(org)[:20] if r.comment]
    assert latest
    assert escape(latest[0]) in html


def test_loading_400_contacts_is_fast(db):
    started = time.perf_counter()
    load_demo(email=EMAIL, password=PASSWORD)
    assert time.perf_counter() - started < 5
    assert Contact.objects.count() == 400
