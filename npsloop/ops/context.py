"""The current request's id (and its loggable path), for every log record made meanwhile."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

_VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,100}")


@dataclass
class RequestContext:
    request_id: str
    path: str  # as received (no query string)
    safe_path: str  # the same, with link tokens replaced


_current: ContextVar[RequestContext | None] = ContextVar("npsloop_request", default=None)


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID when it is sane, else a new one."""
    if header and _VALID_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def begin_request(ctx: RequestContext) -> None:
    _current.set(ctx)


def current() -> RequestContext | None:
    return _current.get()


def current_request_id() -> str | None:
    ctx = _current.get()
    return ctx.request_id if ctx else None


def end_request(**_kwargs) -> None:
    _current.set(None)
