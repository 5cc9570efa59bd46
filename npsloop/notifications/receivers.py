"""Reactions to domain events; a receiver only enqueues the fan-out job."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def on_response_changed(
    sender: Any,
    *,
    response_id: int,
    created: bool = False,
    comment_added: bool = False,
    changes: list[str] | None = None,
    **kwargs: Any,
) -> None:
    from npsloop.notifications import tasks

    try:
        tasks.fan_out_response_task(response_id, created, comment_added, list(changes or []))
    except Exception:
        # The change is committed; a queue outage must not fail the customer's page.
        log.exception("could not enqueue notifications for response %s", response_id)


def on_contact_unsubscribed(sender: Any, *, contact_id: int, **kwargs: Any) -> None:
    from npsloop.notifications import tasks

    try:
        tasks.fan_out_unsubscribed_task(contact_id)
    except Exception:
        log.exception("could not enqueue notifications for contact %s", contact_id)
