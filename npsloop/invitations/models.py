from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from npsloop.accounts.models import Organization
from npsloop.contacts.models import Contact
from npsloop.surveys.models import Survey


class Invitation(models.Model):
    """One survey email to one contact; the row is the source of truth for the job."""

    class State(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        BOUNCED = "bounced", _("Bounced")
        RESPONDED = "responded", _("Responded")
        CANCELLED = "cancelled", _("Cancelled")

    class Source(models.TextChoices):
        MANUAL = "manual", _("Dashboard")
        CSV = "csv", _("CSV upload")
        SEGMENT = "segment", _("Segment")
        API = "api", _("API")
        DEMO = "demo", _("Demo data")

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="invitations")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="invitations")
    # Random 144-bit key; rating and unsubscribe links carry it, signed.
    key = models.CharField(max_length=32, unique=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.SCHEDULED)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    language = models.CharField(max_length=8, blank=True)
    send_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["state", "send_at"]),
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["contact", "survey"]),
        ]

    def __str__(self) -> str:
        return f"{self.survey} → {self.contact} ({self.state})"


class InvitationEvent(models.Model):
    """The invitation's history, shown on the contact page."""

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=32)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.at:%Y-%m-%d %H:%M}"
