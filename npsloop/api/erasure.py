"""GDPR erasure of one person, and the export of everything stored about them.

Erasure keeps the anonymous facts (scores, dates, invitation states) so the NPS,
response rate and trends still count them, and removes everything that says who
the person was or what they wrote: the contact's email, names, ids and
properties; their comments, notes and the details of events; the payloads of
the Segment events that named them; the emails sent to or about them; their
rows in share-link snapshots, the traits written back to Segment and the payloads of
notifications (webhooks, Slack, tickets) about them.

It lives in `api` because it touches contacts, invitations, ingest, responses,
mail and segment_sync, and `api` sits downstream of all of them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q

from npsloop.contacts.models import Contact
from npsloop.ingest.models import IngestEvent
from npsloop.insights import rollups
from npsloop.invitations.models import Decision, Invitation, InvitationEvent
from npsloop.invitations.services import cancel_invitation
from npsloop.mail.models import OutboundEmail
from npsloop.notifications import payloads
from npsloop.notifications.models import Attempt, Delivery
from npsloop.responses.models import Note, Response, ResponseEvent, ShareLink
from npsloop.segment_sync.models import SegmentSync

ERASED_DOMAIN = "erased.invalid"
ERASED = "[erased]"


@dataclass(frozen=True)
class ErasureReport:
    contact_id: int
    responses: int
    invitations: int
    ingest_events: int
    emails: int
    share_links: int


def _identifiers(contact: Contact) -> tuple[list[str], list[str], list[str]]:
    emails = [contact.email] if contact.email else []
    user_ids = [contact.external_id] if contact.external_id else []
    anonymous_ids = [contact.anonymous_id] if contact.anonymous_id else []
    return emails, user_ids, anonymous_ids


def _ingest_events(contact: Contact):
    emails, user_ids, anonymous_ids = _identifiers(contact)
    match = Q(contact=contact)
    if user_ids:
        match |= Q(user_id__in=user_ids)
    if anonymous_ids:
        match |= Q(anonymous_id__in=anonymous_ids)
    for email in emails:
        # Events skipped for the person before a contact existed still carry the email.
        match |= Q(payload__icontains=email)
    return IngestEvent.objects.filter(organization_id=contact.organization_id).filter(match)


def _emails(contact: Contact, invitation_ids: list[int], response_ids: list[int]):
    refs = [f"invitation:{pk}" for pk in invitation_ids] + [f"response:{pk}" for pk in response_ids]
    match = Q(ref__in=refs)
    if contact.email:
        match |= Q(to__icontains=contact.email) | Q(raw__icontains=contact.email)
    return OutboundEmail.objects.filter(organization_id=contact.organization_id).filter(match)


def _scrub_snapshots(contact: Contact, responses: list[Response]) -> int:
    """Remove the person's rows' comment, name and email from share-link snapshots."""
    theirs = {(r.created_at.isoformat(), r.comment) for r in responses}
    email = (contact.email or "").lower()
    changed = 0
    for link in ShareLink.objects.filter(organization_id=contact.organization_id):
        rows = link.snapshot if isinstance(link.snapshot, list) else []
        dirty = False
        for row in rows:
            if not isinstance(row, dict):
                continue
            own = (row.get("date"), row.get("comment")) in theirs
            if own or (email and str(row.get("email", "")).lower() == email):
                row.update({"comment": "", "name": "", "email": ""})
                dirty = True
        if dirty:
            ShareLink.objects.filter(pk=link.pk).update(snapshot=rows)
            changed += 1
    return changed


@transaction.atomic
def _scrub_deliveries(contact: Contact, response_ids: list[int]) -> None:
    """Notification payloads name the person: blank theirs, and their rows in digests."""
    own = Delivery.objects.filter(organization_id=contact.organization_id).filter(
        Q(response_id__in=response_ids)
        | Q(event_type=payloads.PERSON_UNSUBSCRIBED, payload__data__person__id=contact.pk)
    )
    Attempt.objects.filter(delivery__in=own).update(error="")
    own.update(payload={}, last_error="")
    digests = Delivery.objects.filter(
        organization_id=contact.organization_id, event_type=payloads.DIGEST
    )
    for delivery in digests.iterator():
        rows = delivery.payload.get("data", {}).get("responses", [])
        touched = False
        for row in rows:
            person = row.get("person") or {}
            if row.get("id") in response_ids or person.get("id") == contact.pk:
                row.update({"comment": "", "person": None})
                touched = True
        if touched:
            Delivery.objects.filter(pk=delivery.pk).update(payload=delivery.payload)


def erase_person(*, contact: Contact) -> ErasureReport:
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    responses = list(Response.objects.filter(contact=contact))
    response_ids = [r.pk for r in responses]
    invitations = list(Invitation.objects.filter(contact=contact))
    invitation_ids = [i.pk for i in invitations]

    for invitation in invitations:
        if invitation.state == Invitation.State.SCHEDULED:
            cancel_invitation(invitation=invitation, reason="")
    share_links = _scrub_snapshots(contact, responses)
    emails = _emails(contact, invitation_ids, response_ids).update(
        to=ERASED, subject=ERASED, raw="", error=""
    )
    ingest_events = _ingest_events(contact).update(
        payload={}, user_id="", anonymous_id="", error=""
    )

    InvitationEvent.objects.filter(invitation_id__in=invitation_ids).update(detail="")
    Invitation.objects.filter(pk__in=invitation_ids).update(last_error="")
    Decision.objects.filter(contact=contact).update(detail="")

    # Without a new updated_at (that would replay notifications): the dashboard's
    # roll-ups count comments, so they are told which days changed.
    rollups.mark_dirty(contact.organization_id, [r.created_at for r in responses])
    Response.objects.filter(pk__in=response_ids).update(comment="")
    Note.objects.filter(response_id__in=response_ids).delete()
    ResponseEvent.objects.filter(response_id__in=response_ids).update(detail="")
    SegmentSync.objects.filter(response_id__in=response_ids).update(payload={}, last_error="")
    _scrub_deliveries(contact, response_ids)

    # The row stays, anonymous, so the invitations and scores it holds still count.
    contact.email = f"erased-{secrets.token_hex(8)}@{ERASED_DOMAIN}"
    contact.external_id = contact.anonymous_id = ""
    contact.first_name = contact.last_name = ""
    contact.gender = contact.language = ""
    contact.properties = {}
    contact.signed_up_at = contact.last_seen_at = contact.traits_updated_at = None
    contact.save()
    return ErasureReport(
        contact_id=contact.pk,
        responses=len(response_ids),
        invitations=len(invitation_ids),
        ingest_events=ingest_events,
        emails=emails,
        share_links=share_links,
    )


def is_erased(contact: Contact) -> bool:
    return contact.email.endswith("@" + ERASED_DOMAIN)


def export_person(*, contact: Contact) -> dict[str, Any]:
    """Everything stored about the person, as JSON-ready data (the right of access)."""
    from npsloop.api import present

    invitations = Invitation.objects.filter(contact=contact).prefetch_related("events")
    decisions = Decision.objects.filter(contact=contact).select_related("invitation")
    responses = (
        Response.objects.filter(contact=contact).prefetch_related("tags").order_by("created_at")
    )
    events = _ingest_events(contact).order_by("received_at")
    emails = _emails(
        contact,
        [i.pk for i in invitations],
        [r.pk for r in responses],
    ).order_by("created_at")
    return {
        "person": present.person(contact),
        "invitations": [present.invitation(i) for i in invitations],
        "decisions": [present.decision(d) for d in decisions],
        "responses": [present.response(r, notes=True) for r in responses],
        "segment_events": [
            {
                "type": e.type,
                "message_id": e.message_id,
                "timestamp": e.timestamp,
                "received_at": e.received_at,
                "payload": e.payload,
            }
            for e in events
        ],
        "emails": [
            {"kind": m.kind, "to": m.to, "subject": m.subject, "created_at": m.created_at}
            for m in emails
        ],
    }
