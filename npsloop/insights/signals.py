"""Deletions the roll-ups' watermark cannot see: the days they touch are marked dirty.

Every ORM delete sends these (a queryset delete too, and cascades such as a survey's);
only raw SQL would bypass them.
"""

from __future__ import annotations

import datetime as dt
import threading

from django.db import connections, transaction
from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver

from npsloop.accounts.models import Organization
from npsloop.contacts.models import Contact
from npsloop.insights import rollups
from npsloop.insights.models import RollupState
from npsloop.responses.models import Response


class _Marked:
    """The days already marked dirty per organization in one transaction. mark_dirty
    widens one range of days, so every day inside it is dirty already: a survey's
    million deleted responses cost one mark per day that widens the range, not one
    query per response."""

    def __init__(self) -> None:
        # organization -> (the zone its roll-up days are cut in, first day, last day);
        # None: the organization has no roll-ups, nothing to mark.
        self.days: dict[int, tuple[str, dt.date, dt.date] | None] = {}

    def forget(self) -> None:  # on commit; a rollback also drops this callback
        self.days.clear()


_local = threading.local()


def _marked_in_this_transaction(using: str) -> _Marked | None:
    """This transaction's record, or None outside a transaction. A record whose
    on-commit callback is no longer pending belongs to a transaction (or savepoint)
    that ended, and is replaced."""
    connection = connections[using]
    if not connection.in_atomic_block:
        return None
    marked = getattr(_local, using, None)
    if marked is None or not any(hook[1] == marked.forget for hook in connection.run_on_commit):
        marked = _Marked()
        setattr(_local, using, marked)
        transaction.on_commit(marked.forget, using=using)
    return marked


@receiver(post_delete, sender=Response, dispatch_uid="insights_rollup_response_deleted")
def response_deleted(sender, instance: Response, using: str, **kwargs) -> None:
    moment, org = instance.created_at, instance.organization_id
    marked = _marked_in_this_transaction(using)
    if marked is None:
        rollups.mark_dirty(org, [moment])
        return
    if org not in marked.days:
        zone = RollupState.objects.filter(organization_id=org).values_list("zone", flat=True)
        marked.days[org] = (zone[0], dt.date.max, dt.date.min) if zone else None
    known = marked.days[org]
    if known is None:
        return
    name, first, last = known
    day = rollups.day_of(moment, Organization(time_zone=name).zone)
    if first <= day <= last:
        return
    rollups.mark_dirty(org, [moment])
    marked.days[org] = (name, min(first, day), max(last, day))


@receiver(pre_delete, sender=Contact, dispatch_uid="insights_rollup_contact_deleted")
def contact_deleted(sender, instance: Contact, **kwargs) -> None:
    # Its responses stay, without a contact: their property and gender groups change.
    rollups.mark_responses_dirty(Response.objects.filter(contact_id=instance.pk))
