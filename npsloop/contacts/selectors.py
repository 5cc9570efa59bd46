from __future__ import annotations

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from npsloop.accounts.models import Organization
from npsloop.contacts.models import Contact


def contacts_of(organization: Organization, *, search: str = "") -> QuerySet[Contact]:
    qs = Contact.objects.filter(organization=organization).order_by("-created_at", "-id")
    if search:
        qs = qs.filter(
            Q(email__icontains=search)
            | Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
        )
    return qs


def contact_of(organization: Organization, pk: int) -> Contact:
    return get_object_or_404(Contact, organization=organization, pk=pk)
