"""Replying to a customer and forwarding feedback, sent from npsloop.

Every message goes through npsloop.mail.services.deliver, so it is in the outbox
with its outcome; each response's timeline records the reply or forward.
"""

from __future__ import annotations

from collections.abc import Iterable
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.validators import validate_email
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from npsloop.accounts.models import Membership, Organization
from npsloop.invitations.emails import message_id
from npsloop.mail.models import OutboundEmail
from npsloop.mail.services import deliver
from npsloop.responses import mailto
from npsloop.responses.models import Response, ResponseEvent

MAX_SUBJECT_LENGTH = 200
MAX_BODY_LENGTH = 100_000


def _from_address() -> str:
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1]


def _is_member(user: AbstractBaseUser, organization_id: int) -> bool:
    return Membership.objects.filter(user_id=user.pk, organization_id=organization_id).exists()


def _require_member(member: AbstractBaseUser, organization_id: int) -> None:
    if member is None or not _is_member(member, organization_id):
        raise PermissionDenied("the member does not belong to this organization")


def clean_subject(subject: str) -> str:
    """One line, not empty, not too long; a line break is refused, not joined."""
    subject = (subject or "").strip()
    if "\r" in subject or "\n" in subject:
        raise ValidationError(_("The subject must be one line."), code="multiline")
    if mailto.CONTROL_CHARS.search(subject.replace("\t", " ")):
        raise ValidationError(_("The subject contains control characters."), code="control")
    if not subject:
        raise ValidationError(_("Write a subject."), code="required")
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise ValidationError(
            _("Keep the subject under %(max)d characters.") % {"max": MAX_SUBJECT_LENGTH},
            code="max_length",
        )
    return subject


def clean_body(body: str) -> str:
    body = mailto.normalize_newlines(body or "").strip("\n").rstrip()
    if not body.strip():
        raise ValidationError(_("Write a message."), code="required")
    if len(body) > MAX_BODY_LENGTH:
        raise ValidationError(
            _("Keep the message under %(max)d characters.") % {"max": MAX_BODY_LENGTH},
            code="max_length",
        )
    return body + "\n"


def clean_address(address: str) -> str:
    address = (address or "").strip()
    if "\r" in address or "\n" in address:
        raise ValidationError(_("Enter one email address."), code="invalid")
    validate_email(address)
    return address


def _recipient(to: str | AbstractBaseUser, organization_id: int) -> str:
    """An email address, or a member of the organization (their email address)."""
    if isinstance(to, str):
        return clean_address(to)
    if not _is_member(to, organization_id):
        raise ValidationError(_("Choose a member of your organization."), code="not_member")
    if not to.email:
        raise ValidationError(_("This member has no email address."), code="no_email")
    return clean_address(to.email)


def _member_label(member: AbstractBaseUser) -> str:
    return mailto.one_line(member.get_full_name() if hasattr(member, "get_full_name") else "")


def send_reply(
    *, response: Response, member: AbstractBaseUser, subject: str, body: str
) -> OutboundEmail:
    """Email the customer from the survey's sender, Reply-To the member.

    Raises ValidationError for bad input or a response without an email address,
    PermissionDenied for someone outside the organization, MailError when SMTP fails.
    """
    _require_member(member, response.organization_id)
    if not mailto.can_reply(response):
        raise ValidationError(
            _("This feedback has no email address, so there is no one to reply to."),
            code="no_email",
        )
    subject, body = clean_subject(subject), clean_body(body)
    contact, survey = response.contact, response.survey
    customer = clean_address(contact.email)
    headers = {}
    if response.invitation_id and response.invitation:
        # Threads the reply under the survey email in the customer's mailbox.
        original = message_id(response.invitation)
        headers = {"In-Reply-To": original, "References": original}
    message = EmailMessage(
        subject=subject,
        body=body,
        from_email=formataddr((mailto.one_line(survey.sender_name), _from_address())),
        to=[formataddr((mailto.one_line(contact.full_name), customer))],
        reply_to=[formataddr((_member_label(member), clean_address(member.email)))],
        headers=headers,
    )
    record = deliver(
        message, kind="reply", organization=response.organization, ref=f"response:{response.pk}"
    )
    ResponseEvent.objects.create(response=response, actor=member, kind="replied", detail=subject)
    return record


def _forward_message(
    *,
    member: AbstractBaseUser,
    to: str,
    subject: str,
    responses: list[Response],
    intro: str,
) -> EmailMultiAlternatives:
    texts = [mailto.feedback_text(r) for r in responses]
    separator = "\n\n" + "-" * 40 + "\n\n"
    body = intro + "\n\n" + separator.join(texts) + "\n"
    html = render_to_string(
        "responses/forward_email.html",
        {
            "intro": intro,
            "items": [{"response": r, "text": t} for r, t in zip(responses, texts, strict=True)],
        },
    )
    sender = _("%(member)s via npsloop") % {"member": _member_label(member) or member.email}
    message = EmailMultiAlternatives(
        subject=mailto.one_line(subject),
        body=body,
        from_email=formataddr((mailto.one_line(sender), _from_address())),
        to=[to],
        reply_to=[clean_address(member.email)] if member.email else None,
    )
    message.attach_alternative(html, "text/html")
    return message


def _record_forwards(responses: list[Response], member: AbstractBaseUser, to: str) -> None:
    ResponseEvent.objects.bulk_create(
        [ResponseEvent(response=r, actor=member, kind="forwarded", detail=to) for r in responses],
        batch_size=500,
    )


def forward_one(
    *, response: Response, member: AbstractBaseUser, to: str | AbstractBaseUser
) -> OutboundEmail:
    """Email one feedback, with every detail, to an address or a member."""
    _require_member(member, response.organization_id)
    address = _recipient(to, response.organization_id)
    intro = _("%(member)s forwarded this feedback to you from npsloop.") % {"member": member.email}
    message = _forward_message(
        member=member,
        to=address,
        subject=mailto.forward_subject(response),
        responses=[response],
        intro=intro,
    )
    record = deliver(
        message, kind="forward", organization=response.organization, ref=f"response:{response.pk}"
    )
    _record_forwards([response], member, address)
    return record


def forward_all(
    *,
    organization: Organization,
    member: AbstractBaseUser,
    to: str | AbstractBaseUser,
    responses: Iterable[Response],
) -> OutboundEmail:
    """One email with every given response in full: no cut, no limit."""
    _require_member(member, organization.pk)
    address = _recipient(to, organization.pk)
    if isinstance(responses, QuerySet):
        responses = responses.select_related("survey", "contact", "organization")
    responses = list(responses)
    if not responses:
        raise ValidationError(_("No feedback to forward."), code="empty")
    if any(r.organization_id != organization.pk for r in responses):
        raise PermissionDenied("a response belongs to another organization")
    count = len(responses)
    intro = ngettext(
        "%(member)s forwarded %(count)d feedback to you from npsloop.",
        "%(member)s forwarded %(count)d feedbacks to you from npsloop.",
        count,
    ) % {"member": member.email, "count": count}
    subject = ngettext("Fwd: %(count)d feedback", "Fwd: %(count)d feedbacks", count) % {
        "count": count
    }
    message = _forward_message(
        member=member, to=address, subject=subject, responses=responses, intro=intro
    )
    record = deliver(message, kind="forward", organization=organization, ref=f"responses:{count}")
    _record_forwards(responses, member, address)
    return record
