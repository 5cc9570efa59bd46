"""Email to members and addresses: one message per event and language (members in the
language they chose, everyone else in the channel's)."""

from __future__ import annotations

from npsloop.mail.errors import MailError
from npsloop.mail.models import OutboundEmail
from npsloop.mail.services import deliver
from npsloop.notifications.channels.base import ChannelError, Outcome
from npsloop.notifications.models import Channel, Delivery

_DONE = (OutboundEmail.Status.SENT, OutboundEmail.Status.OUTBOX)


def send(channel: Channel, delivery: Delivery) -> Outcome:
    from npsloop.notifications.emails import notification_emails

    messages = notification_emails(channel, delivery.payload)
    if not messages:
        raise ChannelError("The channel has no recipients.", retryable=False)
    for language, message in messages:
        ref = f"delivery:{delivery.pk}:{language}"
        # A retry after one language's message failed does not send the others again
        # (the first try has nothing to look up).
        retry = delivery.attempts > 1
        if retry and OutboundEmail.objects.filter(ref=ref, status__in=_DONE).exists():
            continue
        try:
            deliver(message, kind="notification", organization=channel.organization, ref=ref)
        except MailError as error:
            raise ChannelError(str(error), retryable=not error.permanent) from error
    return Outcome()
