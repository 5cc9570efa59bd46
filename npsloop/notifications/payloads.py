"""Event payloads: one JSON shape for webhooks, Zapier, Slack and the ticket systems.

Documented in docs/webhooks.md; a change here is a change of the public contract.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.conf import settings
from django.urls import reverse

from npsloop.contacts.models import Contact
from npsloop.responses.models import Response
from npsloop.surveys.models import Survey

RESPONSE_CREATED = "response.created"
RESPONSE_UPDATED = "response.updated"
PERSON_UNSUBSCRIBED = "person.unsubscribed"
DIGEST = "responses.digest"
TEST = "test"


def iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def event_id(*parts: object) -> str:
    """A stable id for one event: the same trigger twice gives the same id (msg_…)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:26]
    return f"msg_{digest}"


def response_url(response: Response) -> str:
    return settings.BASE_URL + reverse("inbox_detail", args=[response.pk])


def person_data(contact: Contact | None) -> dict[str, Any] | None:
    if contact is None:
        return None
    return {
        "id": contact.pk,
        "email": contact.email,
        "name": contact.full_name,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "user_id": contact.external_id or None,
        "language": contact.language or None,
        "properties": contact.properties or {},
        "unsubscribed_at": iso(contact.unsubscribed_at),
    }


def survey_data(survey: Survey) -> dict[str, Any]:
    return {"id": survey.pk, "name": survey.name}


def response_data(response: Response) -> dict[str, Any]:
    return {
        "id": response.pk,
        "score": response.score,
        "category": response.category,
        "comment": response.comment,
        "language": response.language or None,
        "status": response.status,
        "tags": sorted(tag.name for tag in response.tags.all()),
        "assignee": response.assignee.email if response.assignee_id else None,
        "created_at": iso(response.created_at),
        "updated_at": iso(response.updated_at),
        "commented_at": iso(response.commented_at),
        "url": response_url(response),
    }


def response_event(
    event_type: str, response: Response, *, changes: list[str] | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "response": response_data(response),
        "person": person_data(response.contact),
        "survey": survey_data(response.survey),
    }
    if changes is not None:
        data["changes"] = changes
    return {"type": event_type, "timestamp": iso(response.updated_at), "data": data}


def unsubscribed_event(contact: Contact) -> dict[str, Any]:
    return {
        "type": PERSON_UNSUBSCRIBED,
        "timestamp": iso(contact.unsubscribed_at),
        "data": {"person": person_data(contact)},
    }


def digest_event(
    *, rule_name: str, start: dt.datetime, end: dt.datetime, responses: list[Response], total: int
) -> dict[str, Any]:
    return {
        "type": DIGEST,
        "timestamp": iso(end),
        "data": {
            "rule": rule_name,
            "from": iso(start),
            "until": iso(end),
            "count": total,
            # At most the newest 100 in full; `count` says how many there were.
            "responses": [
                {
                    **response_data(r),
                    "person": person_data(r.contact),
                    "survey": survey_data(r.survey),
                }
                for r in responses
            ],
        },
    }


def test_event(organization_name: str, at: dt.datetime) -> dict[str, Any]:
    return {
        "type": TEST,
        "timestamp": iso(at),
        "data": {
            "message": f"A test notification from npsloop for {organization_name}.",
            "response": {
                "id": 0,
                "score": 10,
                "category": "promoter",
                "comment": "This is a test: no customer wrote it.",
                "status": "open",
                "tags": [],
                "created_at": iso(at),
                "url": settings.BASE_URL + reverse("inbox"),
            },
            "person": {"id": 0, "email": "test@example.com", "name": "Test Person"},
            "survey": {"id": 0, "name": "Test survey"},
        },
    }
