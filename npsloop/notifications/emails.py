"""Emails of the notifications app: the email channel and "your channel was disabled"."""

from __future__ import annotations

from email.utils import formataddr, parseaddr
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from npsloop.accounts.selectors import member_languages
from npsloop.mail.services import deliver
from npsloop.notifications.models import Channel

LANGUAGES = {code for code, _name in settings.LANGUAGES}


def _sender() -> str:
    return formataddr(("npsloop", parseaddr(settings.DEFAULT_FROM_EMAIL)[1]))


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def _language(value: Any) -> str:
    return value if value in LANGUAGES else settings.LANGUAGE_CODE


def recipient_groups(channel: Channel) -> dict[str, list[str]]:
    """The channel's recipients by language: members (of the same organization only) in
    the language they chose, else the channel's; the channel's addresses in the channel's."""
    config = channel.config or {}
    default = _language(config.get("language"))
    groups: dict[str, list[str]] = {}
    seen: set[str] = set()

    def add(language: str, address: str) -> None:
        if address and address.lower() not in seen:
            seen.add(address.lower())
            groups.setdefault(language, []).append(address)

    member_ids = [m for m in config.get("members", []) if isinstance(m, int)]
    if member_ids:
        users = get_user_model().objects.filter(
            pk__in=member_ids, memberships__organization_id=channel.organization_id
        )
        chosen = member_languages(channel.organization_id, member_ids)
        for user in users.order_by("pk"):
            add(chosen.get(user.pk) or default, user.email)
    for address in config.get("recipients", []):
        if isinstance(address, str):
            add(default, address)
    return groups


def recipients_of(channel: Channel) -> list[str]:
    """Everyone the channel emails, whatever their language."""
    return [a for group in recipient_groups(channel).values() for a in group]


def notification_emails(
    channel: Channel, event: dict[str, Any]
) -> list[tuple[str, EmailMultiAlternatives]]:
    """One message per language among the channel's recipients: (language, message)."""
    return [
        (language, notification_email(channel, event, language=language, to=to))
        for language, to in recipient_groups(channel).items()
    ]


def notification_email(
    channel: Channel, event: dict[str, Any], *, language: str | None = None, to=None
) -> EmailMultiAlternatives:
    """The message for `to` (default: every recipient) in `language` (default: the
    channel's)."""
    config = channel.config or {}
    language = _language(language or config.get("language"))
    data = event.get("data", {})
    with translation.override(language):
        context = {"event": event, "data": data, "channel": channel}
        kind = event.get("type")
        if kind == "responses.digest":
            subject = _("%(count)s responses for “%(rule)s”") % {
                "count": data.get("count", 0),
                "rule": data.get("rule", ""),
            }
        elif kind == "person.unsubscribed":
            subject = _("%(email)s unsubscribed") % {
                "email": (data.get("person") or {}).get("email", "")
            }
        else:
            response = data.get("response") or {}
            person = data.get("person") or {}
            subject = _("New feedback: %(score)s from %(who)s") % {
                "score": response.get("score"),
                "who": person.get("name") or person.get("email") or _("anonymous"),
            }
        body = render_to_string("notifications/email.txt", context)
        html = render_to_string("notifications/email.html", context)
    message = EmailMultiAlternatives(
        subject=_one_line(subject),
        body=body,
        from_email=_sender(),
        to=recipients_of(channel) if to is None else to,
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    return message


def send_channel_disabled(*, channel: Channel, reason: str) -> None:
    owner = channel.created_by
    to = [owner.email] if owner is not None and owner.email else []
    if not to:
        from npsloop.notifications.services import organization_owner_emails

        to = organization_owner_emails(channel.organization)
    if not to:
        return
    # The owner's language; the organization's owners together get English.
    language = settings.LANGUAGE_CODE
    if owner is not None and owner.email:
        chosen = member_languages(channel.organization_id, [owner.pk]).get(owner.pk)
        language = _language(chosen or language)
    with translation.override(language):
        context = {
            "channel": channel,
            "reason": reason,
            "url": settings.BASE_URL + reverse("notification_channel", args=[channel.pk]),
        }
        subject = _("npsloop stopped sending to “%(name)s”") % {"name": channel.name}
        body = render_to_string("notifications/disabled_email.txt", context)
    message = EmailMultiAlternatives(
        subject=_one_line(subject),
        body=body,
        from_email=_sender(),
        to=to,
        headers={"Auto-Submitted": "auto-generated"},
    )
    deliver(
        message, kind="notification", organization=channel.organization, ref=f"channel:{channel.pk}"
    )
