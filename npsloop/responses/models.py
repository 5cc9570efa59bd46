from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from npsloop.accounts.models import Organization
from npsloop.contacts.models import Contact
from npsloop.invitations.models import Invitation
from npsloop.surveys.models import Survey


class Response(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="responses"
    )
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="responses")
    invitation = models.OneToOneField(
        Invitation, on_delete=models.SET_NULL, null=True, blank=True, related_name="response"
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="responses"
    )
    score = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(0), MaxValueValidator(10)]
    )
    comment = models.TextField(blank=True)
    language = models.CharField(max_length=8, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)
    commented_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__gte=0, score__lte=10), name="response_score_0_10"
            )
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["survey", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.score} ({self.survey})"

    @property
    def category(self) -> str:
        from npsloop.insights.nps import category

        return category(self.score)
