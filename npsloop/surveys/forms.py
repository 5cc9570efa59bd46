from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from npsloop.surveys.models import Survey, SurveyText


class SurveyForm(forms.ModelForm):
    thank_you_url = forms.URLField(
        label=_("redirect after the comment"),
        required=False,
        assume_scheme="https",
        help_text=_("Leave empty to show the thank-you text."),
    )

    class Meta:
        model = Survey
        fields = [
            "name",
            "company_name",
            "sender_name",
            "reply_to",
            "default_language",
            "salutation",
            "thank_you_url",
            "min_delay_days",
            "max_delay_days",
            "min_interval_weeks",
            "segment_write_key",
            "trait_prefix",
        ]

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("min_delay_days"), cleaned.get("max_delay_days")
        if low is not None and high and high < low:
            self.add_error(
                "max_delay_days",
                _("The maximum delay must be 0 (no limit) or at least the minimum delay."),
            )
        return cleaned


class SurveyTextForm(forms.ModelForm):
    class Meta:
        model = SurveyText
        fields = ["email_subject", "intro", "question", "follow_up_question", "thank_you_text"]
        widgets = {
            "intro": forms.Textarea(attrs={"rows": 3}),
            "thank_you_text": forms.Textarea(attrs={"rows": 2}),
        }
