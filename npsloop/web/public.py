"""Helpers for pages customers open from an email: no login, not indexed, no referrer out."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render


def public_headers(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow"
    # same-origin: other sites never see the token URL, our own form POSTs keep their
    # Origin (with no-referrer browsers send "Origin: null" and CSRF checks fail).
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "private, no-store"
    return response


def link_problem(request, *, title: str, text: str, status: int) -> HttpResponse:
    return public_headers(
        render(request, "web/link_problem.html", {"title": title, "text": text}, status=status)
    )
