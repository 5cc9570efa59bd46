"""Writes of the insights app: the member's digest opt-in."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from npsloop.accounts.models import Membership, Organization


def set_weekly_digest(*, organization: Organization, user, enabled: bool) -> Membership:
    """Turn the weekly digest on or off for the user's membership in the organization."""
    membership = Membership.objects.filter(organization=organization, user_id=user.pk).first()
    if membership is None:
        raise PermissionDenied("not a member of this organization")
    if membership.weekly_digest != enabled:
        Membership.objects.filter(pk=membership.pk).update(weekly_digest=enabled)
        membership.weekly_digest = enabled
    return membership
