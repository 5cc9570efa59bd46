from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from npsloop.invitations.errors import InvitationRefused
from npsloop.invitations.models import Invitation
from npsloop.invitations.services import (
    reconcile,
    retry_delay,
    schedule_invitation,
    send_invitation,
)
from npsloop.mail.models import OutboundEmail
from npsloop.surveys.services import set_status
from tests.conftest import rating_links

pytestmark = pytest.mark.django_db


def _scheduled(survey, contact, **kwargs) -> Invitation:
    # Not enqueued: these tests call send_invitation themselves.
    return schedule_invitation(survey=survey, contact=contact, source="manual", **kwargs)


def test_a_job_that_runs_twice_sends_once(smtp, survey, contact):
    invitation = _scheduled(survey, contact)
    assert send_invitation(invitation.pk) == "sent"
    assert send_invitation(invitation.pk) == "not-claimed"
    assert len(smtp.messages) == 1
    invitation.refresh_from_db()
    assert (invitation.state, invitation.attempts) == ("sent", 1)
    assert [e.kind for e in invitation.events.all()] == ["scheduled", "sent"]


def test_not_sent_before_its_time(smtp, survey, contact):
    invitation = _scheduled(survey, contact, send_at=timezone.now() + dt.timedelta(hours=1))
    assert send_invitation(invitation.pk) == "not-claimed"
    assert smtp.messages == []


def test_smtp_down_schedules_a_retry_and_loses_nothing(settings, survey, contact):
    from npsloop.config import email_settings
    from tests.smtp import free_port

    settings.NPSLOOP_EMAIL = email_settings(f"smtp://127.0.0.1:{free_port()}")  # nobody listens
    invitation = _scheduled(survey, contact)
    before = timezone.now()
    assert send_invitation(invitation.pk) == "retry"
    invitation.refresh_from_db()
    assert invitation.state == "scheduled"
    assert invitation.attempts == 1
    assert "ConnectionRefusedError" in invitation.last_error
    assert invitation.send_at >= before + dt.timedelta(seconds=47)
    record = OutboundEmail.objects.get(ref=f"invitation:{invitation.pk}")
    assert record.status == "failed" and "ConnectionRefused" in record.error


def test_temporary_refusal_retries_then_succeeds(smtp, survey, contact):
    smtp.handler.refuse_with = "451 4.3.0 Try again later"
    invitation = _scheduled(survey, contact)
    assert send_invitation(invitation.pk) == "retry"
    smtp.handler.refuse_with = None
    Invitation.objects.filter(pk=invitation.pk).update(send_at=timezone.now())
    assert send_invitation(invitation.pk) == "sent"
    assert len(smtp.messages) == 1
    assert [e.kind for e in invitation.events.all()] == ["scheduled", "retry", "sent"]


def test_unknown_recipient_bounces_and_blocks_the_contact(smtp, survey, contact):
    smtp.handler.refuse_with = "550 5.1.1 No such user"
    invitation = _scheduled(survey, contact)
    assert send_invitation(invitation.pk) == "bounced"
    contact.refresh_from_db()
    assert contact.bounced_at is not None
    with pytest.raises(InvitationRefused):
        _scheduled(survey, contact)


def test_gives_up_after_the_last_attempt(smtp, survey, contact):
    smtp.handler.refuse_with = "451 busy"
    invitation = _scheduled(survey, contact)
    Invitation.objects.filter(pk=invitation.pk).update(attempts=9)
    assert send_invitation(invitation.pk) == "failed"
    invitation.refresh_from_db()
    assert invitation.state == "failed" and "451" in invitation.last_error


def test_backoff_grows_and_is_capped():
    delays = [retry_delay(n).total_seconds() for n in range(1, 15)]
    assert 48 <= delays[0] <= 72
    assert delays[3] > delays[1] > delays[0]
    assert max(delays) <= 6 * 3600 * 1.2


def test_paused_survey_holds_and_archived_cancels(smtp, survey, contact):
    invitation = _scheduled(survey, contact)
    set_status(survey=survey, status="paused")
    assert send_invitation(invitation.pk) == "held"
    invitation.refresh_from_db()
    assert invitation.state == "scheduled"
    set_status(survey=survey, status="archived")
    assert send_invitation(invitation.pk) == "cancelled"
    assert smtp.messages == []
    with pytest.raises(InvitationRefused):
        _scheduled(survey, contact)


def test_reconcile_returns_stale_claims_and_enqueues_due(settings, survey, contact, outbox_mode):
    settings.NPSLOOP_CLAIM_TIMEOUT_SECONDS = 60
    invitation = _scheduled(survey, contact)
    # A worker claimed it and died.
    Invitation.objects.filter(pk=invitation.pk).update(
        state="sending", claimed_at=timezone.now() - dt.timedelta(minutes=5)
    )
    result = reconcile(lost_after=dt.timedelta(0))
    assert result == {"returned": 1, "enqueued": 1}
    invitation.refresh_from_db()
    # Jobs run in-process in tests, so the enqueued job already sent it (to the outbox).
    assert invitation.state == "sent"
    assert "returned" in [e.kind for e in invitation.events.all()]


def test_unsubscribe_one_click_post(
    client, smtp, survey, contact, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _scheduled(survey, contact)
    later = _scheduled(survey, contact, send_at=timezone.now() + dt.timedelta(days=3))
    url = (
        smtp.messages[0].message["List-Unsubscribe"].strip()[1:-1].replace("http://testserver", "")
    )
    page = client.get(url)
    assert page.status_code == 200 and b'<form method="post">' in page.content
    contact.refresh_from_db()
    assert contact.unsubscribed_at is None  # a GET only asks
    # RFC 8058: a POST with this body, no cookies, no CSRF token.
    response = client.post(
        url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    contact.refresh_from_db()
    assert contact.unsubscribed_at is not None
    later.refresh_from_db()
    assert later.state == "cancelled"
    with pytest.raises(InvitationRefused):
        _scheduled(survey, contact)


def test_forged_and_expired_links_get_a_clear_page(
    client, settings, smtp, survey, contact, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _scheduled(survey, contact)
    links = rating_links(smtp.messages[0].message.get_body(("html",)).get_content())
    path = links[10].replace("http://testserver", "")
    forged = path[:-3] + ("x" if path[-3] != "x" else "y") + path[-2:]
    for bad in [forged, "/r/garbage/", "/r/" + "A" * 500 + "/", "/u/garbage/"]:
        response = client.get(bad)
        assert response.status_code == 404
        assert b"not valid" in response.content
        assert client.post(bad, {"score": "10"}).status_code in (403, 404)
    settings.NPSLOOP_RATING_LINK_DAYS = -1
    expired = client.get(path)
    assert expired.status_code == 410 and b"expired" in expired.content


def test_outbox_mode_keeps_the_email_and_shows_it(
    member_client, outbox_mode, survey, contact, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation = _scheduled(survey, contact)
    invitation.refresh_from_db()
    assert invitation.state == "sent"
    record = OutboundEmail.objects.get()
    assert record.status == "outbox"
    listing = member_client.get(reverse("outbox")).content.decode()
    assert "anna.schmidt@example.com" in listing and "Eine kurze Frage zu Acme" in listing
    html = member_client.get(reverse("outbox_html", args=[record.pk]))
    assert "sandbox" in html["Content-Security-Policy"]
    assert '<base target="_blank">' in html.content.decode()
    assert len(rating_links(html.content.decode())) == 11


def test_outbox_shows_non_ascii_text_as_written(outbox_mode):
    from django.core.mail import EmailMultiAlternatives

    from npsloop.mail.selectors import body_of
    from npsloop.mail.services import deliver

    message = EmailMultiAlternatives("Grüße ▼", "Text ▼ äöß", "a@example.com", ["b@example.com"])
    message.attach_alternative("<p>HTML ▼ äöß</p>", "text/html")
    record = deliver(message, kind="system")
    assert body_of(record, "plain").strip() == "Text ▼ äöß"
    assert body_of(record, "html").strip() == "<p>HTML ▼ äöß</p>"
