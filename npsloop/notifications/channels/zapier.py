"""Zapier REST hooks: the event's data posted as plain JSON to the subscribed URL.

Zapier's REST hook protocol: a 410 answer means the Zap was turned off, so the
subscription is ended (the channel is disabled without an email).
"""

from __future__ import annotations

from typing import Any

from npsloop.notifications.channels.base import Outcome, post
from npsloop.notifications.models import Channel, Delivery


def flatten(event: dict[str, Any]) -> dict[str, Any]:
    """One flat-ish object per response, as Zapier's trigger samples show it."""
    data = event.get("data", {})
    response = dict(data.get("response") or {})
    return {
        **response,
        "event_id": None,
        "event_type": event.get("type"),
        "person": data.get("person"),
        "survey": data.get("survey"),
    }


def send(channel: Channel, delivery: Delivery) -> Outcome:
    item = {**flatten(delivery.payload), "event_id": delivery.event_id}
    answer = post(channel.url, json=item)
    return Outcome(status=answer.status_code)
