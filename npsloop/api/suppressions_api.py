"""Unsubscribes and bounces: people npsloop never emails."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Status

from npsloop.api.auth import require_write
from npsloop.api.params import check_cursor
from npsloop.api.schemas import EmailIn, SuppressionOut, SuppressionPage, Text
from npsloop.api.services import SUPPRESSIONS, suppress, unsuppress
from npsloop.api.shared import BODY_ERRORS, ERRORS
from npsloop.contacts.models import Contact
from npsloop.responses.pagination import decode, encode

router = Router(tags=["unsubscribes and bounces"])
Kind = Literal["unsubscribes", "bounces"]


def _item(contact: Contact, kind: str) -> dict:
    return {
        "person_id": contact.pk,
        "email": contact.email,
        "name": contact.full_name,
        "at": getattr(contact, SUPPRESSIONS[kind]),
    }


def _list(request: HttpRequest, kind: str, cursor: str | None, limit: int) -> dict:
    field = SUPPRESSIONS[kind]
    qs = Contact.objects.filter(
        organization=request.auth.organization, **{f"{field}__isnull": False}
    ).order_by(f"-{field}", "-id")
    if check_cursor(cursor):
        at, pk = decode(cursor)
        qs = qs.filter(**{f"{field}__lt": at}) | qs.filter(**{field: at, "id__lt": pk})
    items = list(qs[: limit + 1])
    more = len(items) > limit
    items = items[:limit]
    next_cursor = encode(getattr(items[-1], field), items[-1].pk) if more else None
    return {"items": [_item(c, kind) for c in items], "next_cursor": next_cursor}


def _routes(kind: Kind) -> None:
    @router.get(f"/{kind}", response={200: SuppressionPage, **ERRORS}, operation_id=f"list_{kind}")
    def listing(
        request: HttpRequest, cursor: str | None = None, limit: int = Query(50, ge=1, le=200)
    ):
        return _list(request, kind, cursor, limit)

    @router.post(
        f"/{kind}", response={201: SuppressionOut, **BODY_ERRORS}, operation_id=f"add_{kind}"
    )
    def add(request: HttpRequest, payload: EmailIn):
        require_write(request)
        contact = suppress(organization=request.auth.organization, email=payload.email, kind=kind)
        return Status(201, _item(contact, kind))

    @router.delete(
        f"/{kind}/{{email}}", response={204: None, **ERRORS}, operation_id=f"remove_{kind}"
    )
    def remove(request: HttpRequest, email: Text):
        require_write(request)
        contact = get_object_or_404(
            Contact,
            organization=request.auth.organization,
            email__iexact=email,
            **{f"{SUPPRESSIONS[kind]}__isnull": False},
        )
        unsuppress(contact=contact, kind=kind)
        return Status(204, None)


_routes("unsubscribes")
_routes("bounces")
