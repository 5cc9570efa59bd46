from __future__ import annotations

from django.db.models import QuerySet

from npsloop.contacts.models import Contact
from npsloop.invitations.models import Invitation


def invitations_of_contact(contact: Contact) -> QuerySet[Invitation]:
    return (
        Invitation.objects.filter(contact=contact)
        .select_related("survey")
        .prefetch_related("events")
        .order_by("-created_at", "-id")
    )


def invitation_by_key(key: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("survey", "contact", "organization")
        .filter(key=key)
        .first()
    )
