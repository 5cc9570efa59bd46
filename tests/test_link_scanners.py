"""Mail security scanners fetch every link of an email; they must leave no score."""

from __future__ import annotations

import httpx
import pytest

from npsloop.invitations.models import Invitation
from npsloop.invitations.services import schedule_invitation
from npsloop.responses.models import Response
from tests.conftest import rating_links


@pytest.mark.django_db(transaction=True)
def test_fetching_all_eleven_links_records_nothing(
    smtp, survey, contact, live_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation = schedule_invitation(
            survey=survey, contact=contact, source=Invitation.Source.MANUAL
        )
    html = smtp.messages[0].message.get_body(("html",)).get_content()
    links = rating_links(html)
    unsubscribe = smtp.messages[0].message["List-Unsubscribe"].strip()[1:-1]
    headers = {"User-Agent": "Mozilla/5.0 (compatible; SafeLinks scanner)"}
    # A scanner fetches every link within seconds, with HEAD and GET, following redirects.
    with httpx.Client(follow_redirects=True, headers=headers) as scanner:
        for url in [*links.values(), unsubscribe]:
            url = url.replace("http://testserver", live_server.url)
            assert scanner.head(url).status_code == 200
            assert scanner.get(url).status_code == 200
    assert Response.objects.count() == 0
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.SENT
    contact.refresh_from_db()
    assert contact.unsubscribed_at is None  # the unsubscribe page asks before acting
