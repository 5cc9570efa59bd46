"""Turn loosely typed input (forms, CSV, Segment traits) into contact fields."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

_GENDERS = {
    "female": {"female", "f", "w", "woman", "weiblich", "frau", "ms", "mrs", "miss"},
    "male": {"male", "m", "man", "männlich", "maennlich", "herr", "mr"},
    "diverse": {"diverse", "d", "divers", "other", "non-binary", "nonbinary", "x"},
}


def email(value: object) -> str:
    text = str(value or "").strip()
    if not text:
        raise ValidationError(_("An email address is required."), code="required")
    try:
        validate_email(text)
    except ValidationError:
        raise ValidationError(
            _("%(value)s is not a valid email address."), code="invalid", params={"value": text}
        ) from None
    local, _at, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def text(value: object, limit: int) -> str:
    """A name or id as one line: control characters (NUL among them, which PostgreSQL
    refuses and which cut SQLite's export lines short) dropped, trimmed, cut to limit."""
    cleaned = "".join(ch for ch in str(value or "") if ch >= " " and ch != "\x7f")
    return cleaned.strip()[:limit]


def gender(value: object) -> str:
    text = str(value or "").strip().lower().rstrip(".")
    if not text:
        return ""
    for canonical, words in _GENDERS.items():
        if text in words:
            return canonical
    return ""


def language(value: object) -> str:
    text = str(value or "").strip().replace("_", "-").split("-")[0].lower()
    return text if text.isalpha() and len(text) in (2, 3) else ""


def moment(value: object) -> dt.datetime | None:
    """ISO 8601 date or date-time (naive means UTC); empty means unknown."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        text = str(value).strip()[:64]
        try:
            parsed = parse_datetime(text)
            if parsed is None and (day := parse_date(text)) is not None:
                parsed = dt.datetime.combine(day, dt.time())
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationError(
                _("%(value)s is not a valid date (use ISO 8601, e.g. 2024-05-17)."),
                code="invalid",
                params={"value": text},
            )
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


# Segment's own libraries (new-date) read a number below this as seconds, above as ms.
_SECONDS_LIMIT = 31_557_600_000


def segment_time(value: object) -> dt.datetime | None:
    """A Segment date: ISO 8601 (with or without offset), a plain date, or a Unix epoch
    as a number or digit string, in seconds or milliseconds."""
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValidationError(_("%(value)s is not a valid date.") % {"value": value})
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
        number = float(value.strip())
    if number is not None:
        seconds = number if abs(number) < _SECONDS_LIMIT else number / 1000
        try:
            return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise ValidationError(_("%(value)s is not a valid date.") % {"value": value}) from None
    return moment(value)
