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


# --- Roll-ups: the dashboard's counts per day, kept by npsloop.insights.rollups --------

SCORES = range(11)


def _score_columns(prefix: str) -> dict[str, models.Field]:
    return {f"{prefix}{s}": models.PositiveIntegerField(default=0) for s in SCORES}


class RollupState(models.Model):
    """How far an organization's roll-ups are: the days were cut in `zone`; every response
    and contact changed before `watermark` is counted; the days dirty_from..dirty_to
    (deletions) wait for the next refresh. built_at None: no usable roll-up yet."""

    organization = models.OneToOneField(
        "accounts.Organization", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    zone = models.CharField(max_length=64, blank=True)
    keys = models.JSONField(default=list, help_text="Contact property keys rolled up.")
    watermark = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    dirty_from = models.DateField(null=True, blank=True)
    dirty_to = models.DateField(null=True, blank=True)
    built_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"roll-ups of {self.organization_id} up to {self.watermark}"


class DailyBase(models.Model):
    """Responses of one day (in the organization's zone), survey and language: n<s> per
    score s, c<s> of them with a comment."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    survey = models.ForeignKey("surveys.Survey", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    language = models.CharField(max_length=8, blank=True)
    # n0..n10 and c0..c10: one row per day and group, not one per score (11x fewer rows).
    locals().update(_score_columns("n"))
    locals().update(_score_columns("c"))

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.day} survey {self.survey_id} {self.language}"


class DailyScore(DailyBase):
    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "day", "survey", "language"], name="daily_score_once"
            )
        ]


class DailyProperty(DailyBase):
    """As DailyScore, per value of one contact property (key "" = the contact's gender),
    as the breakdown reads it at the time of the refresh. With month=True a row sums the
    days of the month starting at `day`: a long range reads whole months (a property has
    up to 50 values, so day rows are many)."""

    key = models.CharField(max_length=100, blank=True)
    value = models.TextField(blank=True)
    month = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key", "month", "day", "survey", "language", "value"],
                name="daily_property_once_per_span",
            )
        ]
