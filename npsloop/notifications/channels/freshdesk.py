"""Freshdesk: one ticket per response, requested by the customer who answered.

API v2 (developers.freshdesk.com/api/#create_ticket): POST {url}/api/v2/tickets with
JSON, HTTP Basic with the API key as user and "X" as password, 201 with the ticket.
`description` is HTML, so every customer-written value in it is escaped.

Status 2 (Open). Priority 2 (Medium) for detractors, 1 (Low) otherwise: detractors
come first in the default views; automations can raise it further.
Freshdesk has no idempotency key: a retry after an answer lost on the way back can
open a second ticket (rare; the delivery log shows each try).
"""

from __future__ import annotations

from npsloop.notifications.channels._feedback import Feedback, base_url
from npsloop.notifications.channels.base import ChannelError, Outcome, post
from npsloop.notifications.models import Channel, Delivery

STATUS_OPEN = 2
PRIORITY_LOW = 1
PRIORITY_MEDIUM = 2
# Freshdesk refuses tags longer than 32 characters.
TAG_LENGTH = 32


def ticket(channel: Channel, feedback: Feedback) -> dict:
    body = {
        "email": feedback.require_email(),
        "subject": feedback.subject(),
        "description": feedback.html(),
        "status": STATUS_OPEN,
        "priority": PRIORITY_MEDIUM if feedback.category == "detractor" else PRIORITY_LOW,
        "tags": feedback.tags((channel.config or {}).get("tags"), max_length=TAG_LENGTH),
    }
    if feedback.name:
        # Only used when Freshdesk creates the contact.
        body["name"] = feedback.name[:255]
    return body


def send(channel: Channel, delivery: Delivery) -> Outcome:
    feedback = Feedback.of(delivery.payload)
    if not channel.secret:
        raise ChannelError("Set the API key.", retryable=False)
    url = base_url(channel.url)
    answer = post(
        f"{url}/api/v2/tickets",
        json=ticket(channel, feedback),
        headers={"Accept": "application/json"},
        auth=(channel.secret, "X"),
    )
    try:
        ticket_id = answer.json()["id"]
    except (ValueError, KeyError, TypeError):
        return Outcome(status=answer.status_code)
    return Outcome(status=answer.status_code, external_url=f"{url}/a/tickets/{ticket_id}")
