from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Status

from npsloop.api import present
from npsloop.api.auth import require_write
from npsloop.api.errors import Conflict
from npsloop.api.schemas import SurveyCreate, SurveyCreated, SurveyOut, SurveyUpdate
from npsloop.api.services import api_create_survey, update_survey
from npsloop.api.shared import BODY_ERRORS, ERRORS
from npsloop.surveys.models import Survey
from npsloop.surveys.services import set_status

router = Router(tags=["surveys"])


def _surveys(request: HttpRequest) -> QuerySet[Survey]:
    return Survey.objects.filter(organization=request.auth.organization).prefetch_related("texts")


def _split(payload: SurveyCreate | SurveyUpdate) -> tuple[dict, dict]:
    data = payload.model_dump(exclude_unset=True)
    texts = {
        lang: {k: v for k, v in values.items() if v is not None}
        for lang, values in (data.pop("texts", None) or {}).items()
    }
    return data, texts


@router.get("/surveys", response={200: list[SurveyOut], **ERRORS})
def list_surveys(request: HttpRequest, include_archived: bool = False):
    qs = _surveys(request)
    if not include_archived:
        qs = qs.exclude(status=Survey.Status.ARCHIVED)
    return [present.survey(s) for s in qs.order_by("name", "id")]


@router.post("/surveys", response={201: SurveyCreated, **BODY_ERRORS})
def create_survey(request: HttpRequest, payload: SurveyCreate):
    require_write(request)
    fields, texts = _split(payload)
    survey, key = api_create_survey(
        organization=request.auth.organization, fields=fields, texts=texts
    )
    return Status(201, present.survey(survey) | {"api_key": key})


@router.get("/surveys/{survey_id}", response={200: SurveyOut, **ERRORS})
def read_survey(request: HttpRequest, survey_id: int):
    return present.survey(get_object_or_404(_surveys(request), pk=survey_id))


@router.patch("/surveys/{survey_id}", response={200: SurveyOut, **BODY_ERRORS})
def change_survey(request: HttpRequest, survey_id: int, payload: SurveyUpdate):
    require_write(request)
    survey = get_object_or_404(_surveys(request), pk=survey_id)
    fields, texts = _split(payload)
    update_survey(survey=survey, fields=fields, texts=texts)
    return present.survey(get_object_or_404(_surveys(request), pk=survey_id))


def _status(request: HttpRequest, survey_id: int, status: str):
    require_write(request)
    survey = get_object_or_404(_surveys(request), pk=survey_id)
    if survey.status == Survey.Status.ARCHIVED:
        raise Conflict("The survey is archived.", code="archived")
    set_status(survey=survey, status=status)
    return present.survey(get_object_or_404(_surveys(request), pk=survey_id))


@router.post("/surveys/{survey_id}/pause", response={200: SurveyOut, **ERRORS})
def pause_survey(request: HttpRequest, survey_id: int):
    """Stop sending; scheduled invitations wait until the survey is resumed."""
    return _status(request, survey_id, Survey.Status.PAUSED)


@router.post("/surveys/{survey_id}/resume", response={200: SurveyOut, **ERRORS})
def resume_survey(request: HttpRequest, survey_id: int):
    return _status(request, survey_id, Survey.Status.ACTIVE)
