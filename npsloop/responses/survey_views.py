"""The pages a customer sees after clicking a score in the survey email.

A GET never records anything: mail security scanners fetch every link of an
email. The score is recorded by a POST: the page's script sends it as soon as
a person sees the page, and the comment form sends it too (the no-JS path).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from npsloop.invitations.links import LinkExpired, LinkInvalid, RatingLink, read_rating_token
from npsloop.invitations.models import Invitation
from npsloop.invitations.selectors import invitation_by_key
from npsloop.responses.selectors import response_for_invitation
from npsloop.responses.services import record_rating
from npsloop.surveys.defaults import fill
from npsloop.surveys.selectors import text_for
from npsloop.web.public import link_problem, public_headers
from npsloop.web.public_limits import json_limit, page_limit


def _resolve(request: HttpRequest, token: str) -> tuple[RatingLink, Invitation] | HttpResponse:
    try:
        link = read_rating_token(token)
    except LinkExpired:
        return link_problem(
            request,
            title=_("This link has expired"),
            text=_("The survey is closed for this email. Thank you for your interest."),
            status=410,
        )
    except LinkInvalid:
        return link_problem(
            request,
            title=_("This link is not valid"),
            text=_("Please use the link exactly as it arrived in your email."),
            status=404,
        )
    invitation = invitation_by_key(link.key)
    if invitation is None:
        return link_problem(
            request,
            title=_("This survey is no longer available"),
            text=_("The survey you were invited to has been removed."),
            status=410,
        )
    return link, invitation


def _score_from(request: HttpRequest, default: int) -> int:
    raw = request.POST.get("score", "")
    try:
        score = int(raw) if raw != "" else default
    except ValueError:
        return default
    return score if 0 <= score <= 10 else default


@require_http_methods(["GET", "HEAD", "POST"])
@page_limit
def rate(request: HttpRequest, token: str) -> HttpResponse:
    resolved = _resolve(request, token)
    if isinstance(resolved, HttpResponse):
        return resolved
    link, invitation = resolved
    survey = invitation.survey
    text = text_for(survey, invitation.language)
    with translation.override(text.language):
        existing = response_for_invitation(invitation.pk)
        error = ""
        comment = existing.comment if existing else ""
        if request.method == "POST":
            comment = request.POST.get("comment", "")
            try:
                record_rating(
                    invitation=invitation, score=_score_from(request, link.score), comment=comment
                )
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                if survey.thank_you_url:
                    return redirect(survey.thank_you_url)
                return redirect("rate_thanks", token=token)
        context = {
            "question": fill(text.question, company=survey.company_name),
            "follow_up": fill(text.follow_up_question, company=survey.company_name),
            "company": survey.company_name,
            "score": _score_from(request, link.score) if request.method == "POST" else link.score,
            "scores": range(11),
            "comment": comment,
            "error": error,
            "record_url": reverse("rate_record", args=[token]),
            "language": text.language,
        }
        response = render(request, "responses/rate.html", context, status=400 if error else 200)
    return public_headers(response)


@require_POST
@json_limit
def rate_record(request: HttpRequest, token: str) -> HttpResponse:
    """Called by the page's script once a person sees the page; records the score."""
    resolved = _resolve(request, token)
    if isinstance(resolved, HttpResponse):
        return JsonResponse({"recorded": False}, status=resolved.status_code)
    link, invitation = resolved
    response = record_rating(invitation=invitation, score=_score_from(request, link.score))
    return public_headers(JsonResponse({"recorded": True, "score": response.score}))


@page_limit
def rate_thanks(request: HttpRequest, token: str) -> HttpResponse:
    resolved = _resolve(request, token)
    if isinstance(resolved, HttpResponse):
        return resolved
    _link, invitation = resolved
    text = text_for(invitation.survey, invitation.language)
    with translation.override(text.language):
        response = render(
            request,
            "responses/thanks.html",
            {
                "text": fill(text.thank_you_text, company=invitation.survey.company_name),
                "language": text.language,
            },
        )
    return public_headers(response)
