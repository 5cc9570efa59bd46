"""Writes the API makes that no upstream service offers; each keeps to its app's rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from npsloop.accounts.models import Organization
from npsloop.api.errors import Conflict, FieldErrors, field_errors
from npsloop.api.params import instant
from npsloop.contacts.models import Contact
from npsloop.contacts.services import upsert_contact
from npsloop.contacts.signals import contact_unsubscribed
from npsloop.invitations.errors import InvitationRefused
from npsloop.invitations.models import Decision, Invitation
from npsloop.invitations.services import cancel_invitation, decide_and_schedule
from npsloop.invitations.services import schedule_invitation as schedule
from npsloop.surveys.models import Survey, SurveyText
from npsloop.surveys.services import create_survey

# --- surveys ----------------------------------------------------------------

_NOT_VALIDATED = ["organization", "api_key_prefix", "api_key_digest"]


def _check_survey(survey: Survey) -> None:
    try:
        survey.full_clean(exclude=_NOT_VALIDATED, validate_unique=False)
    except ValidationError as exc:
        raise field_errors(exc) from None


def _apply_texts(survey: Survey, texts: dict[str, dict[str, str]]) -> None:
    for language, values in texts.items():
        text = SurveyText.objects.filter(survey=survey, language=language).first()
        if text is None:
            continue
        for name, value in values.items():
            setattr(text, name, value)
        try:
            text.full_clean(exclude=["survey"], validate_unique=False)
        except ValidationError as exc:
            details = {f"texts.{language}.{k}": " ".join(v) for k, v in exc.message_dict.items()}
            raise FieldErrors(_("Some fields are not valid."), details=details) from None
        text.save()


@transaction.atomic
def api_create_survey(
    *, organization: Organization, fields: dict[str, Any], texts: dict[str, dict[str, str]]
) -> tuple[Survey, str]:
    fields = {k: v for k, v in fields.items() if v is not None}
    probe = Survey(organization=organization, **fields)
    probe.company_name = probe.company_name or organization.name
    probe.sender_name = probe.sender_name or probe.company_name
    _check_survey(probe)
    survey, key = create_survey(organization=organization, **fields)
    _apply_texts(survey, texts)
    return survey, key


@transaction.atomic
def update_survey(
    *, survey: Survey, fields: dict[str, Any], texts: dict[str, dict[str, str]]
) -> Survey:
    for name, value in fields.items():
        if value is not None:
            setattr(survey, name, value)
    _check_survey(survey)
    survey.save()
    _apply_texts(survey, texts)
    return survey


# --- people -----------------------------------------------------------------


@dataclass(frozen=True)
class SavedPerson:
    contact: Contact
    created: bool
    decision: Decision | None


def _survey_for(organization: Organization, survey_id: int | None) -> Survey:
    surveys = Survey.objects.filter(organization=organization).exclude(
        status=Survey.Status.ARCHIVED
    )
    if survey_id is not None:
        survey = surveys.filter(pk=survey_id).first()
        if survey is None:
            raise FieldErrors(
                _("Some fields are not valid."),
                details={"survey_id": _("No such survey in your organization.")},
            )
        return survey
    only = list(surveys[:2])
    if len(only) != 1:
        raise FieldErrors(
            _("Some fields are not valid."),
            details={"survey_id": _("Name the survey to send (you have several or none).")},
        )
    return only[0]


def save_person(
    *,
    organization: Organization,
    email: str,
    first_name: str = "",
    last_name: str = "",
    name: str = "",
    gender: str = "",
    language: str = "",
    user_id: str = "",
    created_at: Any = None,
    properties: dict[str, Any] | None = None,
    survey_id: int | None = None,
    send: bool = True,
    delay: int | None = None,
    event_ref: str = "",
    now: dt.datetime | None = None,
) -> SavedPerson:
    """Create or update a person; with send, survey them (send rules, or an explicit delay)."""
    now = now or timezone.now()
    if name and not (first_name or last_name):
        first_name, _sep, last_name = name.strip().partition(" ")
    try:
        signed_up_at = instant(created_at)
    except ValidationError as exc:
        raise FieldErrors(
            _("Some fields are not valid."), details={"created_at": " ".join(exc.messages)}
        ) from None
    survey = _survey_for(organization, survey_id) if send else None
    try:
        contact, created = upsert_contact(
            organization=organization,
            email=email,
            first_name=first_name,
            last_name=last_name,
            gender=gender,
            language=language,
            signed_up_at=signed_up_at,
            external_id=user_id,
            properties=properties or {},
        )
    except ValidationError as exc:
        raise FieldErrors(
            _("Some fields are not valid."), details={"email": " ".join(exc.messages)}
        ) from None
    decision = None
    if survey is not None:
        if delay is None:
            decision = decide_and_schedule(
                survey=survey,
                contact=contact,
                email=contact.email,
                email_valid=True,
                source=Invitation.Source.API,
                event_ref=event_ref,
                now=now,
            )
        else:
            decision = _schedule_with_delay(survey, contact, delay, event_ref, now)
    return SavedPerson(contact=contact, created=created, decision=decision)


@transaction.atomic
def _schedule_with_delay(
    survey: Survey, contact: Contact, delay: int, event_ref: str, now: dt.datetime
) -> Decision:
    """An explicit delay replaces the delay rules; unsubscribes and bounces still stop it."""
    try:
        invitation = schedule(
            survey=survey,
            contact=contact,
            source=Invitation.Source.API,
            send_at=now + dt.timedelta(seconds=delay),
            now=now,
        )
    except InvitationRefused as exc:
        raise Conflict(str(exc), code="not_sendable") from None
    return Decision.objects.create(
        organization_id=survey.organization_id,
        survey=survey,
        contact=contact,
        invitation=invitation,
        outcome=Decision.Outcome.SCHEDULED,
        reason=Decision.Reason.SCHEDULED,
        detail=f"API delay {delay}s",
        source=Invitation.Source.API,
        event_ref=event_ref[:200],
    )


# --- unsubscribes and bounces -----------------------------------------------

SUPPRESSIONS = {"unsubscribes": "unsubscribed_at", "bounces": "bounced_at"}


@transaction.atomic
def suppress(*, organization: Organization, email: str, kind: str) -> Contact:
    """Mark the person (created if unknown) unsubscribed or bounced; cancel what is pending."""
    try:
        contact, _created = upsert_contact(organization=organization, email=email)
    except ValidationError as exc:
        raise FieldErrors(
            _("Some fields are not valid."), details={"email": " ".join(exc.messages)}
        ) from None
    field = SUPPRESSIONS[kind]
    now = timezone.now()
    changed = Contact.objects.filter(pk=contact.pk, **{field: None}).update(**{field: now})
    if changed and kind == "unsubscribes":
        contact_id = contact.pk
        transaction.on_commit(
            lambda: contact_unsubscribed.send(sender=Contact, contact_id=contact_id, at=now)
        )
    pending = Invitation.objects.filter(contact=contact, state=Invitation.State.SCHEDULED)
    for invitation in pending:
        cancel_invitation(invitation=invitation, reason=f"{kind[:-1]} via API")
    contact.refresh_from_db()
    return contact


def unsuppress(*, contact: Contact, kind: str) -> Contact:
    field = SUPPRESSIONS[kind]
    Contact.objects.filter(pk=contact.pk).update(**{field: None})
    contact.refresh_from_db()
    return contact
