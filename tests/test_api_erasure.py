"""DELETE /people/{id}: no personal data remains; the anonymous scores still count."""

from __future__ import annotations

import json

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from npsloop.contacts.models import Contact
from npsloop.contacts.services import upsert_contact
from npsloop.ingest.models import IngestEvent
from npsloop.ingest.services import accept, process_pending
from npsloop.invitations.models import Decision, Invitation, InvitationEvent
from npsloop.invitations.services import schedule_invitation, send_invitation
from npsloop.mail.models import OutboundEmail
from npsloop.responses import workflow
from npsloop.responses.models import Note, Response, ResponseEvent, ShareLink
from npsloop.responses.outbound import send_reply
from npsloop.responses.services import record_rating
from npsloop.responses.sharing import create_share_link
from npsloop.segment_sync.models import SegmentSync
from tests.test_api_support import (  # noqa: F401  (fixtures)
    api_fixture,
    assert_error,
)

pytestmark = pytest.mark.django_db

PERSONAL = ["anna", "schmidt", "user-4711", "anon-99", "555-1234", "goldplan"]


def _dump(model) -> str:
    rows = [model_to_dict(row) for row in model.objects.all()]
    return json.dumps(rows, default=str).lower()


def _personal_data_left() -> dict[str, list[str]]:
    found = {}
    for model in (
        Contact, Response, Note, ResponseEvent, Invitation, InvitationEvent, Decision,
        IngestEvent, OutboundEmail, ShareLink, SegmentSync,
    ):  # fmt: skip
        text = _dump(model)
        hits = [word for word in PERSONAL if word in text]
        if hits:
            found[model.__name__] = hits
    return found


def test_erasure_leaves_no_personal_data_and_scores_still_count(
    api, org_a, survey, contact, outbox_mode
):
    org = org_a.organization
    # Segment told us about Anna.
    accept(
        survey=survey,
        raw_events=[
            {
                "type": "identify",
                "userId": "user-4711",
                "anonymousId": "anon-99",
                "messageId": "msg-1",
                "timestamp": timezone.now().isoformat(),
                "traits": {
                    "email": contact.email,
                    "firstName": "Anna",
                    "lastName": "Schmidt",
                    "plan": "goldplan",
                },
            }
        ],
    )
    process_pending(survey_id=survey.pk)
    contact.refresh_from_db()
    assert contact.external_id == "user-4711" and contact.properties["plan"] == "goldplan"
    # She was surveyed by email, answered, got a reply; her answer is in a share link.
    invitation = schedule_invitation(survey=survey, contact=contact, source="api")
    assert send_invitation(invitation.pk) == "sent"
    response = record_rating(invitation=invitation, score=3, comment="Anna here, call 555-1234")
    send_reply(response=response, member=org_a.user, subject="Sorry", body="Hi Anna Schmidt")
    workflow.add_note(response=response, text="Anna Schmidt is upset", author=org_a.user)
    # Someone else's answer stays as it is.
    other, _ = upsert_contact(organization=org, email="carl@example.com", first_name="Carl")
    other_invitation = schedule_invitation(survey=survey, contact=other, source="api")
    record_rating(invitation=other_invitation, score=10, comment="Great product")
    create_share_link(
        organization=org, member=org_a.user, query="", title="all", show_identity=True
    )
    assert _personal_data_left()  # the test would catch data if it were there

    before = api.get("/metrics").json()["summary"]
    assert api.delete(f"/people/{contact.pk}").status_code == 204

    assert _personal_data_left() == {}
    after = api.get("/metrics").json()["summary"]
    assert after == before
    assert after["total"] == 2 and after["detractors"] == 1
    response.refresh_from_db()
    assert response.score == 3 and response.comment == ""
    other.refresh_from_db()
    assert other.first_name == "Carl"
    assert Response.objects.get(contact=other).comment == "Great product"
    share = ShareLink.objects.get()
    assert [row["comment"] for row in share.snapshot] == ["Great product", ""]
    # The person is no longer findable, and a new identify starts from scratch.
    assert api.get("/people", {"email": "anna.schmidt@example.com"}).json()["items"] == []
    assert api.post("/people", {"email": "anna.schmidt@example.com", "send": False}).json()[
        "created"
    ]


def test_erasure_needs_write_scope_and_own_organization(org_a, org_b, contact):
    from tests.test_api_support import token_client

    assert_error(token_client(org_a, "read").delete(f"/people/{contact.pk}"), 403)
    assert_error(token_client(org_b, "write").delete(f"/people/{contact.pk}"), 404)
    contact.refresh_from_db()
    assert contact.first_name == "Anna"
