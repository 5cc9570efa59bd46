from __future__ import annotations

from django.db.models import QuerySet

from npsloop.accounts.models import ApiToken, Membership, Organization
from npsloop.web.secrets import matches, split_prefix


def organization_of(user) -> Organization | None:
    if not user.is_authenticated:
        return None
    membership = (
        Membership.objects.select_related("organization").filter(user=user).order_by("id").first()
    )
    return membership.organization if membership else None


def members_of(organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.filter(organization=organization).select_related("user")


def api_tokens_of(organization: Organization) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(organization=organization).select_related("created_by")


def token_for(full_key: str) -> ApiToken | None:
    """The live token with this key, compared in constant time, or None."""
    prefix = split_prefix(full_key, "tok")
    if prefix is None:
        return None
    token = ApiToken.objects.filter(prefix=prefix, revoked_at=None).first()
    if token is None or not matches(full_key, token.digest):
        return None
    return token
