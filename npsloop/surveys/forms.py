from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from npsloop.surveys.models import Survey, SurveyText
from npsloop.surveys.services import FORM_FIELDS


class SurveyForm(forms.ModelForm):
    thank_you_url = forms.URLField(
        label=_("redirect after the comment"),
        required=False,
        assume_scheme="https",
        help_text=_("Leave empty to show the thank-you text."),
    )

    class Meta:
        model = Survey
        fields = list(FORM_FIELDS)

    def clean(self):
        return check_delays(self, super().clean())


def check_delays(form: forms.Form, cleaned: dict) -> dict:
    """The maximum delay is 0 (no limit) or at least the minimum delay."""
    low, high = cleaned.get("min_delay_days"), cleaned.get("max_delay_days")
    if low is not None and high and high < low:
        form.add_error(
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
