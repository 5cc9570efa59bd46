from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_sameorigin

from npsloop.accounts.decorators import member_required
from npsloop.mail.models import OutboundEmail
from npsloop.mail.selectors import body_of, email_of, emails_for
from npsloop.mail.services import outbox_mode


def _email(request: HttpRequest, pk: int) -> OutboundEmail:
    try:
        return email_of(request.organization, pk)
    except OutboundEmail.DoesNotExist:
        raise Http404 from None


@member_required
def outbox(request: HttpRequest) -> HttpResponse:
    page = Paginator(emails_for(request.organization), 50).get_page(request.GET.get("page"))
    return render(request, "mail/outbox.html", {"page": page, "outbox_mode": outbox_mode()})


@member_required
def outbox_detail(request: HttpRequest, pk: int) -> HttpResponse:
    record = _email(request, pk)
    return render(request, "mail/detail.html", {"email": record, "text": body_of(record, "plain")})


@member_required
@xframe_options_sameorigin
def outbox_html(request: HttpRequest, pk: int) -> HttpResponse:
    """The HTML part, shown in a sandboxed frame: no scripts, links open a new tab."""
    html = body_of(_email(request, pk), "html")
    # Links open in a new, unsandboxed tab, so a rating page works as from a mail client.
    html = html.replace("<head>", '<head><base target="_blank">', 1)
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = (
        "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
    )
    return response
