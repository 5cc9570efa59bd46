from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from npsloop.accounts.decorators import member_required
from npsloop.contacts.forms import ContactForm
from npsloop.contacts.selectors import contacts_of
from npsloop.contacts.services import upsert_contact


@member_required
def contact_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:200]
    page = Paginator(contacts_of(request.organization, search=search), 50).get_page(
        request.GET.get("page")
    )
    return render(request, "contacts/list.html", {"page": page, "search": search})


@member_required
def contact_create(request: HttpRequest) -> HttpResponse:
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            contact, created = upsert_contact(
                organization=request.organization, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                _("Contact added.") if created else _("The contact existed and is updated."),
            )
            return redirect("contact_detail", pk=contact.pk)
    return render(request, "contacts/form.html", {"form": form})
