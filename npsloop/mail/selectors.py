from __future__ import annotations

from email import message_from_string, policy
from email.message import EmailMessage

from django.db.models import QuerySet

from npsloop.accounts.models import Organization
from npsloop.mail.models import OutboundEmail


def emails_for(organization: Organization) -> QuerySet[OutboundEmail]:
    return OutboundEmail.objects.filter(organization=organization).defer("raw")


def email_of(organization: Organization, pk: int) -> OutboundEmail:
    return OutboundEmail.objects.get(organization=organization, pk=pk)


def parsed(record: OutboundEmail) -> EmailMessage:
    return message_from_string(record.raw, policy=policy.default)


def body_of(record: OutboundEmail, subtype: str) -> str:
    part = parsed(record).get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None else ""
