from __future__ import annotations

from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from npsloop.accounts.selectors import organization_of


class CurrentOrganizationMiddleware:
    """Puts the signed-in member's organization on the request (lazily)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.organization = SimpleLazyObject(lambda: organization_of(request.user))
        # Members see times in their organization's zone, as the filters count days.
        if request.user.is_authenticated and request.organization:
            timezone.activate(request.organization.zone)
        else:
            timezone.deactivate()
        return self.get_response(request)
