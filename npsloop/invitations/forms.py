from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from npsloop.accounts.models import Organization
from npsloop.contacts.forms import CsvUploadForm
from npsloop.surveys.models import Survey


def _active_surveys(organization: Organization):
    return Survey.objects.filter(organization=organization).exclude(status=Survey.Status.ARCHIVED)


class InviteForm(forms.Form):
    survey = forms.ModelChoiceField(label=_("Survey"), queryset=Survey.objects.none())
    send_at = forms.DateTimeField(
        label=_("Send at"),
        required=False,
        help_text=_("Leave empty to send now."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args, organization: Organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["survey"].queryset = _active_surveys(organization)

    def clean_send_at(self):
        value = self.cleaned_data.get("send_at")
        if value and value < timezone.now() - timezone.timedelta(minutes=5):
            raise forms.ValidationError(_("This time is in the past; leave it empty to send now."))
        return value


class CsvImportForm(CsvUploadForm):
    survey = forms.ModelChoiceField(
        label=_("Invite the imported contacts to"),
        queryset=Survey.objects.none(),
        required=False,
        empty_label=_("Nobody: only import"),
    )

    def __init__(self, *args, organization: Organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["survey"].queryset = _active_surveys(organization)
