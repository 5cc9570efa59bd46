"""What every channel shares: the outcome, the error, and one guarded HTTP call."""

from __future__ import annotations

import datetime as dt
import email.utils
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings

from npsloop.web.egress import UnsafeURL, check_url, guarded_session

USER_AGENT = "npsloop-notifications/1"


@dataclass
class Outcome:
    """A delivered notification: the receiver's status and what it created (ticket URL)."""

    status: int | None = None
    external_url: str = ""


class ChannelError(Exception):
    """A failed try. `retryable`: trying later can help; `gone`: stop using the channel."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        status: int | None = None,
        gone: bool = False,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable and not gone
        self.retry_after = retry_after
        self.status = status
        self.gone = gone


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max((when - dt.datetime.now(dt.UTC)).total_seconds(), 0.0)


def raise_for_status(
    status: int, headers: Any, body: str, *, retry_client_errors: bool = False
) -> None:
    """Classify an HTTP answer: 2xx passes, the rest raises ChannelError.

    408, 429 and 5xx are worth another try (with the receiver's Retry-After); 410 Gone
    means the receiver wants no more; other 4xx (bad credentials, bad data) will not
    change by themselves, except for plain webhooks (`retry_client_errors`), whose
    owners often fix their endpoint within the retry window.
    """
    if 200 <= status < 300:
        return
    detail = f"HTTP {status}: {body[:500]}".strip()
    if status == 410:
        raise ChannelError(detail, status=status, gone=True)
    retryable = status in (408, 429) or status >= 500 or status < 400 or retry_client_errors
    raise ChannelError(
        detail,
        retryable=retryable,
        retry_after=parse_retry_after(headers.get("Retry-After")),
        status=status,
    )


def post(
    url: str,
    *,
    method: str = "POST",
    json: Any = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    retry_client_errors: bool = False,
) -> requests.Response:
    """One HTTP call to a user-configured URL: guarded, no redirects, bounded time."""
    try:
        check_url(url)
    except UnsafeURL as error:
        raise ChannelError(str(error), retryable=False) from error
    all_headers = {"User-Agent": USER_AGENT, **(headers or {})}
    try:
        with guarded_session() as session:
            answer = session.request(
                method,
                url,
                json=json,
                data=data,
                headers=all_headers,
                auth=auth,
                timeout=settings.NPSLOOP_OUTBOUND_TIMEOUT,
                # A redirect could lead to an address the check above would refuse.
                allow_redirects=False,
            )
    except UnsafeURL as error:  # the name resolved to another address when connecting
        raise ChannelError(str(error), retryable=False) from error
    except requests.Timeout as error:
        raise ChannelError(f"No answer within {settings.NPSLOOP_OUTBOUND_TIMEOUT:g} s.") from error
    except requests.RequestException as error:
        raise ChannelError(f"Could not connect: {type(error).__name__}") from error
    raise_for_status(
        answer.status_code, answer.headers, answer.text, retry_client_errors=retry_client_errors
    )
    return answer
