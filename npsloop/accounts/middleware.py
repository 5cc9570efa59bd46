from __future__ import annotations

from django.utils import timezone, translation
from django.utils.functional import SimpleLazyObject

from npsloop.accounts.selectors import membership_of


class CurrentOrganizationMiddleware:
    """Puts the signed-in member's membership and organization on the request (lazily),
    and shows the pages in the member's time zone and chosen language."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = SimpleLazyObject(lambda: membership_of(request.user))
        request.organization = SimpleLazyObject(
            lambda: request.membership.organization if request.membership else None
        )
        # Members see times in their organization's zone, as the filters count days.
        if request.user.is_authenticated and request.membership:
            timezone.activate(request.organization.zone)
            if request.membership.language:  # else LocaleMiddleware's pick (the browser's)
                translation.activate(request.membership.language)
                request.LANGUAGE_CODE = request.membership.language
        else:
            timezone.deactivate()
        return self.get_response(request)
