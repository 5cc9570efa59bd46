"""The survey email: multipart HTML + text, in the contact's language."""

from __future__ import annotations

import hashlib
from email.utils import formataddr, parseaddr
from urllib.parse import urlparse

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from npsloop.contacts.models import Contact
from npsloop.insights.nps import category
from npsloop.invitations.links import rating_url, unsubscribe_url
from npsloop.invitations.models import Invitation
from npsloop.surveys.defaults import fill
from npsloop.surveys.models import Survey
from npsloop.surveys.selectors import text_for


def salutation(contact: Contact, style: str) -> str:
    """The greeting, in the active language: formal uses gender and last name where known."""
    first, last = contact.first_name, contact.last_name
    if style == Survey.Salutation.FORMAL and last:
        if contact.gender == Contact.Gender.FEMALE:
            return _("Dear Ms %(last_name)s,") % {"last_name": last}
        if contact.gender == Contact.Gender.MALE:
            return _("Dear Mr %(last_name)s,") % {"last_name": last}
        return _("Dear %(full_name)s,") % {"full_name": contact.full_name}
    if first:
        return _("Hi %(first_name)s,") % {"first_name": first}
    return _("Hello,")


def message_id(invitation: Invitation) -> str:
    # Stable across retries, so a copy re-sent after a crash is one message to mail clients.
    digest = hashlib.sha256(invitation.key.encode()).hexdigest()[:16]
    domain = urlparse(settings.BASE_URL).hostname or "npsloop.localhost"
    return f"<npsloop.invitation.{invitation.pk}.{digest}@{domain}>"


def build_invitation_email(invitation: Invitation) -> EmailMultiAlternatives:
    survey, contact = invitation.survey, invitation.contact
    text = text_for(survey, invitation.language)
    company = survey.company_name
    with translation.override(text.language):
        buttons = [
            {"score": s, "url": rating_url(invitation.key, s), "category": category(s)}
            for s in range(11)
        ]
        unsubscribe = unsubscribe_url(invitation.key)
        context = {
            "salutation": salutation(contact, survey.salutation),
            "intro": fill(text.intro, company=company),
            "question": fill(text.question, company=company),
            "buttons": buttons,
            "unsubscribe_url": unsubscribe,
            "sender_name": survey.sender_name,
            "language": text.language,
        }
        subject = fill(text.email_subject, company=company)
        body = render_to_string("invitations/email.txt", context)
        html = render_to_string("invitations/email.html", context)
    from_address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    message = EmailMultiAlternatives(
        subject=subject.replace("\n", " "),
        body=body,
        from_email=formataddr((survey.sender_name, from_address)),
        to=[contact.email],
        reply_to=[survey.reply_to] if survey.reply_to else None,
        headers={
            "Message-ID": message_id(invitation),
            # RFC 8058 one-click unsubscribe; the URL accepts a POST without a session.
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )
    message.attach_alternative(html, "text/html")
    return message
