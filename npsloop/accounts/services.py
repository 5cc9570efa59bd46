from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from npsloop.accounts.models import ApiToken, Membership, Organization
from npsloop.web.secrets import issue_key

User = get_user_model()


@dataclass(frozen=True)
class NewOrganization:
    organization: Organization
    user: AbstractBaseUser


@transaction.atomic
def create_organization(
    *, name: str, email: str, password: str | None, time_zone: str = "UTC"
) -> NewOrganization:
    """An organization with its first member, the owner. The email is the login name."""
    email = User.objects.normalize_email(email).lower()
    organization = Organization.objects.create(name=name, time_zone=time_zone)
    user = User.objects.create_user(username=email, email=email, password=password)
    Membership.objects.create(organization=organization, user=user, role=Membership.Role.OWNER)
    return NewOrganization(organization=organization, user=user)


@transaction.atomic
def add_member(*, organization: Organization, email: str, password: str | None) -> AbstractBaseUser:
    email = User.objects.normalize_email(email).lower()
    user, _created = User.objects.get_or_create(username=email, defaults={"email": email})
    if password:
        user.set_password(password)
        user.save(update_fields=["password"])
    Membership.objects.get_or_create(organization=organization, user=user)
    return user


def create_api_token(
    *, organization: Organization, user: AbstractBaseUser | None, name: str, scope: str
) -> tuple[ApiToken, str]:
    """Returns the row and the full token, which is never stored and shown once."""
    key = issue_key("tok")
    token = ApiToken.objects.create(
        organization=organization,
        created_by=user,
        name=name,
        prefix=key.prefix,
        digest=key.digest,
        scope=scope,
    )
    return token, key.full


def set_member_language(*, membership: Membership, language: str) -> Membership:
    """The member's language for pages and emails; "" follows the browser."""
    if language not in {"", *(code for code, _name in settings.LANGUAGES)}:
        raise ValueError(f"unknown language {language!r}")
    Membership.objects.filter(pk=membership.pk).update(language=language)
    membership.language = language
    return membership


def revoke_api_token(*, organization: Organization, token_id: int) -> None:
    ApiToken.objects.filter(organization=organization, pk=token_id, revoked_at=None).update(
        revoked_at=timezone.now()
    )
