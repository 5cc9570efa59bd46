"""The survey's Segment settings: automation, send delays, back-sync, webhook secret."""

from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from npsloop.surveys.forms import check_delays
from npsloop.surveys.models import Survey

trait_prefix_validator = RegexValidator(
    r"\A[A-Za-z0-9_]+\Z",
    _("Use only letters, digits and underscores (for example NPS_ or callexa_)."),
    code="invalid_prefix",
)


class SegmentSettingsForm(forms.ModelForm):
    trait_prefix = forms.CharField(
        label=_("trait prefix"),
        max_length=40,
        validators=[trait_prefix_validator],
        help_text=_(
            "Ratings are written back as <prefix>rating, <prefix>comment and "
            "<prefix>date. Letters, digits and underscores, at most 40."
        ),
    )

    class Meta:
        model = Survey
        fields = [
            "segment_enabled",
            "min_delay_days",
            "max_delay_days",
            "min_interval_weeks",
            "segment_write_key",
            "trait_prefix",
            "webhook_secret",
        ]
        help_texts = {
            "min_delay_days": _(
                "Days after the customer's creation (createdAt) before the survey is "
                "sent; 0 sends at once."
            ),
            "max_delay_days": _(
                "Customers created longer ago are not surveyed; 0 surveys on every "
                "identify call, with no age limit."
            ),
            "min_interval_weeks": _(
                "Identify calls for a customer surveyed within this many weeks are ignored; "
                "0 for no interval."
            ),
            "segment_write_key": _(
                "Optional: the write key of a Segment source. Each new or changed rating "
                "is then written back to the customer's profile."
            ),
        }
        widgets = {
            "segment_write_key": forms.TextInput(attrs={"autocomplete": "off"}),
            "webhook_secret": forms.TextInput(attrs={"autocomplete": "off"}),
        }

    def clean(self):
        return check_delays(self, super().clean())
