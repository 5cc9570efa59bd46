"""Segment-compatible endpoints.

`{BASE_URL}/segment` is the host for Segment's libraries and RudderStack: they
post to /v1/identify … /v1/batch. `{BASE_URL}/segment/webhook` takes Segment's
webhook destinations (one event, or an array when batching).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from npsloop.ingest.auth import KeyedSurvey, check_signature, key_from_header, survey_for
from npsloop.ingest.events import MAX_BATCH_BYTES, MAX_EVENT_BYTES, IngestError, read_body
from npsloop.ingest.services import accept
from npsloop.web import ratelimit

log = logging.getLogger(__name__)
SINGLE = {"identify", "track", "page", "screen", "group", "alias"}
BATCH = {"batch", "import"}


DEFAULT_RATE_LIMIT = "120000/min"  # requests (not events) per survey key


class RateLimited(IngestError):
    def __init__(self, verdict: ratelimit.Verdict):
        super().__init__(
            429,
            "rate_limited",
            f"More than {verdict.limit} requests for this API key in a short time; "
            f"retry in {verdict.retry_after} seconds.",
        )
        self.retry_after = verdict.retry_after


def _error(
    status: int, code: str, message: str, *, retry_after: int | None = None, **extra: Any
) -> JsonResponse:
    response = JsonResponse(
        {"success": False, "code": code, "message": message, **extra}, status=status
    )
    if status in (429, 503):
        response["Retry-After"] = str(retry_after or 30)
    return response


def _handle(request: HttpRequest, handler) -> JsonResponse:
    if request.method != "POST":
        return _error(405, "method_not_allowed", "Send events with POST.")
    try:
        return handler()
    except IngestError as error:
        return _error(
            error.status, error.code, error.message, retry_after=getattr(error, "retry_after", None)
        )
    except RecursionError:
        # Parsed, but too deep to serialise again for storage; nothing was stored.
        return _error(400, "invalid_json", "The body is nested too deeply.")
    except DatabaseError:
        # Nothing was stored: a retry by the sender is right.
        log.exception("ingest could not store events")
        return _error(503, "unavailable", "The events could not be stored; retry later.")


def _body(request: HttpRequest, limit: int) -> Any:
    length = request.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > limit:
        raise IngestError(413, "too_large", f"The body is larger than {limit // 1024} KB.")
    return read_body(
        request.body, encoding=request.headers.get("Content-Encoding", ""), limit=limit
    )


def _throttle(survey: KeyedSurvey) -> None:
    """INGEST_RATE_LIMIT: requests per survey (so per API key), whatever their size."""
    rate = ratelimit.rate_setting("NPSLOOP_INGEST_RATE_LIMIT", DEFAULT_RATE_LIMIT)
    verdict = ratelimit.hit("ingest", str(survey.pk), rate)
    if not verdict.allowed:
        raise RateLimited(verdict)


def _survey_and_body(request: HttpRequest, limit: int) -> tuple[KeyedSurvey, Any]:
    """The key and the limit first when the key is in a header: no parsing for a refusal."""
    if key_from_header(request):
        survey = survey_for(request, None)
        _throttle(survey)
        return survey, _body(request, limit)
    body = _body(request, limit)
    survey = survey_for(request, body)  # writeKey in the body
    _throttle(survey)
    return survey, body


def _answer(result, *, single: bool) -> JsonResponse:
    if single and result.rejected:
        first = result.rejected[0]
        return _error(413 if first["code"] == "too_large" else 400, first["code"], first["message"])
    return JsonResponse({"success": True, "accepted": result.accepted, "rejected": result.rejected})


@csrf_exempt
def tracking_api(request: HttpRequest, kind: str) -> JsonResponse:
    def handle() -> JsonResponse:
        if kind not in SINGLE | BATCH:
            raise IngestError(404, "not_found", f"/v1/{kind} is no Segment endpoint.")
        limit = MAX_BATCH_BYTES if kind in BATCH else MAX_EVENT_BYTES
        survey, body = _survey_and_body(request, limit)
        if not isinstance(body, dict):
            raise IngestError(400, "invalid_body", "The body must be a JSON object.")
        if kind in BATCH:
            events = body.get("batch")
            if not isinstance(events, list):
                raise IngestError(400, "invalid_batch", "A batch needs a list named 'batch'.")
            shared = {k: body[k] for k in ("context", "integrations") if k in body}
            return _answer(accept(survey=survey, raw_events=events, shared=shared), single=False)
        event = {k: v for k, v in body.items() if k != "writeKey"}
        return _answer(accept(survey=survey, raw_events=[event], default_type=kind), single=True)

    return _handle(request, handle)


@csrf_exempt
def webhook(request: HttpRequest) -> JsonResponse:
    def handle() -> JsonResponse:
        survey, body = _survey_and_body(request, MAX_BATCH_BYTES)
        check_signature(request, survey)
        if isinstance(body, list):
            return _answer(accept(survey=survey, raw_events=body), single=False)
        return _answer(accept(survey=survey, raw_events=[body]), single=True)

    return _handle(request, handle)
