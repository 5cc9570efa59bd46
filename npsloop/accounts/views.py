from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from npsloop.accounts import throttle
from npsloop.accounts.decorators import member_required
from npsloop.accounts.forms import ApiTokenForm, LoginForm, MemberSettingsForm, SignupForm
from npsloop.accounts.selectors import api_tokens_of
from npsloop.accounts.services import (
    create_api_token,
    create_organization,
    revoke_api_token,
    set_member_language,
)


class LoginView(auth_views.LoginView):
    """Django's sign-in with the failed-attempt lockout (npsloop.accounts.throttle)."""

    authentication_form = LoginForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.throttled_for:
            response.status_code = 429
            response["Retry-After"] = str(form.throttled_for)
        return response


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset form, limited per client address and per email address."""

    def form_valid(self, form):
        verdict = throttle.reset_request(self.request)
        if not verdict.allowed:
            form.add_error(None, throttle.too_many_attempts(verdict.retry_after))
            response = self.form_invalid(form)
            response.status_code = 429
            response["Retry-After"] = str(verdict.retry_after)
            return response
        if not throttle.reset_email_allowed(form.cleaned_data["email"]):
            # Enough links went to this address for now; the answer is the same as
            # always, so it tells nobody whether the address has an account.
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)


def signup(request: HttpRequest) -> HttpResponse:
    if not settings.NPSLOOP_SIGNUP:
        raise Http404
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        created = create_organization(
            name=form.cleaned_data["organization"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
        )
        login(request, created.user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome! Create your first survey to start."))
        return redirect("survey_create")
    return render(request, "accounts/signup.html", {"form": form})


def no_organization(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/no_organization.html", status=403)


@member_required
def member_settings(request: HttpRequest) -> HttpResponse:
    """The member's own settings: the language of pages and emails."""
    form = MemberSettingsForm(
        request.POST or None, initial={"language": request.membership.language}
    )
    if request.method == "POST" and form.is_valid():
        language = form.cleaned_data["language"]
        set_member_language(membership=request.membership, language=language)
        with translation.override(language or translation.get_language()):
            messages.success(request, _("Your settings are saved."))
        return redirect("member_settings")
    return render(request, "accounts/member_settings.html", {"form": form})


@member_required
def token_list(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        _token, new_key = create_api_token(
            organization=request.organization,
            user=request.user,
            name=form.cleaned_data["name"],
            scope=form.cleaned_data["scope"],
        )
        form = ApiTokenForm()
    return render(
        request,
        "accounts/tokens.html",
        {"form": form, "tokens": api_tokens_of(request.organization), "new_key": new_key},
    )


@member_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    revoke_api_token(organization=request.organization, token_id=pk)
    messages.success(request, _("The token is revoked."))
    return redirect("token_list")
