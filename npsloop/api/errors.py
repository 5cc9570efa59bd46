"""The API's one error hierarchy and its one body: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from npsloop.invitations.errors import InvitationRefused
from npsloop.responses.pagination import BadCursor

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.code = code or self.code
        self.headers = headers or {}


class BadRequest(ApiError):
    pass


class InvalidFilter(ApiError):
    code = "invalid_filter"


class FieldErrors(ApiError):
    status = 422
    code = "validation_error"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"


def error_response(
    status: int, code: str, message: str, details: dict | None = None, headers: dict | None = None
) -> HttpResponse:
    response = JsonResponse(
        {"error": {"code": code, "message": message, "details": details or {}}}, status=status
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def field_errors(exc: DjangoValidationError) -> FieldErrors:
    """A Django ValidationError as a 422 that names each field."""
    if hasattr(exc, "error_dict"):
        details = {name: " ".join(msgs) for name, msgs in exc.message_dict.items()}
    else:
        details = {"__all__": " ".join(exc.messages)}
    return FieldErrors(_("Some fields are not valid."), details=details)


def _loc(entry: dict) -> str:
    # ninja's loc is ("body", "payload", "email") or ("query", "limit"): keep the field path.
    loc = [str(p) for p in entry.get("loc", ())]
    if loc[:1] == ["body"]:
        # Drop the payload parameter's own name; an error on the whole body is "body".
        return ".".join(loc[2:]) or "body"
    return ".".join(p for p in loc if p not in ("query", "path")) or "__all__"


def _message(entry: dict) -> str:
    if entry.get("type") in ("model_type", "dict_type", "model_attributes_type"):
        return _("Input should be a JSON object.")  # not pydantic's "... instance of PersonIn"
    return str(entry.get("msg", "invalid"))


def install(api: NinjaAPI) -> None:
    """Map every error the API can meet to the one body."""

    @api.exception_handler(ApiError)
    def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @api.exception_handler(NinjaValidationError)
    def _validation(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        details: dict[str, str] = {}
        for entry in exc.errors:
            details.setdefault(_loc(entry), _message(entry))
        return error_response(
            422, "validation_error", _("Some fields are not valid."), details=details
        )

    @api.exception_handler(DjangoValidationError)
    def _django_validation(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
        error = field_errors(exc)
        return error_response(error.status, error.code, error.message, error.details)

    @api.exception_handler(AuthenticationError)
    def _auth(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return error_response(
            401,
            "unauthorized",
            _("Send a valid API token: Authorization: Bearer <token>."),
            headers={"WWW-Authenticate": 'Bearer realm="npsloop"'},
        )

    @api.exception_handler(HttpError)
    def _http(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
            return error_response(
                400, "malformed_json", _("The request body is not valid JSON."), {"body": str(exc)}
            )
        return error_response(exc.status_code, f"http_{exc.status_code}", str(exc))

    @api.exception_handler(RequestDataTooBig)
    def _too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return error_response(
            413, "too_large", _("The request body is too large."), {"max_bytes": limit}
        )

    @api.exception_handler(SuspiciousOperation)
    def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
        # e.g. more query parameters than DATA_UPLOAD_MAX_NUMBER_FIELDS
        return error_response(400, "bad_request", _("The request is not valid."), {})

    @api.exception_handler(Http404)
    def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return error_response(404, "not_found", _("Not found."))

    @api.exception_handler(BadCursor)
    def _cursor(request: HttpRequest, exc: BadCursor) -> HttpResponse:
        return error_response(400, "invalid_cursor", str(exc), {"cursor": str(exc)})

    @api.exception_handler(InvitationRefused)
    def _refused(request: HttpRequest, exc: InvitationRefused) -> HttpResponse:
        return error_response(409, "not_sendable", str(exc))

    @api.exception_handler(Exception)
    def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        log.exception("API error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", _("Something went wrong on our side."))
