"""Share links: a static snapshot of filtered responses, readable without an account.

The link carries a random token (256 bits); only its SHA-256 digest is stored, so the
full URL is shown once, when the link is made. The snapshot is taken at creation and
never updated: new responses do not appear. Links expire (30 days by default, 90 at
most) and can be revoked.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from npsloop.accounts.models import Organization
from npsloop.insights.nps import category as category_of
from npsloop.responses.filters import compile_filter, parse
from npsloop.responses.models import Response, ShareLink
from npsloop.web.secrets import digest_of

SNAPSHOT_CAP = 10_000
DEFAULT_DAYS = 30
MAX_DAYS = 90
TOKEN_BYTES = 32  # 256 bits; token_urlsafe gives 43 characters
# What a token from token_urlsafe looks like; anything else is not looked up at all.
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{22,128}$")
_CATEGORIES = {"promoter", "passive", "detractor"}


# --- services ---------------------------------------------------------------


def snapshot_query(organization: Organization, query: str) -> QuerySet[Response]:
    """The organization's responses matching the filter query, newest first."""
    flt = parse(query)
    return (
        compile_filter(organization, flt)
        .order_by("-created_at", "-id")
        .select_related("survey", "contact")
    )


def _row(response: Response, *, show_identity: bool) -> dict:
    row = {
        "score": response.score,
        "category": response.category,
        "comment": response.comment,
        "survey": response.survey.name,
        "date": response.created_at.isoformat(),
        "language": response.language,
    }
    if show_identity:
        contact = response.contact
        row["name"] = contact.full_name if contact else ""
        row["email"] = contact.email if contact else ""
    return row


def share_url(token: str) -> str:
    return settings.BASE_URL + reverse("share_view", args=[token])


@transaction.atomic
def create_share_link(
    *,
    organization: Organization,
    member: AbstractBaseUser | None,
    query: str,
    title: str,
    show_identity: bool = False,
    days: int = DEFAULT_DAYS,
) -> tuple[ShareLink, str]:
    """Take the snapshot and store it with the digest of a fresh token.

    Returns the row and the full URL, which is never stored and shown once.
    `count` is the number of matching responses; the snapshot holds at most
    SNAPSHOT_CAP of them (the newest).
    """
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be 1..{MAX_DAYS}, got {days}")
    flt = parse(query)
    qs = snapshot_query(organization, query)
    total = qs.count()
    rows = [_row(r, show_identity=show_identity) for r in qs[:SNAPSHOT_CAP]]
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = ShareLink.objects.create(
        organization=organization,
        token_digest=digest_of(token),
        title=title.strip()[:200],
        query=flt.to_query(),
        show_identity=show_identity,
        snapshot=rows,
        count=max(total, len(rows)),
        created_by=member,
        expires_at=timezone.now() + dt.timedelta(days=days),
    )
    return link, share_url(token)


def revoke_share_link(*, organization: Organization, pk: int) -> ShareLink:
    """Revoke one of the organization's links (again is harmless).

    Raises ShareLink.DoesNotExist for a link of another organization.
    """
    link = ShareLink.objects.get(organization=organization, pk=pk)
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
    return link


# --- selectors --------------------------------------------------------------


def share_links_of(organization: Organization) -> QuerySet[ShareLink]:
    return (
        ShareLink.objects.filter(organization=organization)
        .select_related("created_by")
        .defer("snapshot")
        .order_by("-created_at", "-id")
    )


def share_for_token(token: str) -> ShareLink | None:
    """The link with this token, or None; revoked and expired links are returned too."""
    if not isinstance(token, str) or not _TOKEN_SHAPE.match(token):
        return None
    digest = digest_of(token)
    link = ShareLink.objects.filter(token_digest=digest).select_related("organization").first()
    if link is None or not hmac.compare_digest(link.token_digest, digest):
        return None
    return link


def state_of(link: ShareLink, now: dt.datetime | None = None) -> str:
    """ "revoked", "expired" or "active"."""
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= (now or timezone.now()):
        return "expired"
    return "active"


@dataclass(frozen=True)
class SharedResponse:
    score: int
    category: str
    comment: str
    survey: str
    date: dt.datetime | None
    language: str
    name: str
    email: str


def shared_responses(link: ShareLink) -> list[SharedResponse]:
    """The snapshot as typed rows; a damaged row is left out rather than failing the page."""
    rows = link.snapshot if isinstance(link.snapshot, list) else []
    result = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        try:
            score = int(row.get("score"))
        except (TypeError, ValueError):
            continue
        if not 0 <= score <= 10:
            continue
        category = row.get("category")
        if category not in _CATEGORIES:
            category = category_of(score)
        try:
            date = dt.datetime.fromisoformat(str(row.get("date", "")))
        except ValueError:
            date = None
        if date is not None and timezone.is_naive(date):
            date = timezone.make_aware(date, dt.UTC)
        result.append(
            SharedResponse(
                score=score,
                category=category,
                comment=str(row.get("comment") or ""),
                survey=str(row.get("survey") or ""),
                date=date,
                language=str(row.get("language") or ""),
                name=str(row.get("name") or "") if link.show_identity else "",
                email=str(row.get("email") or "") if link.show_identity else "",
            )
        )
    return result
