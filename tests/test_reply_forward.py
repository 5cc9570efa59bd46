"""Reply to a customer and forward feedback: mailto links, sending, the pages."""

from __future__ import annotations

import datetime as dt
import html
import re
from email.utils import parseaddr
from urllib.parse import unquote, urlsplit

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from npsloop.accounts.services import add_member
from npsloop.contacts.models import Contact
from npsloop.contacts.services import upsert_contact
from npsloop.invitations.emails import message_id
from npsloop.invitations.services import schedule_invitation
from npsloop.mail.models import OutboundEmail
from npsloop.responses import mailto, outbound
from npsloop.responses.models import Response, ResponseEvent
from npsloop.responses.services import record_rating
from npsloop.surveys.models import Survey
from npsloop.surveys.services import create_survey
from tests.conftest import PASSWORD

TRICKY = (
    'Line one <script>alert("x")</script>\n'
    "A & B? #hash 100% + plus = equals; Grüße aus Köln — 東京 😀\n"
    "\n"
    "  indented last line"
)
WHEN = dt.datetime(2025, 3, 4, 10, 30, tzinfo=dt.UTC)
HEAD, TAIL = "(continued)\r\n", "\r\n(continued in the next email)"


# Helpers ----------------------------------------------------------------------------


def decode(url: str) -> tuple[str, dict[str, str]]:
    """Recipient and decoded header fields of a mailto: URL (RFC 6068, no + for space)."""
    parts = urlsplit(url)
    assert parts.scheme == "mailto"
    fields = {}
    for pair in parts.query.split("&") if parts.query else []:
        name, _, value = pair.partition("=")
        fields[name] = unquote(value, errors="strict")
    return unquote(parts.path), fields


def assert_well_encoded(url: str) -> None:
    assert not re.search(r"[\s+<>\"'#]", url), url
    # Every line break is CRLF.
    assert not re.search(r"(?<!%0D)%0A", url)
    assert not re.search(r"%0D(?!%0A)", url)


def unquoted_reply(body: str) -> str:
    """The quoted block of a reply body without its "> " prefixes."""
    lines = body.split("\r\n")
    return "\n".join(
        line[2:] if line.startswith("> ") else line[1:] for line in lines if line.startswith(">")
    )


def joined(bodies: list[str]) -> str:
    """The parts' bodies put back together, without the continuation markers."""
    return "".join(b.removeprefix(HEAD).removesuffix(TAIL) for b in bodies)


def make_response(survey, contact, *, score=3, comment="", created_at=WHEN, **extra) -> Response:
    return Response.objects.create(
        organization=survey.organization,
        survey=survey,
        contact=contact,
        score=score,
        comment=comment,
        created_at=created_at,
        **extra,
    )


def loaded(response: Response) -> Response:
    return (
        Response.objects.select_related("organization", "survey", "contact", "invitation")
        .prefetch_related("survey__texts")
        .get(pk=response.pk)
    )


def rated(capture, survey, contact, score: int, comment: str) -> Response:
    with capture(execute=True):
        invitation = schedule_invitation(
            survey=survey,
            contact=contact,
            source="manual",
            send_at=timezone.now() + dt.timedelta(days=30),  # no survey email in the test
        )
    with capture(execute=True):
        return record_rating(invitation=invitation, score=score, comment=comment)


def page_links(content: bytes) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="(mailto:[^"]*)"', content.decode())]


@pytest.fixture
def other_response(org_b):
    survey, _key = create_survey(organization=org_b.organization, name="Globex NPS")
    contact, _ = upsert_contact(organization=org_b.organization, email="bob@globex.test")
    return make_response(survey, contact, score=1, comment="Globex secret complaint")


# mailto links -----------------------------------------------------------------------


def test_reply_mailto_quotes_the_feedback_and_round_trips(survey, contact):
    response = loaded(make_response(survey, contact, comment=TRICKY))
    url = mailto.reply_mailto(response, language="en")
    assert_well_encoded(url)
    assert "%20" in url and "%0D%0A" in url
    to, fields = decode(url)
    assert to == "anna.schmidt@example.com"
    assert set(fields) == {"subject", "body"}
    assert fields["subject"] == "Re: A quick question about Acme"
    body = fields["body"]
    assert body.startswith("Hi Anna,\r\n")
    assert "Anna Schmidt <anna.schmidt@example.com> wrote:" in body
    assert "2025" in body and "UTC" in body
    assert "> Survey: Customer NPS\r\n> Score: 3 of 10\r\n" in body
    assert unquoted_reply(body).endswith("\n" + TRICKY)


def test_reply_mailto_is_in_the_customers_language(survey, contact):
    response = loaded(make_response(survey, contact, comment="Zu teuer", language="de"))
    language = mailto.reply_language(response)
    assert language == "de"
    _to, fields = decode(mailto.reply_mailto(response, language=language))
    assert fields["subject"] == "Re: Eine kurze Frage zu Acme"
    assert fields["body"].startswith("Hallo Anna,\r\n")


def test_forward_mailto_has_no_recipient_and_every_detail(survey, contact):
    response = loaded(make_response(survey, contact, score=9, comment=TRICKY))
    url = mailto.forward_mailto(response)
    assert_well_encoded(url)
    to, fields = decode(url)
    assert to == ""
    assert fields["subject"] == "Fwd: feedback from Anna Schmidt"
    body = fields["body"].replace("\r\n", "\n")
    assert TRICKY in body
    assert "Customer: Anna Schmidt <anna.schmidt@example.com>" in body
    assert "Survey: Customer NPS" in body
    assert "Score: 9 of 10 (promoter)" in body
    assert f"http://testserver/inbox/{response.pk}/" in body


def test_header_values_cannot_inject_headers(survey, contact):
    Contact.objects.filter(pk=contact.pk).update(first_name="Eve\r\nBcc: evil@example.com")
    Survey.objects.filter(pk=survey.pk).update(name="NPS\r\nCc: evil@example.com")
    response = loaded(make_response(survey, contact, comment="ok"))
    for url in [
        mailto.reply_mailto(response, language="en"),
        mailto.forward_mailto(response),
        *mailto.forward_all_mailtos([response]),
    ]:
        assert_well_encoded(url)
        to, fields = decode(url)
        assert to in ("", "anna.schmidt@example.com")
        assert "\r" not in fields["subject"] and "\n" not in fields["subject"]
        assert set(fields) == {"subject", "body"}
        # In the body the name stays on one line, so it cannot fake a header line either.
        assert "\r\nBcc:" not in fields["body"] and "\r\nCc:" not in fields["body"]


def test_forward_all_splits_many_responses_into_numbered_parts(survey, contact):
    comments = [
        f"Comment {n}: " + ("Lieferung zu spät & teuer? 100% #ärgerlich\n" * 4) + f"end {n}"
        for n in range(40)
    ]
    for n, comment in enumerate(comments):
        make_response(survey, contact, comment=comment, created_at=WHEN + dt.timedelta(minutes=n))
    responses = (
        Response.objects.select_related("organization", "survey", "contact")
        .order_by("-created_at", "-id")
        .all()
    )
    links = mailto.forward_all_mailtos(responses)
    assert len(links) > 2
    bodies = []
    for number, url in enumerate(links, 1):
        assert len(url) <= 2000
        assert_well_encoded(url)
        to, fields = decode(url)
        assert to == ""
        assert fields["subject"] == f"Feedback {number}/{len(links)} (40 responses)"
        bodies.append(fields["body"])
    together = joined(bodies).replace("\r\n", "\n")
    for n, comment in enumerate(comments):
        assert comment in together
        assert together.count(f"end {n}\n") == 1
    # Newest first, as in the inbox.
    assert together.index("Comment 39:") < together.index("Comment 0:")
    assert together.index("Response 1 of 40") < together.index("Response 40 of 40")


def test_a_response_too_long_for_one_email_is_continued(survey, contact):
    comment = ("Das Produkt ist gut, aber der Support & die Rechnung? 50% ärgerlich 😀 " * 80)[
        :5000
    ]
    assert len(comment) == 5000
    response = loaded(make_response(survey, contact, comment=comment))
    links = mailto.forward_all_mailtos([response])
    assert len(links) >= 5
    bodies = [decode(url)[1]["body"] for url in links]
    assert all(len(url) <= 2000 for url in links)
    assert all(b.startswith(HEAD) for b in bodies[1:])
    assert all(b.endswith(TAIL) for b in bodies[:-1])
    assert comment in joined(bodies).replace("\r\n", "\n")


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    comments=st.lists(st.text(max_size=1500), min_size=1, max_size=6),
    limit=st.integers(min_value=500, max_value=3000),
)
def test_forward_all_never_exceeds_the_limit_and_loses_nothing(survey, contact, comments, limit):
    responses = [
        Response(
            pk=n + 1,
            organization=survey.organization,
            survey=survey,
            contact=contact,
            score=n % 11,
            comment=comment,
            created_at=WHEN,
        )
        for n, comment in enumerate(comments)
    ]
    links = mailto.forward_all_mailtos(responses, limit=limit)
    together = joined([decode(url)[1]["body"] for url in links]).replace("\r\n", "\n")
    for url in links:
        assert len(url) <= limit
        assert_well_encoded(url)
    for comment in comments:
        assert mailto.normalize_newlines(comment) in together


def test_forward_all_of_nothing_is_no_link():
    assert mailto.forward_all_mailtos([]) == []


# Sending ----------------------------------------------------------------------------


def test_reply_from_the_page_over_smtp(
    member_client, smtp, org_a, survey, contact, django_capture_on_commit_callbacks
):
    response = rated(django_capture_on_commit_callbacks, survey, contact, 4, TRICKY)
    url = reverse("inbox_reply", args=[response.pk])
    page = member_client.get(url)
    assert page.status_code == 200
    (link,) = page_links(page.content)
    to, fields = decode(link)
    assert to == "anna.schmidt@example.com"
    assert unquoted_reply(fields["body"]).endswith(TRICKY)
    # The form starts with the same text as the link.
    assert page.context["form"].initial["subject"] == fields["subject"]

    posted = member_client.post(
        url, {"subject": "Re: your feedback", "body": "Hi Anna,\n\nsorry — we fix it.\n"}
    )
    assert posted.status_code == 302
    assert posted["Location"] == reverse("inbox_detail", args=[response.pk])
    (received,) = smtp.messages
    message = received.message
    assert received.rcpt_tos == ["anna.schmidt@example.com"]
    assert parseaddr(message["From"]) == ("Acme", parseaddr(settings.DEFAULT_FROM_EMAIL)[1])
    assert parseaddr(message["Reply-To"])[1] == "owner@acme.test"
    assert parseaddr(message["To"]) == ("Anna Schmidt", "anna.schmidt@example.com")
    assert message["Subject"] == "Re: your feedback"
    assert message["In-Reply-To"] == message_id(response.invitation)
    assert "sorry — we fix it." in message.get_content()
    event = ResponseEvent.objects.get(response=response)
    assert (event.kind, event.actor, event.detail) == ("replied", org_a.user, "Re: your feedback")
    record = OutboundEmail.objects.get(kind="reply")
    assert (record.ref, record.status, record.organization) == (
        f"response:{response.pk}",
        "sent",
        org_a.organization,
    )
    assert "Reply sent to anna.schmidt@example.com." in [
        str(m)
        for m in member_client.get(reverse("inbox_reply", args=[response.pk])).context["messages"]
    ]


@pytest.mark.parametrize(
    ("subject", "body", "field"),
    [
        ("Hi\r\nBcc: x@y.test", "Hello", "subject"),
        ("Hi\nBcc: x@y.test", "Hello", "subject"),
        ("Hi\x00there", "Hello", "subject"),
        ("", "Hello", "subject"),
        ("Hi", "   \n  ", "body"),
    ],
)
def test_bad_reply_input_sends_nothing(member_client, smtp, survey, contact, subject, body, field):
    response = make_response(survey, contact, comment="meh")
    page = member_client.post(
        reverse("inbox_reply", args=[response.pk]), {"subject": subject, "body": body}
    )
    assert page.status_code == 200
    assert field in page.context["form"].errors
    assert smtp.messages == []
    assert not OutboundEmail.objects.exists()
    assert not ResponseEvent.objects.exists()


def test_reply_service_refuses_header_injection(org_a, survey, contact, outbox_mode):
    response = loaded(make_response(survey, contact))
    with pytest.raises(ValidationError):
        outbound.send_reply(
            response=response, member=org_a.user, subject="Hi\r\nBcc: x@y.test", body="Hello"
        )
    assert not OutboundEmail.objects.exists()


def test_a_sender_name_with_a_line_break_adds_no_header(
    member_client, smtp, org_a, survey, contact
):
    Survey.objects.filter(pk=survey.pk).update(sender_name="Acme\r\nBcc: evil@example.com")
    response = make_response(survey, contact)
    posted = member_client.post(
        reverse("inbox_reply", args=[response.pk]), {"subject": "Thanks", "body": "Hello"}
    )
    assert posted.status_code == 302
    (received,) = smtp.messages
    assert received.rcpt_tos == ["anna.schmidt@example.com"]
    assert received.message["Bcc"] is None
    assert parseaddr(received.message["From"])[0] == "Acme Bcc: evil@example.com"


def test_smtp_failure_is_shown_and_not_recorded_as_replied(member_client, smtp, survey, contact):
    smtp.handler.refuse_with = "451 try again later"
    response = make_response(survey, contact)
    page = member_client.post(
        reverse("inbox_reply", args=[response.pk]), {"subject": "Thanks", "body": "Hello"}
    )
    assert page.status_code == 200
    assert "could not be sent" in page.content.decode()
    assert not ResponseEvent.objects.exists()
    assert OutboundEmail.objects.get().status == "failed"


def test_forward_one_to_an_address_and_to_a_member(member_client, smtp, org_a, survey, contact):
    colleague = add_member(organization=org_a.organization, email="bea@acme.test", password=None)
    response = make_response(survey, contact, score=2, comment=TRICKY)
    url = reverse("inbox_forward", args=[response.pk])
    page = member_client.get(url)
    assert page.status_code == 200
    (link,) = page_links(page.content)
    assert TRICKY in decode(link)[1]["body"].replace("\r\n", "\n")
    assert "bea@acme.test" in page.content.decode()  # in the member select

    assert member_client.post(url, {"email": "cx@partner.test"}).status_code == 302
    assert member_client.post(url, {"member": colleague.pk}).status_code == 302
    assert [m.rcpt_tos for m in smtp.messages] == [["cx@partner.test"], ["bea@acme.test"]]
    message = smtp.messages[0].message
    assert message["Subject"] == "Fwd: feedback from Anna Schmidt"
    assert parseaddr(message["Reply-To"])[1] == "owner@acme.test"
    assert TRICKY in message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "&lt;script&gt;" in message.get_body(("html",)).get_content()
    assert "<script>" not in message.get_body(("html",)).get_content()
    events = ResponseEvent.objects.filter(response=response, kind="forwarded")
    assert sorted(e.detail for e in events) == ["bea@acme.test", "cx@partner.test"]


@pytest.mark.parametrize(
    "data",
    [
        {"email": "not-an-address"},
        {"email": "a@b.test\r\nBcc: x@y.test"},
        {},
        {"email": "a@b.test", "member": "1"},
        {"member": "999999"},
    ],
)
def test_bad_forward_input_sends_nothing(member_client, smtp, survey, contact, data):
    response = make_response(survey, contact)
    page = member_client.post(reverse("inbox_forward", args=[response.pk]), data)
    assert page.status_code == 200 and page.context["form"].errors
    assert smtp.messages == [] and not ResponseEvent.objects.exists()


def test_forward_to_someone_outside_the_organization_is_refused(
    org_a, org_b, survey, contact, outbox_mode, member_client
):
    response = loaded(make_response(survey, contact))
    with pytest.raises(ValidationError):
        outbound.forward_one(response=response, member=org_a.user, to=org_b.user)
    with pytest.raises(PermissionDenied):
        outbound.forward_one(response=response, member=org_b.user, to="x@acme.test")
    with pytest.raises(PermissionDenied):
        outbound.send_reply(response=response, member=org_b.user, subject="Hi", body="Hi")
    page = member_client.post(
        reverse("inbox_forward", args=[response.pk]), {"member": org_b.user.pk}
    )
    assert "member" in page.context["form"].errors
    assert not OutboundEmail.objects.exists()


def test_forward_all_filtered_in_one_email(
    member_client, smtp, org_a, survey, contact, other_response
):
    detractors = [
        make_response(
            survey,
            contact,
            score=n % 7,
            comment=f"Detractor {n}: " + "zu langsam & zu teuer? 😀 " * 30,
            created_at=WHEN + dt.timedelta(hours=n),
        )
        for n in range(40)
    ]
    promoter = make_response(survey, contact, score=10, comment="Promoter: all great")
    url = reverse("inbox_forward_all") + "?category=detractor"
    page = member_client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    links = page_links(page.content)
    assert len(links) > 2 and all(len(link) <= 2000 for link in links)
    assert f"{len(links)} emails" in text
    assert f"Email {len(links)} of {len(links)}" in text
    assert "40 responses match the filter." in text
    decoded = joined([decode(link)[1]["body"] for link in links]).replace("\r\n", "\n")
    assert all(r.comment in decoded for r in detractors)
    assert promoter.comment not in decoded and "Globex" not in decoded

    posted = member_client.post(url, {"email": "team@acme.test"})
    assert posted.status_code == 302
    assert posted["Location"] == reverse("inbox") + "?category=detractor"
    (received,) = smtp.messages
    assert received.rcpt_tos == ["team@acme.test"]
    assert received.message["Subject"] == "Fwd: 40 feedbacks"
    body = received.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert all(r.comment in body for r in detractors)
    assert promoter.comment not in body and "Globex" not in body
    assert ResponseEvent.objects.filter(kind="forwarded").count() == 40
    assert not ResponseEvent.objects.filter(response=promoter).exists()
    assert OutboundEmail.objects.get().kind == "forward"


def test_forward_all_with_nothing_matching(member_client, outbox_mode, survey, contact):
    make_response(survey, contact, score=10)
    url = reverse("inbox_forward_all") + "?category=detractor"
    page = member_client.get(url)
    assert "0 responses match the filter." in page.content.decode()
    assert page_links(page.content) == []
    page = member_client.post(url, {"email": "team@acme.test"})
    assert page.status_code == 200 and not OutboundEmail.objects.exists()


# Scope, missing addresses, CSRF -----------------------------------------------------


def test_another_organizations_response_is_404_everywhere(member_client, smtp, other_response):
    for name in ["inbox_reply", "inbox_forward"]:
        url = reverse(name, args=[other_response.pk])
        assert member_client.get(url).status_code == 404
        assert member_client.post(url, {"subject": "x", "body": "y"}).status_code == 404
        assert member_client.post(url, {"email": "me@acme.test"}).status_code == 404
    page = member_client.get(reverse("inbox_forward_all"))
    assert "Globex" not in page.content.decode()
    assert smtp.messages == [] and not ResponseEvent.objects.exists()


def test_signed_out_users_are_sent_to_login(client, survey, contact):
    response = make_response(survey, contact)
    for url in [
        reverse("inbox_reply", args=[response.pk]),
        reverse("inbox_forward", args=[response.pk]),
        reverse("inbox_forward_all"),
    ]:
        assert client.get(url)["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("email_missing", ["no contact", "empty address"])
def test_no_email_address_means_no_reply(member_client, smtp, survey, contact, email_missing):
    if email_missing == "no contact":
        response = make_response(survey, None, comment="anonymous")
    else:
        Contact.objects.filter(pk=contact.pk).update(email="")
        response = make_response(survey, contact, comment="no address")
    url = reverse("inbox_reply", args=[response.pk])
    page = member_client.get(url)
    text = page.content.decode()
    assert page.status_code == 200
    assert 'name="body"' not in text and page_links(page.content) == []
    assert "no one to reply to" in text
    assert reverse("inbox_forward", args=[response.pk]) in text
    assert member_client.post(url, {"subject": "Hi", "body": "Hi"}).status_code == 400
    assert smtp.messages == []
    actions = render_to_string("responses/reply_actions.html", {"response": loaded(response)})
    assert url not in actions and reverse("inbox_forward", args=[response.pk]) in actions
    with pytest.raises(ValueError):
        mailto.reply_mailto(loaded(response), language="en")


def test_reply_actions_partial_links_both_pages(survey, contact):
    response = make_response(survey, contact)
    actions = render_to_string("responses/reply_actions.html", {"response": response})
    assert reverse("inbox_reply", args=[response.pk]) in actions
    assert reverse("inbox_forward", args=[response.pk]) in actions


def test_csrf_is_enforced(org_a, survey, contact, smtp):
    response = make_response(survey, contact)
    client = Client(enforce_csrf_checks=True)
    assert client.login(username="owner@acme.test", password=PASSWORD)
    for url, data in [
        (reverse("inbox_reply", args=[response.pk]), {"subject": "Hi", "body": "Hi"}),
        (reverse("inbox_forward", args=[response.pk]), {"email": "x@acme.test"}),
        (reverse("inbox_forward_all"), {"email": "x@acme.test"}),
    ]:
        assert client.post(url, data).status_code == 403
    assert smtp.messages == [] and not ResponseEvent.objects.exists()


def test_forward_all_offers_no_mailto_links_for_very_many(member_client, org_a, survey):
    from django.utils import timezone as tz

    from npsloop.responses.models import Response
    from npsloop.responses.reply_views import MAILTO_MAX_RESPONSES

    Response.objects.bulk_create(
        Response(
            organization=org_a.organization,
            survey=survey,
            score=3,
            comment="slow",
            created_at=tz.now(),
        )
        for _ in range(MAILTO_MAX_RESPONSES + 1)
    )
    page = member_client.get(reverse("inbox_forward_all")).content.decode()
    assert "too many for links" in page and 'href="mailto:' not in page
    assert "Forward all" in page
