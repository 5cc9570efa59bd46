"""Salesforce: a Case per response, or the latest score on the customer's Contact.

Authentication is the OAuth 2.0 client credentials flow of a connected (or external
client) app: POST {My Domain}/services/oauth2/token with grant_type=client_credentials,
the consumer key and secret; the answer's access_token and instance_url are used with
the REST API as a Bearer token. Salesforce does not say how long a token lives (the
org's session timeout decides), so it is kept in Django's cache for TOKEN_TTL and, on
a 401 from the REST API, dropped and fetched again once.

mode "case" (default): POST /services/data/vXX.X/sobjects/Case → 201 {"id"}.
mode "contact": the Contact with the response's email (SOQL, newest first), then
PATCH /sobjects/Contact/{id} with the configured score/comment/date fields → 204.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote, urlencode

import requests
from django.core.cache import cache

from npsloop.notifications.channels._feedback import Feedback, base_url
from npsloop.notifications.channels.base import ChannelError, Outcome, post
from npsloop.notifications.models import Channel, Delivery

API_VERSION = "v62.0"
# Shorter than the shortest session timeout most orgs use (30 min); a token that dies
# sooner gets a 401, and the call is made once more with a new one.
TOKEN_TTL = 25 * 60
# The org's rolling 24-hour API limit is used up: try again in an hour.
LIMIT_RETRY_AFTER = 3600.0
# Case.Subject is 255 characters, SuppliedName/SuppliedEmail 80, Description 32k.
SUBJECT_LENGTH = 255
SUPPLIED_LENGTH = 80
TEXT_LENGTH = 32000
FIELD_KEYS = ("score_field", "comment_field", "date_field")


def soql_quote(value: str) -> str:
    """A SOQL string literal: backslash escapes per Salesforce's quoted string escapes."""
    escapes = {
        "\\": "\\\\",
        "'": "\\'",
        '"': '\\"',
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\b": "\\b",
        "\f": "\\f",
    }
    return "'" + "".join(escapes.get(ch, ch) for ch in value) + "'"


# --- the token -----------------------------------------------------------------------


def _token_key(channel: Channel) -> str:
    # Keyed by the credentials too: a changed secret or URL never reuses an old token.
    client_id = str((channel.config or {}).get("client_id") or "")
    material = "\0".join((base_url(channel.url), client_id, channel.secret))
    return f"npsloop:salesforce-token:{channel.pk}:{hashlib.sha256(material.encode()).hexdigest()}"


def _fetch_token(channel: Channel) -> dict[str, str]:
    client_id = str((channel.config or {}).get("client_id") or "").strip()
    if not client_id or not channel.secret:
        raise ChannelError("Set the consumer key and the consumer secret.", retryable=False)
    form = urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": channel.secret,
        }
    )
    answer = post(
        f"{base_url(channel.url)}/services/oauth2/token",
        data=form.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
    )
    try:
        body = answer.json()
        token = {
            "access_token": str(body["access_token"]),
            "instance_url": base_url(str(body.get("instance_url") or channel.url)),
        }
    except (ValueError, KeyError, TypeError) as error:
        raise ChannelError("Salesforce answered the token request without a token.") from error
    cache.set(_token_key(channel), token, TOKEN_TTL)
    return token


def _token(channel: Channel) -> dict[str, str]:
    return cache.get(_token_key(channel)) or _fetch_token(channel)


def _limited(error: ChannelError) -> ChannelError:
    # Salesforce answers 403 REQUEST_LIMIT_EXCEEDED when the org's API calls are used up:
    # not the credentials' fault, and it passes.
    if error.status == 403 and "REQUEST_LIMIT_EXCEEDED" in str(error):
        return ChannelError(
            str(error), retryable=True, retry_after=LIMIT_RETRY_AFTER, status=error.status
        )
    return error


def call(
    channel: Channel, method: str, path: str, *, json: Any = None
) -> tuple[requests.Response, str]:
    """One REST API call with a cached token; a 401 gets one more try with a new token."""
    token = _token(channel)
    for attempt in (1, 2):
        try:
            answer = post(
                token["instance_url"] + path,
                method=method,
                json=json,
                headers={
                    "Authorization": f"Bearer {token['access_token']}",
                    "Accept": "application/json",
                },
            )
            return answer, token["instance_url"]
        except ChannelError as error:
            if error.status != 401 or attempt == 2:
                raise _limited(error) from error
            cache.delete(_token_key(channel))
            token = _fetch_token(channel)
    raise AssertionError("unreachable")  # pragma: no cover


# --- what is written -----------------------------------------------------------------


def _data(path: str) -> str:
    return f"/services/data/{API_VERSION}{path}"


def create_case(channel: Channel, feedback: Feedback) -> Outcome:
    case = {
        "Subject": feedback.subject()[:SUBJECT_LENGTH],
        "Description": feedback.text()[:TEXT_LENGTH],
        "Origin": "npsloop",
    }
    # A case needs no email: without one the feedback and its link still arrive.
    if feedback.email and len(feedback.email) <= SUPPLIED_LENGTH:
        case["SuppliedEmail"] = feedback.email
    if feedback.name:
        case["SuppliedName"] = feedback.name[:SUPPLIED_LENGTH]
    answer, instance = call(channel, "POST", _data("/sobjects/Case"), json=case)
    try:
        case_id = answer.json()["id"]
    except (ValueError, KeyError, TypeError):
        return Outcome(status=answer.status_code)
    return Outcome(status=answer.status_code, external_url=f"{instance}/{case_id}")


def contact_fields(channel: Channel, feedback: Feedback) -> dict[str, Any]:
    config = channel.config or {}
    values = {
        "score_field": feedback.score,
        "comment_field": feedback.comment[:TEXT_LENGTH],
        "date_field": feedback.date,
    }
    fields = {
        str(config[key]).strip(): values[key]
        for key in FIELD_KEYS
        if str(config.get(key) or "").strip()
    }
    if not fields:
        raise ChannelError(
            "Set at least one Contact field (score, comment or date) for mode contact.",
            retryable=False,
        )
    return fields


def update_contact(channel: Channel, feedback: Feedback) -> Outcome:
    fields = contact_fields(channel, feedback)
    email = feedback.require_email()
    # S608: the one value in the query is a quoted, escaped SOQL literal.
    where = f"Email = {soql_quote(email)} ORDER BY LastModifiedDate DESC LIMIT 1"
    soql = "SELECT Id FROM Contact WHERE " + where  # noqa: S608
    answer, instance = call(channel, "GET", _data("/query?" + urlencode({"q": soql})))
    try:
        records = answer.json()["records"]
        contact_id = str(records[0]["Id"]) if records else ""
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise ChannelError("Salesforce answered the contact query unreadably.") from error
    if feedback.is_test:
        # A test checks the connection and the query; it changes no real contact.
        link = f"{instance}/{contact_id}" if contact_id else ""
        return Outcome(status=answer.status_code, external_url=link)
    if not contact_id:
        raise ChannelError(
            "Salesforce has no Contact with the email address of this response.",
            retryable=False,
        )
    answer, instance = call(
        channel, "PATCH", _data(f"/sobjects/Contact/{quote(contact_id, safe='')}"), json=fields
    )
    return Outcome(status=answer.status_code, external_url=f"{instance}/{contact_id}")


def send(channel: Channel, delivery: Delivery) -> Outcome:
    feedback = Feedback.of(delivery.payload)
    mode = str((channel.config or {}).get("mode") or "case").strip().lower()
    if mode == "case":
        return create_case(channel, feedback)
    if mode == "contact":
        return update_contact(channel, feedback)
    raise ChannelError(f"Unknown mode {mode[:40]!r}: use case or contact.", retryable=False)
