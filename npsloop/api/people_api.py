from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Status

from npsloop.api import present
from npsloop.api.auth import require_write
from npsloop.api.erasure import erase_person, export_person
from npsloop.api.params import check_cursor
from npsloop.api.schemas import PersonDetail, PersonIn, PersonPage, PersonSaved, Text
from npsloop.api.services import save_person
from npsloop.api.shared import BODY_ERRORS, ERRORS
from npsloop.contacts.models import Contact
from npsloop.invitations.models import Decision, Invitation
from npsloop.responses.models import Response
from npsloop.responses.pagination import page

router = Router(tags=["people"])


def _people(request: HttpRequest) -> QuerySet[Contact]:
    return Contact.objects.filter(organization=request.auth.organization)


@router.post("/people", response={200: PersonSaved, 201: PersonSaved, **BODY_ERRORS})
def create_or_update_person(request: HttpRequest, payload: PersonIn):
    """Create or update a person (found by email) and, unless `send` is false, survey them:
    with `delay` (seconds) after that delay, else by the survey's send rules. The decision
    (scheduled, or skipped and why) is returned."""
    require_write(request)
    saved = save_person(
        organization=request.auth.organization,
        email=payload.email,
        name=payload.name or "",
        first_name=payload.first_name or "",
        last_name=payload.last_name or "",
        gender=payload.gender or "",
        language=payload.language or "",
        user_id=payload.user_id or "",
        created_at=payload.created_at,
        properties=payload.properties,
        survey_id=payload.survey_id,
        send=payload.send,
        delay=payload.delay,
        event_ref=f"api:{request.auth.prefix}",
    )
    body = {
        "person": present.person(saved.contact),
        "created": saved.created,
        "decision": present.decision(saved.decision) if saved.decision else None,
    }
    return Status((201 if saved.created else 200), body)


@router.get("/people", response={200: PersonPage, **ERRORS})
def list_people(
    request: HttpRequest,
    email: Text | None = None,
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
):
    """People, newest first; `email` finds one person."""
    qs = _people(request)
    if email:
        qs = qs.filter(email__iexact=email.strip())
    result = page(qs, cursor=check_cursor(cursor), size=limit)
    return {"items": [present.person(c) for c in result.items], "next_cursor": result.next_cursor}


@router.get("/people/{person_id}", response={200: PersonDetail, **ERRORS})
def read_person(request: HttpRequest, person_id: int):
    """The person with their invitations (and each one's history), decisions and responses."""
    contact = get_object_or_404(_people(request), pk=person_id)
    invitations = (
        Invitation.objects.filter(contact=contact).prefetch_related("events").order_by("-id")
    )
    decisions = (
        Decision.objects.filter(contact=contact).select_related("invitation").order_by("-id")
    )
    responses = (
        Response.objects.filter(contact=contact)
        .prefetch_related("tags")
        .order_by("-created_at", "-id")
    )
    return present.person(contact) | {
        "invitations": [present.invitation(i) for i in invitations],
        "decisions": [present.decision(d) for d in decisions],
        "responses": [present.response(r) for r in responses],
    }


@router.delete("/people/{person_id}", response={204: None, **ERRORS})
def erase(request: HttpRequest, person_id: int):
    """Erase the person's personal data (GDPR art. 17). Their scores stay, anonymous,
    so the NPS does not change; comments, names, email, properties and ids are gone."""
    require_write(request)
    contact = get_object_or_404(_people(request), pk=person_id)
    erase_person(contact=contact)
    return Status(204, None)


@router.get("/people/{person_id}/export", response={200: dict, **ERRORS})
def export(request: HttpRequest, person_id: int):
    """Everything stored about the person, as one JSON document (GDPR art. 15 and 20)."""
    contact = get_object_or_404(_people(request), pk=person_id)
    response = JsonResponse(export_person(contact=contact), json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="person-{contact.pk}.json"'
    return response
