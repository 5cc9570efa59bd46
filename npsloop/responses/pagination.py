"""Cursor pagination, newest first: stable while new responses arrive, fast at any depth."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db.models import Q, QuerySet

T = TypeVar("T")


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode(created_at: dt.datetime, pk: int) -> str:
    raw = f"{created_at.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[dt.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, pk = raw.split("|")
        created_at = dt.datetime.fromisoformat(moment)
        if created_at.tzinfo is None or created_at.year < 2 or created_at.year > 9998:
            raise ValueError
        pk = int(pk)
        if not 0 <= pk < 2**63:  # a database integer, whatever was typed into the link
            raise ValueError
        return created_at, pk
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadCursor("This page link is broken; start from the first page.") from exc


def page(qs: QuerySet, *, cursor: str | None, size: int = 50) -> Page:
    """Items after the cursor by (created_at, id) descending, and the next cursor."""
    qs = qs.order_by("-created_at", "-id")
    if cursor:
        created_at, pk = decode(cursor)
        qs = qs.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=pk))
    items = list(qs[: size + 1])
    more = len(items) > size
    items = items[:size]
    next_cursor = encode(items[-1].created_at, items[-1].pk) if more else None
    return Page(items=items, next_cursor=next_cursor)
