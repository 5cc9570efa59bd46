"""The feedback inbox (being written)."""

from django.http import HttpRequest, HttpResponse

from npsloop.accounts.decorators import member_required


@member_required
def inbox(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


@member_required
def inbox_detail(request: HttpRequest, pk: int) -> HttpResponse:
    raise NotImplementedError
