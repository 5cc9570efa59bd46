"""Reads of the notifications app; every one scoped to an organization."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from npsloop.accounts.models import Organization
from npsloop.notifications.models import Attempt, Channel, Delivery, Rule

LOG_SIZE = 100


def channels_of(organization: Organization) -> QuerySet[Channel]:
    return Channel.objects.filter(organization=organization).select_related("created_by")


def channel_of(organization: Organization, pk: int) -> Channel:
    return get_object_or_404(channels_of(organization), pk=pk)


def rules_of(organization: Organization) -> QuerySet[Rule]:
    return (
        Rule.objects.filter(organization=organization)
        .select_related("saved_filter", "created_by")
        .prefetch_related("channels")
    )


def rule_of(organization: Organization, pk: int) -> Rule:
    return get_object_or_404(rules_of(organization), pk=pk)


def delivery_log(channel: Channel, *, limit: int = LOG_SIZE) -> list[Delivery]:
    """The channel's latest deliveries, each with its attempts (newest first)."""
    return list(
        Delivery.objects.filter(channel=channel)
        .select_related("rule")
        .prefetch_related(Prefetch("attempt_log", queryset=Attempt.objects.order_by("-at", "-pk")))
        .order_by("-created_at", "-pk")[:limit]
    )


def delivery_of(organization: Organization, pk: int) -> Delivery:
    return get_object_or_404(Delivery.objects.filter(organization=organization), pk=pk)


def ticket_channels_of(organization: Organization) -> QuerySet[Channel]:
    """Channels that can make a ticket or case from one response (the inbox button)."""
    return channels_of(organization).filter(
        active=True, kind__in=["zendesk", "freshdesk", "salesforce", "emarsys"]
    )
