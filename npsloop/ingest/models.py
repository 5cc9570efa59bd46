from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from npsloop.accounts.models import Organization
from npsloop.contacts.models import Contact
from npsloop.surveys.models import Survey


class IngestEvent(models.Model):
    """One Segment event as received; committed before the sender gets its 200.

    Processing (contact upsert, send rules) happens in a job that claims the row.
    """

    class State(models.TextChoices):
        NEW = "new", _("New")
        PROCESSING = "processing", _("Processing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="ingest_events")
    # Segment's messageId, or a digest of the event when it has none; unique per
    # survey, so a retried delivery is stored once.
    message_id = models.CharField(max_length=200)
    type = models.CharField(max_length=16)
    user_id = models.CharField(max_length=200, blank=True)
    anonymous_id = models.CharField(max_length=200, blank=True)
    timestamp = models.DateTimeField()
    received_at = models.DateTimeField()
    payload = models.JSONField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.NEW)
    claimed_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["survey", "message_id"], name="ingest_event_once")
        ]
        indexes = [
            models.Index(fields=["state", "received_at"]),
            models.Index(fields=["survey", "-received_at"]),
            models.Index(fields=["contact", "-timestamp"]),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.message_id}"
