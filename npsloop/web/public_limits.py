"""Per-address rate limits of the pages a customer reaches from a survey email.

The rating pages share one budget (RATING_RATE_LIMIT): a person needs about four
requests (page, recorded score, comment, thanks), a mail scanner checking every link of
one email 11 or 22. The unsubscribe page counts only links that are not valid on it.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from npsloop.web.public import link_problem, public_headers
from npsloop.web.ratelimit import Verdict, count_by_ip, limit_by_ip

DEFAULT_RATE_LIMIT = "60/min"


def _wait_text(verdict: Verdict) -> str:
    return ngettext(
        "Too many requests from your network. Please try again in %(seconds)d second.",
        "Too many requests from your network. Please try again in %(seconds)d seconds.",
        verdict.retry_after,
    ) % {"seconds": verdict.retry_after}


def _too_many_page(request: HttpRequest, verdict: Verdict) -> HttpResponse:
    return link_problem(
        request, title=_("Please wait a moment"), text=_wait_text(verdict), status=429
    )


def _too_many_json(request: HttpRequest, verdict: Verdict) -> HttpResponse:
    return public_headers(
        JsonResponse({"recorded": False, "error": _wait_text(verdict)}, status=429)
    )


# A page answers too many requests with a page, the rating page's script with JSON.
page_limit = limit_by_ip("rating", "NPSLOOP_RATING_RATE_LIMIT", DEFAULT_RATE_LIMIT, _too_many_page)
json_limit = limit_by_ip("rating", "NPSLOOP_RATING_RATE_LIMIT", DEFAULT_RATE_LIMIT, _too_many_json)


def refuse_guessing(request: HttpRequest) -> HttpResponse | None:
    """For a request with a link that is not valid: the "please wait" answer once the
    client address has used up the budget, else None (counted). Valid links are not
    counted here: mail providers send RFC 8058 one-click unsubscribes for many users
    from a few addresses, and those must not be refused."""
    return count_by_ip(
        request, "rating", "NPSLOOP_RATING_RATE_LIMIT", DEFAULT_RATE_LIMIT, _too_many_page
    )
