"""The feedback inbox: filter, page, work one response or many."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from npsloop.accounts.decorators import member_required
from npsloop.accounts.selectors import members_of
from npsloop.responses import workflow
from npsloop.responses.filters import compile_filter, parse
from npsloop.responses.models import Response
from npsloop.responses.pagination import BadCursor
from npsloop.responses.selectors import inbox_page, response_of, saved_filters_of, tags_of
from npsloop.surveys.selectors import surveys_of


def _inbox_url(query: str) -> str:
    return reverse("inbox") + (f"?{query}" if query else "")


@member_required
def inbox(request: HttpRequest) -> HttpResponse:
    org = request.organization
    flt = parse(request.GET)
    query = flt.to_query()
    try:
        result = inbox_page(org, flt, cursor=request.GET.get("cursor"))
    except BadCursor as exc:
        messages.error(request, str(exc))
        return redirect(_inbox_url(query))
    return render(
        request,
        "responses/inbox.html",
        {
            "flt": flt,
            "query": query,
            "page": result,
            "next_url": _inbox_url(
                "&".join(filter(None, [query, urlencode({"cursor": result.next_cursor})]))
            )
            if result.next_cursor
            else None,
            "first_page": bool(request.GET.get("cursor")),
            "surveys": surveys_of(org, include_archived=True),
            "tags": tags_of(org),
            "saved": saved_filters_of(org),
            "members": members_of(org),
            "scores": range(11),
        },
    )


@member_required
def inbox_detail(request: HttpRequest, pk: int) -> HttpResponse:
    response = response_of(request.organization, pk)
    return render(
        request,
        "responses/detail.html",
        {
            "response": response,
            "notes": response.notes.select_related("author"),
            "events": response.events.select_related("actor"),
            "tags": response.tags.all(),
            "all_tags": tags_of(request.organization),
            "members": members_of(request.organization),
            "back": request.GET.get("back", ""),
        },
    )


def _apply(request: HttpRequest, responses, action: str) -> int:
    """One action on a queryset of the organization's responses; raises ValidationError."""
    org, user, post = request.organization, request.user, request.POST
    if action == "tag":
        return workflow.add_tag(responses=responses, name=post.get("tag", ""), actor=user)
    if action == "untag":
        return workflow.remove_tag(responses=responses, name=post.get("tag", ""), actor=user)
    if action in Response.Status.values:
        return workflow.set_status(responses=responses, status=action, actor=user)
    if action == "assign":
        raw = post.get("assignee", "")
        member_id = int(raw) if raw.isdigit() else None
        if raw and member_id is None:
            raise ValidationError(_("Choose a member of your organization."))
        return workflow.assign(
            organization=org, responses=responses, member_id=member_id, actor=user
        )
    raise ValidationError(_("Unknown action."))


@member_required
@require_POST
def inbox_act(request: HttpRequest, pk: int) -> HttpResponse:
    """Tag, untag, open/close, assign or note one response."""
    response = response_of(request.organization, pk)
    action = request.POST.get("action", "")
    try:
        if action == "note":
            workflow.add_note(
                response=response, text=request.POST.get("text", ""), author=request.user
            )
        else:
            _apply(request, Response.objects.filter(pk=response.pk), action)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("inbox_detail", pk=response.pk)


@member_required
@require_POST
def inbox_bulk(request: HttpRequest) -> HttpResponse:
    """An action on the selected responses, or on all that match the filter."""
    org = request.organization
    flt = parse(request.POST.get("query", ""))
    responses = compile_filter(org, flt)
    if request.POST.get("scope") != "all":
        ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
        if not ids:
            messages.error(request, _("Select responses first, or choose all filtered."))
            return HttpResponseRedirect(_inbox_url(flt.to_query()))
        responses = responses.filter(pk__in=ids)
    try:
        changed = _apply(request, responses, request.POST.get("action", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("%(n)d responses changed.") % {"n": changed})
    return HttpResponseRedirect(_inbox_url(flt.to_query()))


@member_required
@require_POST
def saved_filter_create(request: HttpRequest) -> HttpResponse:
    query = request.POST.get("query", "")
    try:
        workflow.save_filter(
            organization=request.organization,
            name=request.POST.get("name", ""),
            query=query,
            actor=request.user,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Filter saved."))
    return HttpResponseRedirect(_inbox_url(parse(query).to_query()))


@member_required
@require_POST
def saved_filter_delete(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        workflow.delete_filter(organization=request.organization, pk=pk)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("inbox")
