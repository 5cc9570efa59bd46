from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from django.db.models import QuerySet

from npsloop.accounts.models import Organization
from npsloop.mail.models import OutboundEmail


def emails_for(organization: Organization) -> QuerySet[OutboundEmail]:
    return OutboundEmail.objects.filter(organization=organization).defer("raw")


def email_of(organization: Organization, pk: int) -> OutboundEmail:
    return OutboundEmail.objects.get(organization=organization, pk=pk)


def parsed(record: OutboundEmail) -> EmailMessage:
    # From bytes: parts sent as 8bit UTF-8 would be mis-decoded from a str.
    return message_from_bytes(record.raw.encode("utf-8", "surrogateescape"), policy=policy.default)


def body_of(record: OutboundEmail, subtype: str) -> str:
    part = parsed(record).get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None else ""
