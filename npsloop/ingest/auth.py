"""Which survey an ingest request is for: its API key, as Segment-compatible senders send it."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from npsloop.ingest.events import IngestError, parse_time
from npsloop.surveys.models import Survey
from npsloop.web.secrets import digest_of, split_prefix


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


@dataclass(frozen=True)
class KeyedSurvey:
    """What ingest needs to store an event: the survey and its organization."""

    pk: int
    organization_id: int


# Key digest → (expiry, survey or None). Each request would otherwise build and run
# an ORM query on the wide survey table; a rotated key keeps working for at most
# KEY_CACHE_SECONDS in a process that has just seen it.
KEY_CACHE_SECONDS = 10.0
_key_cache: dict[str, tuple[float, KeyedSurvey | None]] = {}


def _lookup(key: str) -> KeyedSurvey | None:
    digest = digest_of(key)
    now = time.monotonic()
    cached = _key_cache.get(digest)
    if cached and cached[0] > now:
        return cached[1]
    prefix = split_prefix(key, "svy")
    row = (
        Survey.objects.filter(api_key_prefix=prefix)
        .values_list("pk", "organization_id", "api_key_digest")
        .first()
        if prefix
        else None
    )
    found = KeyedSurvey(row[0], row[1]) if row and hmac.compare_digest(row[2], digest) else None
    if len(_key_cache) > 10_000:
        _key_cache.clear()
    _key_cache[digest] = (now + KEY_CACHE_SECONDS, found)
    return found


def survey_for(request: HttpRequest, body: Any) -> KeyedSurvey:
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
    survey = _lookup(key)
    if survey is None:
        raise IngestError(
            401,
            "invalid_key",
            "This API key belongs to no survey; it may have "
            "been replaced. Copy the current key from the survey's Segment tab.",
        )
    return survey


# A batch signed by its first event only is accepted while that event is this recent:
# such a signature says nothing about the other events, so a copy of an old signed event
# must not carry a forged batch for long. Segment retries a batch for about 4 hours.
FIRST_EVENT_MAX_AGE = dt.timedelta(hours=6)
FIRST_EVENT_MAX_AHEAD = dt.timedelta(minutes=5)


def _first_of_batch(body: bytes) -> bytes | None:
    """The exact bytes of the first item of a JSON array body when that item is a recent
    event (its receivedAt, sentAt or timestamp), or None."""
    try:
        text = body.decode("utf-8")
        if not text.startswith("["):
            return None
        item, end = json.JSONDecoder().raw_decode(text, 1)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(item, dict):
        return None
    now = timezone.now()
    moments = [parse_time(item.get(key)) for key in ("receivedAt", "sentAt", "timestamp")]
    moment = next((m for m in moments if m is not None), None)
    if moment is None or not now - FIRST_EVENT_MAX_AGE <= moment <= now + FIRST_EVENT_MAX_AHEAD:
        return None
    return text[1:end].encode("utf-8")


def check_signature(request: HttpRequest, survey: KeyedSurvey) -> None:
    """Segment's X-Signature: hex HMAC-SHA1 with the shared secret of the raw body or, for
    a batch from Webhooks (Actions), of its first event only (that is all Segment signs;
    the survey's key still authenticates the whole request)."""
    secret = Survey.objects.filter(pk=survey.pk).values_list("webhook_secret", flat=True).first()
    if not secret:
        return
    given = request.headers.get("X-Signature", "").lower()
    signed = [request.body]
    if (first := _first_of_batch(request.body)) is not None:
        signed.append(first)
    matches = [
        hmac.compare_digest(hmac.new(secret.encode(), data, hashlib.sha1).hexdigest(), given)
        for data in signed
    ]
    if not any(matches):
        raise IngestError(
            401,
            "invalid_signature",
            "X-Signature does not match the body and the survey's shared secret.",
        )
