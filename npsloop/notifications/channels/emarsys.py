"""Emarsys: the latest score, comment and date in three contact fields, keyed by email.

Core API v2 (dev.emarsys.com): PUT {url}/api/v2/contact/?create_if_not_exists=1 with
{"key_id": "3", "contacts": [{"3": email, field id: value, ...}]}; field 3 is the
email address. Authenticated with a WSSE UsernameToken in the X-WSSE header, made
fresh for every request: PasswordDigest = base64(lowercase hex sha1(nonce + created +
secret)) — the hex string is encoded, not the raw digest, as Emarsys specifies.

Emarsys answers {"replyCode": 0, "replyText": "OK", "data": {...}}; a non-zero
replyCode, or a contact listed under data.errors, is a failure.

A test event writes nothing: it checks the credentials and that the three field ids
exist (GET /api/v2/field), so no made-up contact lands in the marketing database.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from typing import Any

import requests

from npsloop.notifications.channels._feedback import Feedback, base_url
from npsloop.notifications.channels.base import ChannelError, Outcome, post
from npsloop.notifications.models import Channel, Delivery

EMAIL_FIELD = "3"
FIELD_KEYS = ("score_field", "comment_field", "date_field")
# A "Large text" field holds 1,000 characters (a "Long text" one 255).
COMMENT_LENGTH = 1000


def wsse_header(username: str, secret: str, *, nonce: str = "", created: str = "") -> str:
    nonce = nonce or secrets.token_hex(16)
    created = created or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    hex_digest = hashlib.sha1(  # noqa: S324  (Emarsys' WSSE profile is SHA-1)
        (nonce + created + secret).encode()
    ).hexdigest()
    digest = base64.b64encode(hex_digest.encode()).decode()
    return (
        f'UsernameToken Username="{username}", PasswordDigest="{digest}", '
        f'Nonce="{nonce}", Created="{created}"'
    )


def _fields(channel: Channel) -> dict[str, str]:
    config = channel.config or {}
    fields = {key: str(config.get(key) or "").strip() for key in FIELD_KEYS}
    missing = [key for key, value in fields.items() if not value]
    if missing or not str(config.get("username") or "").strip() or not channel.secret:
        raise ChannelError(
            "Set the API user name, the secret and the three field ids.", retryable=False
        )
    return fields


def _call(channel: Channel, method: str, path: str, json: Any = None) -> requests.Response:
    username = str(channel.config["username"]).strip()
    answer = post(
        base_url(channel.url) + path,
        method=method,
        json=json,
        headers={
            "X-WSSE": wsse_header(username, channel.secret),
            "Accept": "application/json",
        },
    )
    try:
        reply = answer.json()
        code = int(reply.get("replyCode", -1))
    except (ValueError, TypeError, AttributeError) as error:
        raise ChannelError("Emarsys answered with something that is not its JSON.") from error
    if code != 0:
        text = str(reply.get("replyText") or "")[:300]
        raise ChannelError(
            f"Emarsys answered replyCode {code}: {text}", retryable=False, status=answer.status_code
        )
    return answer


def _errors(data: Any) -> str:
    """data.errors: {contact key: {error code: message}} (a list when empty)."""
    errors = data.get("errors") if isinstance(data, dict) else None
    if not errors:
        return ""
    if isinstance(errors, dict):
        parts = []
        for per_contact in errors.values():
            if isinstance(per_contact, dict):
                parts += [f"{code}: {message}" for code, message in per_contact.items()]
            else:
                parts.append(str(per_contact))
        return "; ".join(parts)[:500]
    return str(errors)[:500]


def check_fields(channel: Channel, fields: dict[str, str]) -> Outcome:
    answer = _call(channel, "GET", "/api/v2/field")
    known: set[str] = set()
    for item in answer.json().get("data") or []:
        if isinstance(item, dict):
            known.add(str(item.get("id")))
            if item.get("string_id"):
                known.add(str(item["string_id"]))
    unknown = [value for value in fields.values() if value not in known]
    if unknown:
        raise ChannelError(
            f"Emarsys has no field with the id {', '.join(unknown)}.", retryable=False
        )
    return Outcome(status=answer.status_code)


def send(channel: Channel, delivery: Delivery) -> Outcome:
    feedback = Feedback.of(delivery.payload)
    fields = _fields(channel)
    if feedback.is_test:
        return check_fields(channel, fields)
    contact = {
        EMAIL_FIELD: feedback.require_email(),
        fields["score_field"]: feedback.score,
        fields["comment_field"]: feedback.comment[:COMMENT_LENGTH],
        fields["date_field"]: feedback.date,
    }
    answer = _call(
        channel,
        "PUT",
        "/api/v2/contact/?create_if_not_exists=1",
        {"key_id": EMAIL_FIELD, "contacts": [contact]},
    )
    problem = _errors(answer.json().get("data"))
    if problem:
        raise ChannelError(f"Emarsys refused the contact: {problem}", retryable=False)
    return Outcome(status=answer.status_code)
