"""Dashboard pages that combine contacts with their invitations."""

from __future__ import annotations

from django.contrib import messages
from django.db.models.fields.json import KT
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from npsloop.accounts.decorators import member_required
from npsloop.contacts.selectors import contact_of
from npsloop.contacts.services import import_csv
from npsloop.invitations.errors import InvitationRefused
from npsloop.invitations.forms import CsvImportForm, InviteForm
from npsloop.invitations.models import Invitation
from npsloop.invitations.selectors import invitations_of_contact
from npsloop.invitations.services import schedule_invitation


@member_required
def contact_detail(request: HttpRequest, pk: int) -> HttpResponse:
    contact = contact_of(request.organization, pk)
    form = InviteForm(request.POST or None, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        try:
            schedule_invitation(
                survey=form.cleaned_data["survey"],
                contact=contact,
                source=Invitation.Source.MANUAL,
                send_at=form.cleaned_data["send_at"],
            )
        except InvitationRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("The invitation is scheduled."))
            return redirect("contact_detail", pk=contact.pk)
    invitations = invitations_of_contact(contact).select_related("response")
    # What the send rules decided for each identify call, and what Segment sent (newest first).
    decisions = contact.decisions.select_related("survey").order_by("-created_at", "-id")[:50]
    timeline = (
        contact.events.annotate(event_name=KT("payload__event"), page_name=KT("payload__name"))
        .select_related("survey")
        .only("id", "type", "timestamp", "contact_id", "survey__id", "survey__name")
        .order_by("-timestamp", "-id")[:50]
    )
    return render(
        request,
        "invitations/contact_detail.html",
        {
            "contact": contact,
            "invitations": invitations,
            "form": form,
            "decisions": decisions,
            "timeline": timeline,
        },
    )


@member_required
def contact_import(request: HttpRequest) -> HttpResponse:
    form = CsvImportForm(
        request.POST or None, request.FILES or None, organization=request.organization
    )
    report, invited, refused = None, 0, []
    if request.method == "POST" and form.is_valid():
        report = import_csv(
            organization=request.organization, data=form.cleaned_data["file"].read()
        )
        survey = form.cleaned_data["survey"]
        if survey is not None:
            for contact in report.contacts:
                try:
                    schedule_invitation(
                        survey=survey, contact=contact, source=Invitation.Source.CSV
                    )
                except InvitationRefused as exc:
                    refused.append(str(exc))
                else:
                    invited += 1
    return render(
        request,
        "invitations/import.html",
        {"form": form, "report": report, "invited": invited, "refused": refused},
    )
