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


class Decision(models.Model):
    """What the send rules decided for one identify call (or API request), and why."""

    class Outcome(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        SKIPPED = "skipped", _("Skipped")

    class Reason(models.TextChoices):
        SCHEDULED = "scheduled", _("Survey scheduled")
        NO_EMAIL = "no_email", _("No email address")
        INVALID_EMAIL = "invalid_email", _("Invalid email address")
        TOO_OLD = "too_old", _("Created longer ago than the maximum delay")
        WITHIN_INTERVAL = "within_interval", _("Surveyed within the minimum interval")
        ALREADY_SCHEDULED = "already_scheduled", _("A survey is already scheduled")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        BOUNCED = "bounced", _("Emails bounced")
        SURVEY_PAUSED = "survey_paused", _("Survey paused")
        SURVEY_ARCHIVED = "survey_archived", _("Survey archived")
        AUTOMATION_OFF = "automation_off", _("Segment automation is off")

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="decisions"
    )
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="decisions")
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, null=True, blank=True, related_name="decisions"
    )
    invitation = models.ForeignKey(
        Invitation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.CharField(max_length=32, choices=Reason.choices)
    detail = models.CharField(max_length=300, blank=True)
    source = models.CharField(max_length=16, choices=Invitation.Source.choices)
    # The Segment messageId (or the API request) that led to this decision.
    event_ref = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["survey", "-created_at"]),
            models.Index(fields=["contact", "-created_at"]),
            models.Index(fields=["survey", "event_ref"]),
        ]

    def __str__(self) -> str:
        return f"{self.outcome}: {self.reason}"
