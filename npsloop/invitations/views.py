from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from npsloop.invitations.links import LinkInvalid, read_unsubscribe_token
from npsloop.invitations.selectors import invitation_by_key
from npsloop.invitations.services import unsubscribe as unsubscribe_contact
from npsloop.web.public import link_problem, public_headers
from npsloop.web.public_limits import refuse_guessing


# The signed token is the credential; RFC 8058 one-click POSTs carry no CSRF token.
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        key = read_unsubscribe_token(token)
    except LinkInvalid:
        key = None
    invitation = invitation_by_key(key) if key else None
    if invitation is None:
        if refused := refuse_guessing(request):
            return refused
        return link_problem(
            request,
            title=_("This link is not valid"),
            text=_("Please use the link exactly as it arrived in your email."),
            status=404,
        )
    with translation.override(invitation.language or None):
        done = False
        if request.method == "POST":
            unsubscribe_contact(invitation=invitation)
            done = True
        response = render(
            request,
            "invitations/unsubscribe.html",
            {
                "done": done or invitation.contact.unsubscribed_at is not None,
                "company": invitation.survey.company_name,
                "email": invitation.contact.email,
            },
        )
    return public_headers(response)
