from __future__ import annotations

from django.db.models import QuerySet

from npsloop.accounts.models import ApiToken, Membership, Organization
from npsloop.web.secrets import matches, split_prefix


def membership_of(user) -> Membership | None:
    """The signed-in user's membership (their first organization's)."""
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.select_related("organization").filter(user=user).order_by("id").first()
    )


def organization_of(user) -> Organization | None:
    membership = membership_of(user)
    return membership.organization if membership else None


def member_languages(organization_id: int, user_ids: list[int]) -> dict[int, str]:
    """The chosen language of these users in this organization ("" when none)."""
    return dict(
        Membership.objects.filter(
            organization_id=organization_id, user_id__in=user_ids
        ).values_list("user_id", "language")
    )


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
