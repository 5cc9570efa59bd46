"""Bearer tokens (ApiToken), their scope, and the per-token rate limit."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja.security import HttpBearer

from npsloop.accounts.models import ApiToken
from npsloop.accounts.selectors import token_for
from npsloop.api.errors import Forbidden, RateLimited

LAST_USED_EVERY = dt.timedelta(minutes=1)
DEFAULT_RATE_LIMIT = 600  # requests per window and token
DEFAULT_RATE_WINDOW = 60  # seconds


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int
    reset_in: int  # seconds until the window starts again


def touch(token: ApiToken, now: dt.datetime | None = None) -> None:
    """Record the use, writing at most once a minute per token."""
    now = now or timezone.now()
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_EVERY)
    ).update(last_used_at=now)


def take(token: ApiToken, now: float | None = None) -> Quota:
    """Count one request in the token's fixed window; raises RateLimited past the limit."""
    limit = int(getattr(settings, "NPSLOOP_API_RATE_LIMIT", DEFAULT_RATE_LIMIT))
    window = int(getattr(settings, "NPSLOOP_API_RATE_WINDOW", DEFAULT_RATE_WINDOW))
    cache = caches[getattr(settings, "NPSLOOP_API_CACHE", "default")]
    now = time.time() if now is None else now
    start = int(now // window) * window
    reset_in = max(1, int(start + window - now + 0.999))
    key = f"npsloop:api-rate:{token.prefix}:{start}"
    cache.add(key, 0, timeout=window + 5)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window + 5)
        used = 1
    quota = Quota(limit=limit, remaining=max(0, limit - used), reset_in=reset_in)
    if used > limit:
        raise RateLimited(
            _("Too many requests; try again in %(seconds)d seconds.") % {"seconds": reset_in},
            details={"limit": limit, "window_seconds": window},
            headers={
                "Retry-After": str(reset_in),
                **rate_headers(quota),
            },
        )
    return quota


def rate_headers(quota: Quota) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(quota.limit),
        "X-RateLimit-Remaining": str(quota.remaining),
        "X-RateLimit-Reset": str(quota.reset_in),
    }


class TokenAuth(HttpBearer):
    """`Authorization: Bearer npl_tok_…`: a live ApiToken; revoked or unknown → 401."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        api_token = token_for(token)
        if api_token is None:
            return None
        touch(api_token)
        request.api_token = api_token
        request.organization = api_token.organization
        # Headers are added to the answer by api.with_rate_headers, 429 included.
        request.api_quota = take(api_token)
        return api_token


def require_write(request: HttpRequest) -> None:
    """A read-only token may not change anything."""
    if request.auth.scope != ApiToken.Scope.WRITE:
        raise Forbidden(_("This token is read-only; use a read-write token to make changes."))
