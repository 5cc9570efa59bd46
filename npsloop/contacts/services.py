from __future__ import annotations

import contextlib
import csv
import io
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.translation import gettext as _

from npsloop.accounts.models import Organization
from npsloop.contacts import normalize
from npsloop.contacts.models import Contact

# CSV columns that map to contact fields; every other column becomes a property.
_CSV_FIELDS = {
    "email": "email",
    "first_name": "first_name",
    "firstname": "first_name",
    "last_name": "last_name",
    "lastname": "last_name",
    "gender": "gender",
    "language": "language",
    "created_at": "signed_up_at",
    "createdat": "signed_up_at",
    "user_id": "external_id",
    "userid": "external_id",
}
MAX_CSV_ROWS = 50_000
MAX_PROPERTY_LENGTH = 1000


def upsert_contact(
    *,
    organization: Organization,
    email: str,
    first_name: str = "",
    last_name: str = "",
    gender: str = "",
    language: str = "",
    signed_up_at: Any = None,
    external_id: str = "",
    properties: dict[str, Any] | None = None,
) -> tuple[Contact, bool]:
    """Create the contact or update the fields given; raises ValidationError on bad input."""
    clean_email = normalize.email(email)
    values: dict[str, Any] = {
        "first_name": normalize.text(first_name, 150),
        "last_name": normalize.text(last_name, 150),
        "gender": normalize.gender(gender),
        "language": normalize.language(language),
        "signed_up_at": normalize.moment(signed_up_at),
        "external_id": normalize.text(external_id, 200),
    }
    with transaction.atomic():
        contact = (
            Contact.objects.select_for_update()
            .filter(organization=organization, email__iexact=clean_email)
            .first()
        )
        created = contact is None
        if created:
            contact = Contact(organization=organization, email=clean_email)
        for name, value in values.items():
            # An empty value never erases what is known.
            if value or created:
                setattr(contact, name, value)
        if properties:
            contact.properties = {**contact.properties, **properties}
        contact.save()
    return contact, created


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)


def import_csv(*, organization: Organization, data: bytes) -> ImportReport:
    """Upsert a contact per row; a bad row is reported with its line number and skipped."""
    report = ImportReport()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        report.errors.append(_("The file is not UTF-8 encoded text."))
        return report
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    headers = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "email" not in headers:
        report.errors.append(_("The first line must name the columns, one of them 'email'."))
        return report
    for number, row in enumerate(reader, start=2):
        if number - 1 > MAX_CSV_ROWS:
            report.errors.append(
                _("Stopped after %(max)d rows; split the file.") % {"max": MAX_CSV_ROWS}
            )
            break
        values: dict[str, Any] = {}
        properties: dict[str, str] = {}
        for raw_key, raw_value in row.items():
            if raw_key is None:
                continue
            key = raw_key.strip().lower()
            value = (raw_value or "").strip() if isinstance(raw_value, str) else ""
            if key in _CSV_FIELDS:
                values[_CSV_FIELDS[key]] = value
            elif key and value:
                properties[raw_key.strip()[:100]] = value[:MAX_PROPERTY_LENGTH]
        try:
            contact, created = upsert_contact(
                organization=organization, properties=properties, **values
            )
        except ValidationError as exc:
            report.errors.append(
                _("Line %(line)d: %(error)s") % {"line": number, "error": " ".join(exc.messages)}
            )
            continue
        report.contacts.append(contact)
        if created:
            report.created += 1
        else:
            report.updated += 1
    return report


@dataclass(frozen=True)
class IdentifyResult:
    contact: Contact | None
    email: str  # as given (or as stored, when the event gave none)
    email_valid: bool


_TRAIT_FIELDS = {
    "email", "firstName", "first_name", "lastName", "last_name", "name",
    "gender", "createdAt", "created_at",
}  # fmt: skip


def apply_identify(
    *,
    organization: Organization,
    user_id: str,
    anonymous_id: str,
    traits: dict[str, Any],
    locale: str,
    timestamp: Any,
) -> IdentifyResult:
    """Create or update the contact of a Segment identify call.

    Found by userId, else anonymousId, else email. An event older than the one
    whose traits are stored (events arrive out of order) adds ids but changes no trait.
    """
    raw_email = str(traits.get("email") or "").strip()
    if not raw_email and "@" in user_id:
        raw_email = user_id
    try:
        email, email_valid = (normalize.email(raw_email), True) if raw_email else ("", False)
    except ValidationError:
        email, email_valid = raw_email[:254], False
    with transaction.atomic():
        found = Contact.objects.select_for_update().filter(organization=organization)
        contact = None
        if user_id:
            contact = found.filter(external_id=user_id).first()
        if contact is None and anonymous_id:
            contact = found.filter(anonymous_id=anonymous_id).first()
        if contact is None and email_valid:
            contact = found.filter(email__iexact=email).first()
        if contact is None:
            if not email_valid:
                return IdentifyResult(None, email, False)
            contact = Contact(organization=organization, email=email)
        if not raw_email and contact.pk:
            email, email_valid = contact.email, True
        contact.external_id = contact.external_id or user_id[:200]
        contact.anonymous_id = contact.anonymous_id or anonymous_id[:200]
        stale = contact.traits_updated_at is not None and timestamp < contact.traits_updated_at
        if not stale:
            _apply_traits(contact, traits, locale, email if email_valid else "")
            contact.traits_updated_at = timestamp
        contact.save()
    return IdentifyResult(contact, email, email_valid)


def _apply_traits(contact: Contact, traits: dict[str, Any], locale: str, email: str) -> None:
    if email and email.lower() != contact.email.lower():
        taken = Contact.objects.filter(
            organization_id=contact.organization_id, email__iexact=email
        ).exclude(pk=contact.pk)
        if not taken.exists():
            contact.email = email
    first = str(traits.get("firstName") or traits.get("first_name") or "").strip()
    last = str(traits.get("lastName") or traits.get("last_name") or "").strip()
    if not first and not last and (name := str(traits.get("name") or "").strip()):
        first, _sep, last = name.partition(" ")
    contact.first_name = first[:150] or contact.first_name
    contact.last_name = last.strip()[:150] or contact.last_name
    contact.gender = normalize.gender(traits.get("gender")) or contact.gender
    contact.language = normalize.language(locale) or contact.language
    created = traits.get("createdAt", traits.get("created_at"))
    # A createdAt that is no date counts as unknown: created at the call.
    with contextlib.suppress(ValidationError):
        contact.signed_up_at = normalize.segment_time(created) or contact.signed_up_at
    extra = {k: v for k, v in traits.items() if k not in _TRAIT_FIELDS}
    if extra:
        contact.properties = {**contact.properties, **extra}


def mark_seen(
    *, organization: Organization, user_id: str, anonymous_id: str, timestamp: Any
) -> Contact | None:
    """A track/page/screen call: the contact's last-seen time moves forward, never back."""
    found = Contact.objects.filter(organization=organization)
    contact = None
    if user_id:
        contact = found.filter(external_id=user_id).first()
    if contact is None and anonymous_id:
        contact = found.filter(anonymous_id=anonymous_id).first()
    if contact is None:
        return None
    Contact.objects.filter(pk=contact.pk).filter(
        models.Q(last_seen_at__isnull=True) | models.Q(last_seen_at__lt=timestamp)
    ).update(last_seen_at=timestamp)
    return contact
