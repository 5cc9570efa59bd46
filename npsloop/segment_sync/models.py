from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from npsloop.accounts.models import Organization
from npsloop.responses.models import Response
from npsloop.surveys.models import Survey


class SegmentSync(models.Model):
    """One pending or finished write-back of a response to Segment.

    The row is the source of truth; the job carries only its id. Traits are read
    from the response when the row is sent, so one row covers every change made
    while it was waiting.
    """

    class State(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="segment_syncs"
    )
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="segment_syncs")
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="segment_syncs")
    state = models.CharField(max_length=16, choices=State.choices, default=State.SCHEDULED)
    # How many response changes this row carries (later ones coalesce into a scheduled row).
    changes = models.PositiveIntegerField(default=1)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # Segment drops a repeated messageId, so a retry after a lost answer is not counted twice.
    message_id = models.CharField(max_length=100, blank=True)
    # The traits of the last attempt (sent, or tried when it failed).
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["state", "next_attempt_at"]),
            models.Index(fields=["response", "state"]),
            models.Index(fields=["organization", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"Segment sync #{self.pk} of response {self.response_id} ({self.state})"
