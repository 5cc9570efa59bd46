"""Deletions the roll-ups' watermark cannot see: the days they touch are marked dirty.

Every ORM delete sends these (a queryset delete too, and cascades such as a survey's);
only raw SQL would bypass them.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver

from npsloop.contacts.models import Contact
from npsloop.insights import rollups
from npsloop.responses.models import Response


@receiver(post_delete, sender=Response, dispatch_uid="insights_rollup_response_deleted")
def response_deleted(sender, instance: Response, **kwargs) -> None:
    rollups.mark_dirty(instance.organization_id, [instance.created_at])


@receiver(pre_delete, sender=Contact, dispatch_uid="insights_rollup_contact_deleted")
def contact_deleted(sender, instance: Contact, **kwargs) -> None:
    # Its responses stay, without a contact: their property and gender groups change.
    rollups.mark_responses_dirty(Response.objects.filter(contact_id=instance.pk))
