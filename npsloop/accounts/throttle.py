"""Slowing down password guessing and password-reset spam.

Sign-in: every failed attempt (Django's `user_login_failed`, sent for unknown
users too) counts for its user name and client address; after
LOGIN_MAX_FAILURES within LOGIN_LOCKOUT_MINUTES that pair is refused for
LOGIN_LOCKOUT_MINUTES, whatever the password, with the same message whether the
user exists or not. A successful sign-in resets the pair.

Password reset: PASSWORD_RESET_RATE_LIMIT requests per client address, and at
most a few emails per address an hour (silently, so as not to tell which exist).
"""

from __future__ import annotations

import math

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.translation import ngettext

from npsloop.web import ratelimit

LOGIN_SCOPE = "login-failed"
RESET_SCOPE = "password-reset"
RESET_EMAIL_SCOPE = "password-reset-email"
DEFAULT_MAX_FAILURES = 5
DEFAULT_LOCKOUT_MINUTES = 15
DEFAULT_RESET_RATE = "5/hour"
RESET_EMAIL_RATE = ratelimit.Rate(3, 3600)  # reset emails per address and hour


def too_many_attempts(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many attempts, try again in %(minutes)d minute.",
        "Too many attempts, try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def _max_failures() -> int:
    return int(getattr(settings, "NPSLOOP_LOGIN_MAX_FAILURES", DEFAULT_MAX_FAILURES))


def _lockout_seconds() -> int:
    return 60 * int(getattr(settings, "NPSLOOP_LOGIN_LOCKOUT_MINUTES", DEFAULT_LOCKOUT_MINUTES))


def _login_ident(username: str, request: HttpRequest) -> str:
    return f"{(username or '').strip().lower()}\n{ratelimit.client_key(request)}"


def login_locked_for(username: str, request: HttpRequest | None) -> int:
    """Seconds this user name may not sign in from this client; 0 when it may."""
    if request is None or _max_failures() <= 0:
        return 0
    return ratelimit.locked_for(LOGIN_SCOPE, _login_ident(username, request))


@receiver(user_login_failed, dispatch_uid="npsloop.accounts.throttle.failed")
def _count_failure(sender, credentials: dict, request: HttpRequest | None = None, **kwargs):
    limit = _max_failures()
    if request is None or limit <= 0:  # no client to hold to account (e.g. a script)
        return
    ident = _login_ident(str(credentials.get("username", "")), request)
    seconds = _lockout_seconds()
    if ratelimit.count_since_first(LOGIN_SCOPE, ident, seconds) >= limit:
        ratelimit.lock(LOGIN_SCOPE, ident, seconds)


@receiver(user_logged_in, dispatch_uid="npsloop.accounts.throttle.logged_in")
def _reset_failures(sender, request: HttpRequest | None = None, user=None, **kwargs):
    if request is None or user is None:
        return
    ident = _login_ident(user.get_username(), request)
    ratelimit.reset(LOGIN_SCOPE, ident, _lockout_seconds())


def reset_request(request: HttpRequest) -> ratelimit.Verdict:
    """Count one password reset request from this client."""
    rate = ratelimit.rate_setting("NPSLOOP_PASSWORD_RESET_RATE_LIMIT", DEFAULT_RESET_RATE)
    return ratelimit.hit(RESET_SCOPE, ratelimit.client_key(request), rate)


def reset_email_allowed(email: str) -> bool:
    """Whether another reset email may go to this address now."""
    return ratelimit.hit(RESET_EMAIL_SCOPE, email.strip().lower(), RESET_EMAIL_RATE).allowed
