from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from npsloop.accounts.models import Organization


class OutboundEmail(models.Model):
    """Every message npsloop sends (or keeps in the outbox) is a row."""

    class Status(models.TextChoices):
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        OUTBOX = "outbox", _("Kept in the outbox")
        FAILED = "failed", _("Failed")

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="emails"
    )
    kind = models.CharField(max_length=32)
    ref = models.CharField(max_length=64, blank=True, help_text="e.g. invitation:42")
    to = models.TextField()
    from_email = models.CharField(max_length=320)
    subject = models.CharField(max_length=998)
    message_id = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SENDING)
    error = models.TextField(blank=True)
    raw = models.TextField(help_text="The full MIME message as sent.")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"]),
            # A retried notification looks up what it already sent by ref.
            models.Index(fields=["ref"], name="mail_outbound_ref"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {self.to}"
