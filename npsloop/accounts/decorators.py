from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect


def member_required(view):
    """Signed in and member of an organization; the view reads request.organization."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.organization:
            return redirect("no_organization")
        return view(request, *args, **kwargs)

    return wrapper
