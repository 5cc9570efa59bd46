"""The weekly digest: opt-in only, once per member and week, the right numbers, escaped."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy

import pytest
from django.test import Client
from django.urls import reverse

from npsloop.accounts.models import Membership
from npsloop.accounts.services import add_member
from npsloop.insights import digest
from npsloop.insights.digest import due_week, send_digest, send_weekly_digests
from npsloop.insights.models import DigestDelivery
from npsloop.insights.tasks import weekly_digest_task
from npsloop.mail.errors import MailError
from npsloop.mail.models import OutboundEmail
from npsloop.responses.models import Response
from tests.conftest import PASSWORD

BERLIN = "Europe/Berlin"
# Monday 10 March 2025, 07:00 in Berlin (UTC+1): the digest of 3–9 March is due.
DUE = dt.datetime(2025, 3, 10, 6, 0, tzinfo=dt.UTC)
LAST_WEEK = dt.date(2025, 3, 3)


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def parsed(record: OutboundEmail):
    # The raw message is 8bit UTF-8: parse its bytes so the text comes back as written.
    return message_from_bytes(record.raw.encode("utf-8"), policy=policy.default)


def body_of(record: OutboundEmail, subtype: str) -> str:
    return parsed(record).get_body(preferencelist=(subtype,)).get_content()


def _respond(survey, score, when, comment=""):
    return Response.objects.create(
        organization=survey.organization,
        survey=survey,
        score=score,
        comment=comment,
        language="en",
        created_at=_at(when),
    )


@pytest.fixture
def org(org_a):
    org_a.organization.time_zone = BERLIN
    org_a.organization.save()
    return org_a.organization


@pytest.fixture
def members(org, org_a, outbox_mode):
    """The owner opts in; a second member does not."""
    Membership.objects.filter(user=org_a.user).update(weekly_digest=True)
    add_member(organization=org, email="quiet@acme.test", password=PASSWORD)
    return org_a.user


@pytest.fixture
def weeks(survey):
    # The week before (24 Feb – 2 Mar): 10, 0 → NPS 0.
    _respond(survey, 10, "2025-02-26T10:00+01:00")
    _respond(survey, 0, "2025-02-27T10:00+01:00", "an older complaint")
    # Last week (3–9 March): 10, 10, 9, 8, and six detractors with comments → NPS −20.
    for score in (10, 10, 9, 8):
        _respond(survey, score, "2025-03-04T10:00+01:00", "fine")
    for day, score in enumerate((1, 2, 3, 4, 5, 6), start=3):
        _respond(survey, score, f"2025-03-0{day}T12:00+01:00", f"complaint {score}")
    Response.objects.filter(score=6).update(comment="<script>alert('x')</script> & more")
    # Sunday 9 March 23:30 in Berlin still counts for last week (22:30 UTC).
    _respond(survey, 9, "2025-03-09T22:30+00:00")
    # Monday 10 March 00:30 in Berlin is this week: not in the digest.
    _respond(survey, 0, "2025-03-09T23:30+00:00", "this week")
    return survey


def test_the_digest_is_due_on_monday_at_seven_in_the_organizations_zone():
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo(BERLIN)
    assert due_week(DUE, berlin) == LAST_WEEK
    assert due_week(DUE - dt.timedelta(minutes=1), berlin) is None  # 06:59
    assert due_week(DUE + dt.timedelta(hours=16, minutes=59), berlin) == LAST_WEEK  # 23:59
    assert due_week(DUE + dt.timedelta(hours=17), berlin) is None  # Tuesday
    assert due_week(DUE, dt.UTC) is None  # 06:00 in UTC
    assert due_week(DUE + dt.timedelta(hours=1), dt.UTC) == LAST_WEEK


def test_only_members_who_opted_in_get_it_once(org, members, weeks):
    assert send_weekly_digests(now=DUE - dt.timedelta(hours=1)) == {
        "sent": 0,
        "already": 0,
        "skipped": 0,
        "failed": 0,
    }
    assert send_weekly_digests(now=DUE)["sent"] == 1
    # The job runs again (every quarter of an hour, or twice by mistake): nothing more.
    assert send_weekly_digests(now=DUE + dt.timedelta(minutes=15)) == {
        "sent": 0,
        "already": 1,
        "skipped": 0,
        "failed": 0,
    }
    assert send_digest(membership=Membership.objects.get(user=members), week_start=LAST_WEEK) == (
        "already"
    )
    emails = OutboundEmail.objects.filter(kind="digest")
    assert [e.to for e in emails] == [members.email]
    assert emails.get().organization == org
    delivery = DigestDelivery.objects.get()
    assert (delivery.week_start, delivery.status, delivery.email) == (
        LAST_WEEK,
        DigestDelivery.Status.SENT,
        emails.get(),
    )
    quiet = Membership.objects.get(user__email="quiet@acme.test")
    assert send_digest(membership=quiet, week_start=LAST_WEEK) == "skipped"


def test_the_content_of_the_digest(org, members, weeks):
    send_weekly_digests(now=DUE)
    record = OutboundEmail.objects.get(kind="digest")
    message = parsed(record)
    assert message.get_content_type() == "multipart/alternative"
    # Last week: 4 promoters (10, 10, 9, 9 on Sunday night), 1 passive, 6 detractors of 11:
    # (4 − 6) / 11 = −18.18 → −18; the week before 0 → −18.
    assert record.subject == "Weekly NPS for Acme: -18 (▼ -18)"
    text, html = body_of(record, "plain"), body_of(record, "html")
    assert "NPS: -18 (▼ -18 on the week before)" in text
    assert "Responses: 11 · promoters 4 · passives 1 · detractors 6" in text
    assert "3 Mar 2025 to 9 Mar 2025 (Europe/Berlin)" in text
    # The latest five detractor comments of the week, newest first.
    assert text.index("“<script>alert('x')</script> & more”") < text.index("complaint 2")
    assert "complaint 1" not in text
    assert "an older complaint" not in text and "this week" not in text and "fine" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in html
    assert "<script>" not in html
    # Eight weeks of trend, the last two with their scores.
    assert text.count("Week of ") == 8
    assert "Week of 24 Feb 2025: NPS 0, 2 responses" in text
    assert "Week of 3 Mar 2025: NPS -18, 11 responses" in text
    assert "/dashboard/?from=2025-03-03&amp;to=2025-03-09" in html
    assert "/inbox/" in text


def test_a_quiet_week_still_sends_a_digest(org, members, survey):
    send_weekly_digests(now=DUE)
    record = OutboundEmail.objects.get(kind="digest")
    assert record.subject == "Weekly NPS for Acme: no responses last week"
    assert "No responses last week." in body_of(record, "plain")


def test_a_failed_send_is_tried_again(org, members, weeks, monkeypatch):
    def refuse(*args, **kwargs):
        raise MailError("SMTP 451: try later", permanent=False)

    monkeypatch.setattr(digest, "deliver", refuse)
    assert send_weekly_digests(now=DUE)["failed"] == 1
    delivery = DigestDelivery.objects.get()
    assert delivery.status == DigestDelivery.Status.FAILED and "451" in delivery.error
    monkeypatch.undo()
    assert send_weekly_digests(now=DUE + dt.timedelta(minutes=15))["sent"] == 1
    assert DigestDelivery.objects.get().status == DigestDelivery.Status.SENT
    assert OutboundEmail.objects.filter(kind="digest").count() == 1


def test_the_periodic_task_runs_the_service(org, members, weeks, monkeypatch):
    calls = []
    monkeypatch.setattr(digest, "send_weekly_digests", lambda *, now: calls.append(now) or {})
    weekly_digest_task.call_local()
    assert len(calls) == 1 and calls[0].tzinfo is not None


def test_members_turn_the_digest_on_and_off(member_client, org_a):
    membership = Membership.objects.get(user=org_a.user)
    assert membership.weekly_digest is False
    page = member_client.get(reverse("dashboard")).content.decode()
    assert 'name="weekly_digest"' in page and 'id="digest"' in page
    response = member_client.post(
        reverse("digest_toggle"), {"weekly_digest": "on", "query": "category=detractor"}
    )
    assert response.status_code == 302
    assert response.url == reverse("dashboard") + "?category=detractor#digest"
    membership.refresh_from_db()
    assert membership.weekly_digest is True
    member_client.post(reverse("digest_toggle"), {})
    membership.refresh_from_db()
    assert membership.weekly_digest is False
    assert member_client.get(reverse("digest_toggle")).status_code == 405


def test_the_toggle_needs_a_csrf_token(org_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(org_a.user)
    assert client.post(reverse("digest_toggle"), {"weekly_digest": "on"}).status_code == 403
    assert Membership.objects.get(user=org_a.user).weekly_digest is False


def test_the_digest_comes_in_the_members_language(org, members, weeks):
    Membership.objects.filter(user=members).update(language="de")
    send_weekly_digests(now=DUE)
    record = OutboundEmail.objects.get(kind="digest")
    assert record.subject == "Wöchentlicher NPS für Acme: -18 (▼ -18)"
