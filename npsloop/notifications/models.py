"""Notification rules, their destinations (channels) and every delivery made."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from npsloop.accounts.models import Organization
from npsloop.responses.models import Response, SavedFilter


class Channel(models.Model):
    """Where notifications go: email recipients, a webhook, Slack or a vendor's API.

    `config` holds what may be shown again (recipients, subdomain, tags); `secret`
    (signing secret, API token, OAuth client secret) is write-only: never shown after
    creation, never logged.
    """

    class Kind(models.TextChoices):
        EMAIL = "email", _("Email")
        WEBHOOK = "webhook", _("Webhook")
        SLACK = "slack", _("Slack")
        ZENDESK = "zendesk", _("Zendesk")
        FRESHDESK = "freshdesk", _("Freshdesk")
        SALESFORCE = "salesforce", _("Salesforce")
        EMARSYS = "emarsys", _("Emarsys")
        ZAPIER = "zapier", _("Zapier")

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="notification_channels"
    )
    kind = models.CharField(_("type"), max_length=16, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("URL"), max_length=2000, blank=True)
    config = models.JSONField(default=dict, blank=True)
    secret = models.TextField(blank=True)
    # Zapier REST hooks: the event a subscription is for (new_response, new_comment).
    event = models.CharField(max_length=32, blank=True)
    active = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]
        indexes = [models.Index(fields=["organization", "kind", "active"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name}"


class Rule(models.Model):
    """A saved filter + when + channels: "detractors with a comment, at once, to Slack"."""

    class Trigger(models.TextChoices):
        RESPONSE = "response", _("On each new response")
        COMMENT = "comment", _("On each new comment")
        UPDATED = "updated", _("On each change (comment, tags, status)")
        UNSUBSCRIBED = "unsubscribed", _("When a person unsubscribes")
        HOURLY = "hourly", _("Hourly digest")
        DAILY = "daily", _("Daily digest")
        WEEKLY = "weekly", _("Weekly digest")

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="notification_rules"
    )
    name = models.CharField(_("name"), max_length=100)
    # No filter: every response of the organization.
    saved_filter = models.ForeignKey(
        SavedFilter,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rules",
        verbose_name=_("saved filter"),
    )
    trigger = models.CharField(_("when"), max_length=16, choices=Trigger.choices)
    channels = models.ManyToManyField(Channel, related_name="rules", verbose_name=_("channels"))
    active = models.BooleanField(_("active"), default=True)
    # Digests: the end of the last period sent (the next one starts there).
    digest_until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]
        indexes = [models.Index(fields=["organization", "trigger", "active"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_digest(self) -> bool:
        return self.trigger in (self.Trigger.HOURLY, self.Trigger.DAILY, self.Trigger.WEEKLY)


class Delivery(models.Model):
    """One event for one channel: stored before the first try, claimed once, retried.

    (channel, event_id) is unique, so a trigger that fires twice sends once, and the
    event id (the webhook-id header) stays the same across retries and re-sends.
    """

    class State(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="notification_deliveries"
    )
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    rule = models.ForeignKey(
        Rule, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    response = models.ForeignKey(
        Response, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    event_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=32)
    payload = models.JSONField(default=dict)
    is_test = models.BooleanField(default=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.SCHEDULED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # What the receiver made of it: a ticket or case URL, kept on the response too.
    external_url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "event_id"], name="delivery_once")
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"]),
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["channel", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → {self.channel_id} ({self.state})"


class Attempt(models.Model):
    """One try of a delivery: the delivery log shows these."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(auto_now_add=True)
    status = models.PositiveIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"attempt of delivery {self.delivery_id}: {self.status or self.error[:40]}"
