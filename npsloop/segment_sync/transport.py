"""The Segment channel: one identify call through the official client, errors classified."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from segment.analytics import Client
from segment.analytics.request import APIError, parse_retry_after

DEFAULT_HOST = "https://api.segment.io"


@dataclass(frozen=True)
class Identify:
    write_key: str
    user_id: str | None
    anonymous_id: str | None
    traits: dict[str, Any]
    timestamp: dt.datetime
    message_id: str


class SegmentError(Exception):
    """A failed call; `retryable` says whether trying again later can help."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


def _retryable(status: int) -> bool:
    # 408/429/5xx are Segment's "try again"; a 3xx means a misconfigured host that an
    # operator can still fix within the retry window. Other 4xx will not change.
    return status in (408, 429) or status >= 500 or status < 400


def send_identify(identify: Identify) -> None:
    """Post one identify call now; raises SegmentError on any failure."""
    client = Client(
        identify.write_key,
        host=getattr(settings, "NPSLOOP_SEGMENT_HOST", DEFAULT_HOST),
        # sync_mode posts in this thread and raises instead of queueing and retrying in a
        # background thread: our row and its backoff are the retry mechanism.
        sync_mode=True,
        max_retries=0,
        timeout=getattr(settings, "NPSLOOP_SEGMENT_TIMEOUT", 10),
    )
    try:
        client.identify(
            user_id=identify.user_id,
            anonymous_id=identify.anonymous_id,
            traits=identify.traits,
            timestamp=identify.timestamp,
            message_id=identify.message_id,
        )
    except APIError as error:
        retry_after = parse_retry_after(error.response) if error.response is not None else None
        raise SegmentError(
            str(error), retryable=_retryable(error.status), retry_after=retry_after
        ) from error
    except requests.RequestException as error:
        raise SegmentError(f"Segment unreachable: {error}", retryable=True) from error
    except (AssertionError, RuntimeError) as error:
        # The client's own checks (no id, message over 32 KB): the same data fails again.
        message = f"Segment client refused the message: {error}"
        raise SegmentError(message, retryable=False) from error
