"""Signed links in survey emails: one per score, one to unsubscribe.

The payload carries the invitation's random 144-bit key; the HMAC signature
(SECRET_KEY, per-purpose salt) makes a link unforgeable and binds the score.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

_RATING_SALT = "npsloop.invitations.rating"
_UNSUBSCRIBE_SALT = "npsloop.invitations.unsubscribe"


class LinkInvalid(Exception):
    """Forged, tampered or malformed."""


class LinkExpired(Exception):
    pass


@dataclass(frozen=True)
class RatingLink:
    key: str
    score: int


def rating_token(key: str, score: int) -> str:
    if not 0 <= score <= 10:
        raise ValueError("score must be 0..10")
    return signing.dumps([key, score], salt=_RATING_SALT)


def read_rating_token(token: str) -> RatingLink:
    max_age = settings.NPSLOOP_RATING_LINK_DAYS * 86400
    try:
        key, score = signing.loads(token, salt=_RATING_SALT, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise LinkExpired from exc
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise LinkInvalid from exc
    if not isinstance(key, str) or not isinstance(score, int) or not 0 <= score <= 10:
        raise LinkInvalid
    return RatingLink(key=key, score=score)


def unsubscribe_token(key: str) -> str:
    return signing.dumps(key, salt=_UNSUBSCRIBE_SALT)


def read_unsubscribe_token(token: str) -> str:
    try:
        key = signing.loads(token, salt=_UNSUBSCRIBE_SALT)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise LinkInvalid from exc
    if not isinstance(key, str):
        raise LinkInvalid
    return key


def rating_url(key: str, score: int) -> str:
    return settings.BASE_URL + reverse("rate", args=[rating_token(key, score)])


def unsubscribe_url(key: str) -> str:
    return settings.BASE_URL + reverse("unsubscribe", args=[unsubscribe_token(key)])
