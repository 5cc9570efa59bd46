"""Reactions to domain events; a receiver only records the work and enqueues it."""

from __future__ import annotations

import logging
from typing import Any

from npsloop.segment_sync import services

log = logging.getLogger(__name__)


def on_response_changed(
    sender: Any, *, response_id: int, changes: list[str] | None = None, **kwargs: Any
) -> None:
    if changes and not {"score", "comment"} & set(changes):
        return  # tags, status, assignee: nothing Segment's traits carry
    try:
        services.schedule_sync(response_id=response_id)
    except Exception:
        # The rating is already committed; the back-sync must never make the
        # customer's survey page fail.
        log.exception("could not schedule the Segment sync of response %s", response_id)
