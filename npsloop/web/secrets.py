"""Random keys that are shown once and stored only as a digest."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class IssuedKey:
    full: str  # shown to the user once
    prefix: str  # stored, used to find the row
    digest: str  # stored


def issue_key(kind: str) -> IssuedKey:
    """A key like ``npl_tok_AbCd1234_<43 chars>``: 256 random bits after the prefix."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    full = f"npl_{kind}_{prefix}_{secret}"
    return IssuedKey(full=full, prefix=prefix, digest=digest_of(full))


def digest_of(full_key: str) -> str:
    return hashlib.sha256(full_key.encode()).hexdigest()


def split_prefix(full_key: str, kind: str) -> str | None:
    parts = full_key.strip().split("_", 3)
    if len(parts) != 4 or parts[0] != "npl" or parts[1] != kind:
        return None
    return parts[2]


def matches(full_key: str, digest: str) -> bool:
    return hmac.compare_digest(digest_of(full_key.strip()), digest)


def random_token(nbytes: int = 18) -> str:
    """URL-safe random token; 18 bytes = 144 bits."""
    return secrets.token_urlsafe(nbytes)
