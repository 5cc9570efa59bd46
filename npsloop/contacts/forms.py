from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from npsloop.contacts.models import Contact

MAX_CSV_BYTES = 5 * 1024 * 1024


class ContactForm(forms.Form):
    email = forms.EmailField(label=_("Email"))
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    gender = forms.ChoiceField(label=_("Gender"), choices=Contact.Gender.choices, required=False)
    language = forms.ChoiceField(
        label=_("Language"),
        choices=[("", _("Unknown")), ("en", _("English")), ("de", _("German"))],
        required=False,
    )
    signed_up_at = forms.DateTimeField(
        label=_("Customer since"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


class CsvUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "UTF-8, first line with column names: email (required), first_name, last_name, "
            "gender, language, created_at; any other column is kept as a property."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_CSV_BYTES:
            raise forms.ValidationError(_("The file is larger than 5 MB; split it."))
        return upload
