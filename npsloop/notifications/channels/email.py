"""Email to members and addresses: one message per event, in the channel's language."""

from __future__ import annotations

from npsloop.mail.errors import MailError
from npsloop.mail.services import deliver
from npsloop.notifications.channels.base import ChannelError, Outcome
from npsloop.notifications.models import Channel, Delivery


def send(channel: Channel, delivery: Delivery) -> Outcome:
    from npsloop.notifications.emails import notification_email

    message = notification_email(channel, delivery.payload)
    if not message.to:
        raise ChannelError("The channel has no recipients.", retryable=False)
    try:
        deliver(
            message,
            kind="notification",
            organization=channel.organization,
            ref=f"delivery:{delivery.pk}",
        )
    except MailError as error:
        raise ChannelError(str(error), retryable=not error.permanent) from error
    return Outcome()
