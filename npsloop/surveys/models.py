from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from npsloop.accounts.models import Organization

LANGUAGE_CHOICES = [("en", _("English")), ("de", _("German"))]


class Survey(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        ARCHIVED = "archived", _("Archived")

    class Salutation(models.TextChoices):
        INFORMAL = "informal", _("Informal (Hi Anna)")
        FORMAL = "formal", _("Formal (Dear Ms Schmidt)")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="surveys")
    name = models.CharField(_("name"), max_length=200)
    company_name = models.CharField(
        _("company name"), max_length=200, help_text=_("Replaces {company} in the texts.")
    )
    sender_name = models.CharField(_("sender name"), max_length=200)
    reply_to = models.EmailField(_("reply-to address"), blank=True)
    default_language = models.CharField(
        _("default language"), max_length=8, choices=LANGUAGE_CHOICES, default="en"
    )
    salutation = models.CharField(
        _("salutation"), max_length=16, choices=Salutation.choices, default=Salutation.INFORMAL
    )
    thank_you_url = models.URLField(
        _("redirect after the comment"),
        blank=True,
        help_text=_("Leave empty to show the thank-you text."),
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)

    # Send rules, see DESIGN.md "Send rules".
    min_delay_days = models.PositiveIntegerField(
        _("minimum delay (days)"), default=0, validators=[MaxValueValidator(3650)]
    )
    max_delay_days = models.PositiveIntegerField(
        _("maximum delay (days)"),
        default=0,
        validators=[MaxValueValidator(3650)],
        help_text=_("0 = survey on every identify call, with no age limit."),
    )
    min_interval_weeks = models.PositiveIntegerField(
        _("minimum interval (weeks)"),
        default=26,
        validators=[MinValueValidator(0), MaxValueValidator(520)],
    )

    # Segment: the survey's API key (digest only) and the optional back-sync.
    api_key_prefix = models.CharField(max_length=16, unique=True)
    api_key_digest = models.CharField(max_length=64)
    segment_enabled = models.BooleanField(
        _("survey contacts from Segment automatically"),
        default=False,
        help_text=_("When off, identify calls update contacts but schedule no survey."),
    )
    webhook_secret = models.CharField(
        _("shared secret"),
        max_length=200,
        blank=True,
        help_text=_("Optional: Segment signs each webhook with it (X-Signature)."),
    )
    segment_write_key = models.CharField(_("Segment write key"), max_length=200, blank=True)
    trait_prefix = models.CharField(
        _("trait prefix"),
        max_length=40,
        default="NPS_",
        validators=[
            RegexValidator(
                r"\A[A-Za-z0-9_]+\Z", _("Use letters, digits and underscores, e.g. NPS_.")
            )
        ],
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_sending(self) -> bool:
        return self.status == self.Status.ACTIVE


class SurveyText(models.Model):
    """The survey's words in one language."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="texts")
    language = models.CharField(max_length=8, choices=LANGUAGE_CHOICES)
    email_subject = models.CharField(_("email subject"), max_length=200)
    intro = models.TextField(_("email introduction"), blank=True)
    question = models.CharField(_("question"), max_length=300)
    follow_up_question = models.CharField(_("follow-up question"), max_length=300)
    thank_you_text = models.TextField(_("thank-you text"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["survey", "language"], name="surveytext_unique")
        ]

    def __str__(self) -> str:
        return f"{self.survey} [{self.language}]"
