"""Reading Segment's wire formats: request bodies and single events. No database."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

from django.utils.dateparse import parse_datetime

# Segment's own limits.
MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
EVENT_TYPES = {"identify", "track", "page", "screen", "group", "alias"}


class IngestError(Exception):
    """Answered as {"code", "message"} with this status; Segment retries only 5xx/408/429."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Event:
    type: str
    message_id: str
    user_id: str
    anonymous_id: str
    timestamp: dt.datetime
    payload: dict[str, Any]


def read_body(raw: bytes, *, encoding: str, limit: int) -> Any:
    """Decompress (gzip/deflate) within the limit, then parse JSON."""
    if len(raw) > limit:
        raise _too_large(limit)
    encoding = encoding.strip().lower()
    if encoding in {"gzip", "deflate"}:
        wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
        try:
            inflater = zlib.decompressobj(wbits)
            raw = inflater.decompress(raw, limit + 1)
        except zlib.error:
            raise IngestError(
                400, "invalid_encoding", f"The body is not valid {encoding}."
            ) from None
        if len(raw) > limit or inflater.unconsumed_tail:
            raise _too_large(limit)
    elif encoding not in {"", "identity"}:
        raise IngestError(
            415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported."
        )
    try:
        text = raw.decode("utf-8-sig")  # Segment's bodies are UTF-8 (a BOM is let pass)
        body = json.loads(text, parse_float=_finite, parse_constant=_nan_to_null)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestError(400, "invalid_json", f"The body is not valid JSON: {exc}.") from None
    except ValueError:  # an integer of more than 4300 digits (sys.get_int_max_str_digits)
        raise IngestError(400, "invalid_json", "The body has a number that is too long.") from None
    except RecursionError:
        raise IngestError(400, "invalid_json", "The body is nested too deeply.") from None
    if _ESCAPES.search(text):
        try:
            body = _storable(body)
        except RecursionError:
            raise IngestError(400, "invalid_json", "The body is nested too deeply.") from None
    return body


# NaN and ±Infinity (Python's json.dumps writes them) and floats beyond the double range
# are not JSON; as JavaScript's JSON.stringify does, they become null.
def _finite(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def _nan_to_null(_name: str) -> None:
    return None


# \u0000 and lone UTF-16 surrogates (\ud800) are valid JSON escapes, but neither
# PostgreSQL nor a UTF-8 encoder takes them: NUL is dropped, a lone surrogate becomes
# U+FFFD. Only bodies with such escapes are walked.
_ESCAPES = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_SURROGATES = re.compile("[\ud800-\udfff]")


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATES.sub("\ufffd", value.replace("\x00", ""))
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    return value


def _too_large(limit: int) -> IngestError:
    return IngestError(413, "too_large", f"The body is larger than {limit // 1024} KB.")


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list | bool):
        return ""
    return str(value).strip()[:200]


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        return None
    if parsed is None:
        return None
    if not parsed.tzinfo:
        return parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 is before the first UTC datetime
        return None


def parse_event(
    raw: Any,
    *,
    received_at: dt.datetime,
    default_type: str | None = None,
    shared: dict[str, Any] | None = None,
) -> Event:
    """One event of any type; raises IngestError for what a retry cannot fix."""
    if not isinstance(raw, dict):
        raise IngestError(400, "invalid_event", "An event must be a JSON object.")
    if shared:
        # A batch's top-level context/integrations apply to each of its events.
        raw = {**shared, **raw}
    size = len(json.dumps(raw, separators=(",", ":"), default=str).encode())
    if size > MAX_EVENT_BYTES:
        raise IngestError(413, "too_large", "An event is larger than 32 KB.")
    kind = _text(raw.get("type") or default_type).lower()
    if kind not in EVENT_TYPES:
        raise IngestError(
            400,
            "invalid_type",
            f"Unknown or missing event type {kind!r}; expected one of "
            f"{', '.join(sorted(EVENT_TYPES))}.",
        )
    user_id, anonymous_id = _text(raw.get("userId")), _text(raw.get("anonymousId"))
    if not user_id and not anonymous_id:
        raise IngestError(400, "missing_id", "An event needs a userId or an anonymousId.")
    # Segment's libraries always send a messageId; without one an event cannot be
    # told from a retry, so it is taken as new.
    message_id = _text(raw.get("messageId")) or f"npsloop:{uuid.uuid4()}"
    timestamp = (
        parse_time(raw.get("timestamp")) or parse_time(raw.get("originalTimestamp")) or received_at
    )
    return Event(kind, message_id, user_id, anonymous_id, timestamp, {**raw, "type": kind})


def traits_of(payload: dict[str, Any]) -> dict[str, Any]:
    """`traits`, falling back to `context.traits` (RudderStack's JS SDK puts them there)."""
    traits = payload.get("traits")
    if not isinstance(traits, dict) or not traits:
        context = payload.get("context")
        traits = context.get("traits") if isinstance(context, dict) else None
    return traits if isinstance(traits, dict) else {}


def locale_of(payload: dict[str, Any]) -> str:
    context = payload.get("context")
    locale = context.get("locale") if isinstance(context, dict) else None
    return locale if isinstance(locale, str) else ""
