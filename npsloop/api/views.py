"""The inbox's export button: the same export as the API, for a signed-in member."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from django.views.decorators.http import require_GET

from npsloop.accounts.decorators import member_required
from npsloop.api.exports import FORMATS, export_response
from npsloop.responses.filters import parse


@member_required
@require_GET
def inbox_export(request: HttpRequest) -> HttpResponseBase:
    """The filtered inbox as CSV (default), JSON Lines or XLSX."""
    fmt = request.GET.get("format", "csv")
    if fmt not in FORMATS:
        fmt = "csv"
    # Like the inbox itself: a bad value is left out, not an error page.
    flt = parse(request.GET)
    stamp = timezone.localtime(timezone.now(), request.organization.zone)
    return export_response(request.organization, flt, fmt, f"responses-{stamp:%Y%m%d-%H%M}")
