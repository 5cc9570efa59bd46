from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from npsloop.accounts import throttle
from npsloop.accounts.models import ApiToken


class ThrottledLoginMixin:
    """Refuses a user name + client that failed too often, before checking the password.

    The refusal reads the same whether the user exists or not, and whether the
    password was right; `throttled_for` tells the view how long it lasts.
    """

    throttled_for = 0

    def clean(self):
        username = self.data.get("username", "") if self.is_bound else ""
        if seconds := throttle.login_locked_for(str(username), self.request):
            self._refuse(seconds)
        try:
            return super().clean()
        except forms.ValidationError:
            # This failure may have been the one too many: say so now.
            if seconds := throttle.login_locked_for(str(username), self.request):
                self._refuse(seconds)
            raise

    def _refuse(self, seconds: int):
        self.throttled_for = seconds
        raise forms.ValidationError(throttle.too_many_attempts(seconds), code="throttled")


class MemberSettingsForm(forms.Form):
    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        choices=[("", _("As my browser (pages); English (emails)"))],
        help_text=_("For these pages and for every email npsloop sends you."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["language"].choices += list(settings.LANGUAGES)


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass


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
