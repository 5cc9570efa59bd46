from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from npsloop.accounts.models import Membership
from npsloop.mail.models import OutboundEmail


class DigestDelivery(models.Model):
    """One weekly digest to one member: the row is claimed before the email is sent, and
    its unique key (member, week) makes a job that runs twice send once."""

    class Status(models.TextChoices):
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    membership = models.ForeignKey(
        Membership, on_delete=models.CASCADE, related_name="digest_deliveries"
    )
    week_start = models.DateField(help_text="Monday of the week the digest reports on.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.SENDING)
    email = models.ForeignKey(
        OutboundEmail, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["membership", "week_start"], name="digest_once_per_member_and_week"
            )
        ]

    def __str__(self) -> str:
        return f"digest {self.week_start} → {self.membership}"
