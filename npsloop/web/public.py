"""Helpers for pages customers open from an email: no login, not indexed, no referrer."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render


def public_headers(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-store"
    return response


def link_problem(request, *, title: str, text: str, status: int) -> HttpResponse:
    return public_headers(
        render(request, "web/link_problem.html", {"title": title, "text": text}, status=status)
    )
