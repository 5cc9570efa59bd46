"""Share links: members make and revoke them; anyone with the URL reads the snapshot."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from npsloop.accounts.decorators import member_required
from npsloop.insights.nps import summarize
from npsloop.responses.filters import parse
from npsloop.responses.models import ShareLink
from npsloop.responses.sharing import (
    DEFAULT_DAYS,
    MAX_DAYS,
    SNAPSHOT_CAP,
    create_share_link,
    revoke_share_link,
    share_for_token,
    share_links_of,
    shared_responses,
    snapshot_query,
    state_of,
)
from npsloop.web.public import link_problem, public_headers

PAGE_SIZE = 200


class ShareLinkForm(forms.Form):
    title = forms.CharField(
        label=gettext_lazy("Title"),
        max_length=200,
        help_text=gettext_lazy("Recipients see it above the responses."),
    )
    show_identity = forms.BooleanField(
        label=gettext_lazy("Show names and email addresses"),
        required=False,
        initial=False,
        help_text=gettext_lazy("Off: recipients see scores and comments only."),
    )
    days = forms.IntegerField(
        label=gettext_lazy("Expires after (days)"),
        min_value=1,
        max_value=MAX_DAYS,
        initial=DEFAULT_DAYS,
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["days"].help_text = _("At most %(max)d days.") % {"max": MAX_DAYS}


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    return response


@member_required
@require_http_methods(["GET", "HEAD", "POST"])
def share_create(request: HttpRequest) -> HttpResponse:
    flt = parse(request.GET)
    query = flt.to_query()
    matching = snapshot_query(request.organization, query).count()
    form = ShareLinkForm(
        request.POST or None, initial={"title": _("Shared responses"), "days": DEFAULT_DAYS}
    )
    link = url = None
    if request.method == "POST" and form.is_valid():
        link, url = create_share_link(
            organization=request.organization,
            member=request.user,
            query=query,
            title=form.cleaned_data["title"],
            show_identity=form.cleaned_data["show_identity"],
            days=form.cleaned_data["days"],
        )
    context = {
        "form": form,
        "query": query,
        "filter_errors": flt.errors,
        "matching": matching,
        "cap": SNAPSHOT_CAP,
        "capped": matching > SNAPSHOT_CAP,
        "link": link,
        "url": url,
    }
    # The page with the URL is shown once: no browser or proxy may keep it.
    return _no_store(render(request, "responses/share_create.html", context))


@member_required
def share_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    links = [(link, state_of(link, now)) for link in share_links_of(request.organization)]
    return render(request, "responses/share_list.html", {"links": links, "cap": SNAPSHOT_CAP})


@member_required
@require_POST
def share_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        link = revoke_share_link(organization=request.organization, pk=pk)
    except ShareLink.DoesNotExist as exc:
        raise Http404 from exc
    messages.success(
        request, _("The link “%(title)s” is revoked: it no longer opens.") % {"title": link.title}
    )
    return redirect("share_list")


@require_http_methods(["GET", "HEAD"])
def share_view(request: HttpRequest, token: str) -> HttpResponse:
    link = share_for_token(token)
    if link is None:
        return link_problem(
            request,
            title=_("This link is not valid"),
            text=_("Please use the link exactly as you received it."),
            status=404,
        )
    state = state_of(link)
    if state == "revoked":
        return link_problem(
            request,
            title=_("This link has been revoked"),
            text=_("The person who shared it has withdrawn it. Ask them for a new link."),
            status=410,
        )
    if state == "expired":
        return link_problem(
            request,
            title=_("This link has expired"),
            text=_(
                "For security, share links stop working after their expiry date. "
                "Ask the person who shared it for a new link."
            ),
            status=410,
        )
    rows = shared_responses(link)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "link": link,
        "page": page,
        "shown": len(rows),
        "capped": link.count > len(rows),
        "summary": summarize(row.score for row in rows),
        "zone": link.organization.zone,
    }
    return public_headers(render(request, "responses/share_view.html", context))
