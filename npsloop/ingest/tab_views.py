"""The survey's Segment tab (being written)."""

from django.http import HttpRequest, HttpResponse

from npsloop.accounts.decorators import member_required


@member_required
def segment_tab(request: HttpRequest, pk: int) -> HttpResponse:
    raise NotImplementedError
