from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Status

from npsloop.api.auth import require_write
from npsloop.api.errors import NotFound
from npsloop.api.params import query_filter
from npsloop.api.schemas import ShareLinkCreated, ShareLinkIn, ShareLinkOut
from npsloop.api.shared import BODY_ERRORS, ERRORS
from npsloop.responses import sharing
from npsloop.responses.models import ShareLink

router = Router(tags=["share links"])


def _link(link: ShareLink) -> dict:
    return {
        "id": link.pk,
        "title": link.title,
        "query": link.query,
        "show_identity": link.show_identity,
        "count": link.count,
        "state": sharing.state_of(link),
        "created_at": link.created_at,
        "expires_at": link.expires_at,
        "revoked_at": link.revoked_at,
    }


@router.get("/share-links", response={200: list[ShareLinkOut], **ERRORS})
def list_share_links(request: HttpRequest):
    return [_link(link) for link in sharing.share_links_of(request.auth.organization)]


@router.post("/share-links", response={201: ShareLinkCreated, **BODY_ERRORS})
def create_share_link(request: HttpRequest, payload: ShareLinkIn):
    """A static snapshot of the responses matching `query`, readable without an account."""
    require_write(request)
    flt = query_filter(payload.query)
    link, url = sharing.create_share_link(
        organization=request.auth.organization,
        member=request.auth.created_by,
        query=flt.to_query(),
        title=payload.title,
        show_identity=payload.show_identity,
        days=payload.days,
    )
    return Status(201, _link(link) | {"url": url})


@router.delete("/share-links/{link_id}", response={200: ShareLinkOut, **ERRORS})
def revoke_share_link(request: HttpRequest, link_id: int):
    require_write(request)
    try:
        link = sharing.revoke_share_link(organization=request.auth.organization, pk=link_id)
    except ShareLink.DoesNotExist:
        raise NotFound(_("Not found.")) from None
    return _link(link)
