from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from npsloop.accounts.selectors import organization_of


class CurrentOrganizationMiddleware:
    """Puts the signed-in member's organization on the request (lazily)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.organization = SimpleLazyObject(lambda: organization_of(request.user))
        return self.get_response(request)
