"""Webhooks signed per the Standard Webhooks spec (webhook-id/-timestamp/-signature).

The body is the stored event; the id is the delivery's event id, the same on every
retry and re-send, so a receiver can drop a duplicate. Signed with the official
`standardwebhooks` library and the endpoint's whsec_ secret.
"""

from __future__ import annotations

import json

from django.utils import timezone
from standardwebhooks import Webhook

from npsloop.notifications.channels.base import Outcome, post
from npsloop.notifications.models import Channel, Delivery


def body_of(delivery: Delivery) -> str:
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False)


def signed_headers(secret: str, msg_id: str, body: str) -> dict[str, str]:
    now = timezone.now()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body),
        "Content-Type": "application/json",
    }


def send(channel: Channel, delivery: Delivery) -> Outcome:
    body = body_of(delivery)
    answer = post(
        channel.url,
        data=body.encode(),
        headers=signed_headers(channel.secret, delivery.event_id, body),
        retry_client_errors=True,
    )
    return Outcome(status=answer.status_code)
