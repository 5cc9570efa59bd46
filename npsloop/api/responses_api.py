from __future__ import annotations

from typing import Literal

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Query, Router, Status

from npsloop.api import present
from npsloop.api.auth import require_write
from npsloop.api.errors import field_errors
from npsloop.api.exports import FORMATS, export_response
from npsloop.api.params import FILTER_HELP, check_cursor, moment, response_filter
from npsloop.api.schemas import NoteIn, ResponseDetail, ResponsePage, TagsIn, Text
from npsloop.api.shared import BODY_ERRORS, ERRORS
from npsloop.responses import workflow
from npsloop.responses.filters import compile_filter
from npsloop.responses.models import Response
from npsloop.responses.pagination import page

router = Router(tags=["responses"])


def _filtered(
    request: HttpRequest, since: str | None, until: str | None, updated_since: str | None
) -> QuerySet[Response]:
    qs = compile_filter(request.auth.organization, response_filter(request))
    if (start := moment("since", since)) is not None:
        qs = qs.filter(created_at__gte=start)
    if (end := moment("until", until)) is not None:
        qs = qs.filter(created_at__lt=end)
    if (changed := moment("updated_since", updated_since)) is not None:
        qs = qs.filter(updated_at__gte=changed)
    return qs


def _one(request: HttpRequest, response_id: int) -> Response:
    return get_object_or_404(
        Response.objects.filter(organization=request.auth.organization), pk=response_id
    )


@router.get("/responses", response={200: ResponsePage, **ERRORS}, description=FILTER_HELP)
def list_responses(
    request: HttpRequest,
    since: str | None = None,
    until: str | None = None,
    updated_since: str | None = None,
    expand: Literal["person"] | None = None,
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),
):
    """Responses, newest first, filtered; `since`/`until`/`updated_since` take ISO 8601 or
    Unix time; follow `next_cursor` for the next page."""
    qs = _filtered(request, since, until, updated_since).prefetch_related("tags")
    if expand == "person":
        qs = qs.select_related("contact")
    result = page(qs, cursor=check_cursor(cursor), size=limit)
    return {
        "items": [present.response(r, expand_person=expand == "person") for r in result.items],
        "next_cursor": result.next_cursor,
    }


# The export is a file, not JSON: its 200 is documented by hand, one media type per format.
EXPORT_OPENAPI = {
    "responses": {
        200: {
            "description": "The responses as a file (`Content-Disposition: attachment`).",
            "content": {
                media.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
                for media in FORMATS.values()
            },
        }
    }
}


@router.get(
    "/responses/export", response=ERRORS, description=FILTER_HELP, openapi_extra=EXPORT_OPENAPI
)
def export_responses(
    request: HttpRequest,
    format: Literal["csv", "jsonl", "xlsx"] = "csv",  # noqa: A002  (the public name)
    since: str | None = None,
    until: str | None = None,
    updated_since: str | None = None,
):
    """All matching responses as CSV, JSON Lines or XLSX, streamed."""
    flt = response_filter(request)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return export_response(
        request.auth.organization,
        flt,
        format,
        f"responses-{stamp}",
        since=moment("since", since),
        until=moment("until", until),
        updated_since=moment("updated_since", updated_since),
    )


@router.get("/responses/{response_id}", response={200: ResponseDetail, **ERRORS})
def read_response(request: HttpRequest, response_id: int, expand: Literal["person"] | None = None):
    return present.response(
        _one(request, response_id), expand_person=expand == "person", notes=True
    )


@router.post("/responses/{response_id}/tags", response={200: ResponseDetail, **BODY_ERRORS})
def add_tags(request: HttpRequest, response_id: int, payload: TagsIn):
    require_write(request)
    response = _one(request, response_id)
    for name in payload.tags:
        try:
            workflow.add_tag(
                responses=Response.objects.filter(pk=response.pk),
                name=name,
                actor=request.auth.created_by,
            )
        except ValidationError as exc:
            error = field_errors(exc)
            error.details = {"tags": error.details.get("__all__", "")}
            raise error from None
    return present.response(_one(request, response_id), notes=True)


@router.delete("/responses/{response_id}/tags/{tag}", response={200: ResponseDetail, **ERRORS})
def remove_tag(request: HttpRequest, response_id: int, tag: Text):
    require_write(request)
    response = _one(request, response_id)
    workflow.remove_tag(
        responses=Response.objects.filter(pk=response.pk), name=tag, actor=request.auth.created_by
    )
    return present.response(_one(request, response_id), notes=True)


@router.post("/responses/{response_id}/notes", response={201: ResponseDetail, **BODY_ERRORS})
def add_note(request: HttpRequest, response_id: int, payload: NoteIn):
    require_write(request)
    response = _one(request, response_id)
    try:
        workflow.add_note(response=response, text=payload.text, author=request.auth.created_by)
    except ValidationError as exc:
        error = field_errors(exc)
        error.details = {"text": error.details.get("__all__", "")}
        raise error from None
    return Status(201, present.response(_one(request, response_id), notes=True))
