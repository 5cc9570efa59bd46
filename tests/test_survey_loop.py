"""The whole loop over real SMTP and real HTTP: invite, email, click, comment, dashboard."""

from __future__ import annotations

import re

import httpx
import pytest
from django.urls import reverse

from npsloop.invitations.models import Invitation
from npsloop.invitations.services import schedule_invitation
from npsloop.mail.models import OutboundEmail
from npsloop.responses.models import Response
from tests.conftest import rating_links


def _invite(survey, contact, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return schedule_invitation(survey=survey, contact=contact, source=Invitation.Source.MANUAL)


def _csrf(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def _on(live_server, url: str) -> str:
    # Links point at BASE_URL; the test server listens elsewhere.
    return re.sub(r"^https?://[^/]+", live_server.url, url)


@pytest.mark.django_db(transaction=True)
def test_invite_email_click_comment_dashboard(
    smtp, survey, contact, live_server, client, org_a, django_capture_on_commit_callbacks
):
    invitation = _invite(survey, contact, django_capture_on_commit_callbacks)

    # One email reached the SMTP server, to the contact, in German (her language).
    assert len(smtp.messages) == 1
    received = smtp.messages[0]
    assert received.rcpt_tos == ["anna.schmidt@example.com"]
    message = received.message
    assert message["Subject"] == "Eine kurze Frage zu Acme"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(r"<https?://[^>]+/u/[^>]+/>", message["List-Unsubscribe"].strip())
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Hallo Anna," in text and "Hallo Anna," in html
    assert "weiterempfehlen" in html
    links = rating_links(html)
    assert sorted(links) == list(range(11))
    for score, url in links.items():
        assert f"{score}: {url}" in text

    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.SENT
    assert invitation.message_id == message["Message-ID"]
    assert OutboundEmail.objects.get(ref=f"invitation:{invitation.pk}").status == "sent"

    # Click 9 in a browser-less HTTP client: the page asks for the comment.
    with httpx.Client(follow_redirects=False) as browser:
        page = browser.get(_on(live_server, links[9]))
        assert page.status_code == 200
        assert page.headers["X-Robots-Tag"].startswith("noindex")
        assert page.headers["Referrer-Policy"] == "same-origin"
        assert 'value="9" checked' in page.text
        assert "Was ist der wichtigste Grund" in page.text
        assert not Response.objects.exists()  # a GET never records

        # The page's script records the score as soon as a person sees it.
        record_url = live_server.url + reverse("rate_record", args=[links[9].split("/r/")[1][:-1]])
        recorded = browser.post(
            record_url, data={"score": "9"}, headers={"X-CSRFToken": _csrf(page.text)}
        )
        assert recorded.status_code == 200 and recorded.json()["recorded"] is True
        assert Response.objects.get().score == 9

        # Then the comment, with the same score.
        sent = browser.post(
            _on(live_server, links[9]),
            data={
                "csrfmiddlewaretoken": _csrf(page.text),
                "score": "9",
                "comment": "Schneller Support, danke! <script>alert(1)</script>",
            },
        )
        assert sent.status_code == 302
        thanks = browser.get(live_server.url + sent.headers["location"])
        assert "Vielen Dank für Ihr Feedback!" in thanks.text

    response = Response.objects.get()
    assert (response.score, response.language) == (9, "de")
    assert response.comment.startswith("Schneller Support")
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.RESPONDED

    # The team sees NPS 100 and the comment, escaped.
    client.force_login(org_a.user)
    dashboard = client.get(reverse("survey_detail", args=[survey.pk])).content.decode()
    assert re.search(r'id="nps">100<', dashboard)
    assert "Schneller Support, danke! &lt;script&gt;alert(1)&lt;/script&gt;" in dashboard
    assert "<script>alert(1)" not in dashboard


@pytest.mark.django_db(transaction=True)
def test_a_later_click_changes_the_score_and_keeps_one_response(
    smtp, survey, contact, client, django_capture_on_commit_callbacks
):
    _invite(survey, contact, django_capture_on_commit_callbacks)
    links = rating_links(smtp.messages[0].message.get_body(("html",)).get_content())
    path = links[3].replace("http://testserver", "")
    client.get(path)
    client.post(path, {"score": "3", "comment": ""})
    assert Response.objects.get().score == 3
    client.post(links[8].replace("http://testserver", ""), {"score": "8", "comment": "Better"})
    response = Response.objects.get()
    assert (response.score, response.comment) == (8, "Better")


@pytest.mark.django_db(transaction=True)
def test_english_contact_gets_english_email_with_formal_salutation(
    smtp, org_a, django_capture_on_commit_callbacks
):
    from npsloop.contacts.services import upsert_contact
    from npsloop.surveys.services import create_survey

    survey, _ = create_survey(organization=org_a.organization, name="Formal", salutation="formal")
    contact, _ = upsert_contact(
        organization=org_a.organization,
        email="j.smith@example.com",
        first_name="John",
        last_name="Smith",
        gender="male",
        language="en-GB",
    )
    _invite(survey, contact, django_capture_on_commit_callbacks)
    message = smtp.messages[0].message
    assert message["Subject"] == "A quick question about Acme"
    assert "Dear Mr Smith," in message.get_body(("plain",)).get_content()


@pytest.mark.django_db(transaction=True)
def test_german_formal_salutations(smtp, org_a, django_capture_on_commit_callbacks):
    from npsloop.contacts.services import upsert_contact
    from npsloop.surveys.services import create_survey

    survey, _ = create_survey(
        organization=org_a.organization, name="Förmlich", salutation="formal", default_language="de"
    )
    people = [
        ("Erika", "Schmidt", "female", "Sehr geehrte Frau Schmidt,"),
        ("Max", "Müller", "male", "Sehr geehrter Herr Müller,"),
        ("Kim", "Lee", "", "Guten Tag Kim Lee,"),
    ]
    for first, last, gender, _expected in people:
        contact, _ = upsert_contact(
            organization=org_a.organization,
            email=f"{first.lower()}@example.de",
            first_name=first,
            last_name=last,
            gender=gender,
            language="de",
        )
        _invite(survey, contact, django_capture_on_commit_callbacks)
    greetings = [
        m.message.get_body(("plain",)).get_content().splitlines()[0] for m in smtp.messages
    ]
    assert greetings == [expected for *_rest, expected in people]


@pytest.mark.django_db(transaction=True)
def test_bad_input_on_the_rating_page_loses_nothing(
    smtp, survey, contact, client, django_capture_on_commit_callbacks
):
    _invite(survey, contact, django_capture_on_commit_callbacks)
    links = rating_links(smtp.messages[0].message.get_body(("html",)).get_content())
    path = links[6].replace("http://testserver", "")
    too_long = "x" * 5001
    response = client.post(path, {"score": "6", "comment": too_long})
    assert response.status_code == 400
    body = response.content.decode()
    assert "5000" in body and too_long in body  # the text is still there to shorten
    assert not Response.objects.exists()
    # A score that is no score falls back to the clicked one.
    for bad in ["abc", "11", "-1", ""]:
        client.post(path, {"score": bad, "comment": ""})
        assert Response.objects.get().score == 6
    # Script in a comment is stored as text and never rendered as markup.
    client.post(path, {"score": "6", "comment": '"><img src=x onerror=alert(1)>'})
    page = client.get(path).content.decode()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
