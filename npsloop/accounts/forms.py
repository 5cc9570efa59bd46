from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.utils.translation import gettext_lazy as _

from npsloop.accounts.models import ApiToken


class SignupForm(forms.Form):
    organization = forms.CharField(label=_("Company or team"), max_length=200)
    email = forms.EmailField(label=_("Email"))
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, strip=False)

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].lower()
        if get_user_model().objects.filter(username__iexact=email).exists():
            raise forms.ValidationError(_("An account with this email exists; sign in instead."))
        return email

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            user = get_user_model()(
                username=cleaned.get("email", ""), email=cleaned.get("email", "")
            )
            try:
                password_validation.validate_password(password, user)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return cleaned


class ApiTokenForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    scope = forms.ChoiceField(label=_("Scope"), choices=ApiToken.Scope.choices)
