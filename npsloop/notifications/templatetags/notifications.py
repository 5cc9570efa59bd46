"""The inbox's "create ticket" buttons, without the inbox importing this app."""

from __future__ import annotations

from django import template

from npsloop.notifications.models import Channel

register = template.Library()


@register.inclusion_tag("notifications/ticket_buttons.html")
def ticket_buttons(response) -> dict:
    channels = Channel.objects.filter(
        organization_id=response.organization_id,
        active=True,
        kind__in=["zendesk", "freshdesk", "salesforce", "emarsys"],
    ).order_by("name")
    return {"response": response, "channels": list(channels)}
