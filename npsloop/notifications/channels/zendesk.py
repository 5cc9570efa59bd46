"""Zendesk Support: one ticket per response, requested by the customer who answered.

Tickets API (developer.zendesk.com/api-reference/ticketing/tickets/tickets/):
POST {url}/api/v2/tickets.json with {"ticket": {...}}, API token authentication
("{agent email}/token" : token, HTTP Basic), 201 with the ticket. The delivery's
event id is sent as Idempotency-Key, so a retry after a lost answer does not open a
second ticket (Zendesk keeps keys for a limited time).

The feedback is a private comment (an internal note): the customer is not emailed
about a ticket they did not open; agents reply from the ticket when they follow up.
"""

from __future__ import annotations

from npsloop.notifications.channels._feedback import Feedback, base_url
from npsloop.notifications.channels.base import ChannelError, Outcome, post
from npsloop.notifications.models import Channel, Delivery


def ticket(channel: Channel, feedback: Feedback) -> dict:
    email = feedback.require_email()
    body: dict = {
        "subject": feedback.subject(),
        "comment": {"body": feedback.text(), "public": False},
        "requester": {"name": feedback.name or email, "email": email},
        "tags": feedback.tags((channel.config or {}).get("tags")),
    }
    if feedback.response.get("id"):
        body["external_id"] = f"npsloop-response-{feedback.response['id']}"
    return {"ticket": body}


def send(channel: Channel, delivery: Delivery) -> Outcome:
    feedback = Feedback.of(delivery.payload)
    agent = str((channel.config or {}).get("email") or "").strip()
    if not agent or not channel.secret:
        raise ChannelError("Set the agent email and the API token.", retryable=False)
    url = base_url(channel.url)
    answer = post(
        f"{url}/api/v2/tickets.json",
        json=ticket(channel, feedback),
        headers={"Accept": "application/json", "Idempotency-Key": delivery.event_id},
        auth=(f"{agent}/token", channel.secret),
    )
    try:
        ticket_id = answer.json()["ticket"]["id"]
    except (ValueError, KeyError, TypeError):
        # Created (2xx) but unreadable: no link, and no retry that would open another.
        return Outcome(status=answer.status_code)
    return Outcome(status=answer.status_code, external_url=f"{url}/agent/tickets/{ticket_id}")
