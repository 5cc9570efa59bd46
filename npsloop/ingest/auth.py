"""Which survey an ingest request is for: its API key, as Segment-compatible senders send it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from django.http import HttpRequest

from npsloop.ingest.events import IngestError
from npsloop.surveys.models import Survey
from npsloop.surveys.selectors import survey_for_api_key


def key_from_header(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[0]  # the key is the user name; the password is empty
    if scheme.lower() == "bearer":
        return value.strip()
    return ""


def survey_for(request: HttpRequest, body: Any) -> Survey:
    """Basic auth user or bearer token, else `writeKey` in the body (analytics-python 2.3+)."""
    key = key_from_header(request)
    if not key and isinstance(body, dict) and isinstance(body.get("writeKey"), str):
        key = body["writeKey"]
    if not key:
        raise IngestError(
            401,
            "missing_key",
            "Send the survey's API key as the Basic auth "
            "user name, as a bearer token or as writeKey in the body.",
        )
    survey = survey_for_api_key(key)
    if survey is None:
        raise IngestError(
            401,
            "invalid_key",
            "This API key belongs to no survey; it may have "
            "been replaced. Copy the current key from the survey's Segment tab.",
        )
    return survey


def check_signature(request: HttpRequest, survey: Survey) -> None:
    """Segment's classic X-Signature: hex HMAC-SHA1 of the raw body with the shared secret."""
    if not survey.webhook_secret:
        return
    expected = hmac.new(survey.webhook_secret.encode(), request.body, hashlib.sha1).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("X-Signature", "").lower()):
        raise IngestError(
            401,
            "invalid_signature",
            "X-Signature does not match the body and the survey's shared secret.",
        )
