from __future__ import annotations

from django.db.models import QuerySet

from npsloop.accounts.models import Organization
from npsloop.responses.models import Response
from npsloop.surveys.models import Survey


def responses_of(organization: Organization, *, survey: Survey | None = None) -> QuerySet[Response]:
    qs = Response.objects.filter(organization=organization)
    if survey is not None:
        qs = qs.filter(survey=survey)
    return qs.select_related("contact", "survey").order_by("-created_at", "-id")


def response_for_invitation(invitation_id: int) -> Response | None:
    return Response.objects.filter(invitation_id=invitation_id).first()
