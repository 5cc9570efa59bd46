from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from npsloop.accounts.models import Organization
from npsloop.responses.filters import ResponseFilter, compile_filter
from npsloop.responses.models import Response, SavedFilter, Tag
from npsloop.responses.pagination import Page, page
from npsloop.surveys.models import Survey


def responses_of(organization: Organization, *, survey: Survey | None = None) -> QuerySet[Response]:
    qs = Response.objects.filter(organization=organization)
    if survey is not None:
        qs = qs.filter(survey=survey)
    return qs.select_related("contact", "survey").order_by("-created_at", "-id")


def response_for_invitation(invitation_id: int) -> Response | None:
    return Response.objects.filter(invitation_id=invitation_id).first()


def inbox_page(
    organization: Organization, flt: ResponseFilter, *, cursor: str | None, size: int = 50
) -> Page:
    """One page of the inbox, newest first, in a fixed number of queries."""
    qs = (
        compile_filter(organization, flt)
        .select_related("contact", "survey", "assignee")
        .prefetch_related("tags")
    )
    return page(qs, cursor=cursor, size=size)


def response_of(organization: Organization, pk: int) -> Response:
    return get_object_or_404(
        Response.objects.select_related("contact", "survey", "assignee", "invitation"),
        organization=organization,
        pk=pk,
    )


def tags_of(organization: Organization) -> QuerySet[Tag]:
    return Tag.objects.filter(organization=organization)


def saved_filters_of(organization: Organization) -> QuerySet[SavedFilter]:
    return SavedFilter.objects.filter(organization=organization)
