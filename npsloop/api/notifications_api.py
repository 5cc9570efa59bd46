"""Notification channels and rules, their delivery log, and Zapier REST hooks."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Path, Query, Router, Schema, Status
from pydantic import ConfigDict

from npsloop.api.auth import require_write
from npsloop.api.errors import NotFound
from npsloop.api.params import MAX_ID
from npsloop.api.schemas import BodyIn
from npsloop.api.shared import ERRORS
from npsloop.notifications import configure, payloads, selectors, services
from npsloop.notifications.channels.zapier import flatten
from npsloop.notifications.models import Channel, Delivery, Rule
from npsloop.responses.models import Response

router = Router(tags=["notifications"])

ChannelKind = Literal["email", "webhook", "slack", "zendesk", "freshdesk", "salesforce", "emarsys"]
TriggerName = Literal["response", "comment", "updated", "unsubscribed", "hourly", "daily", "weekly"]
ZapierEvent = Literal["new_response", "new_comment"]
# An id as the database stores it: larger numbers are a 422, not a crash.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


class StrictIn(BodyIn):
    model_config = ConfigDict(extra="forbid")


class ChannelIn(StrictIn):
    kind: ChannelKind
    name: str = Field(..., min_length=1, max_length=100)
    url: str = Field("", max_length=2000)
    config: dict[str, Any] = {}
    members: list[Id] = Field([], max_length=100)
    secret: str = Field("", max_length=2000)


class ChannelOut(Schema):
    id: int
    kind: str
    name: str
    url: str
    config: dict[str, Any]
    event: str
    active: bool
    disabled_reason: str
    has_secret: bool
    created_at: dt.datetime


class ChannelCreated(ChannelOut):
    signing_secret: str | None = Field(
        None, description="Webhooks only: the whsec_ secret, shown this once."
    )


class AttemptOut(Schema):
    at: dt.datetime
    status: int | None
    ok: bool
    error: str
    duration_ms: int


class DeliveryOut(Schema):
    id: int
    channel_id: int
    rule_id: int | None
    response_id: int | None
    event_id: str
    event_type: str
    is_test: bool
    state: str
    attempts: int
    next_attempt_at: dt.datetime
    delivered_at: dt.datetime | None
    last_status: int | None
    last_error: str
    last_duration_ms: int | None
    external_url: str
    created_at: dt.datetime
    attempt_log: list[AttemptOut]


class RuleIn(StrictIn):
    name: str = Field(..., min_length=1, max_length=100)
    trigger: TriggerName
    channels: list[Id] = Field(..., min_length=1, max_length=50)
    saved_filter_id: Id | None = None
    active: bool = True


class RulePatch(StrictIn):
    name: str | None = Field(None, min_length=1, max_length=100)
    trigger: TriggerName | None = None
    channels: list[Id] | None = Field(None, min_length=1, max_length=50)
    saved_filter_id: Id | None = None
    active: bool | None = None


class RuleOut(Schema):
    id: int
    name: str
    trigger: str
    channels: list[int]
    saved_filter_id: int | None
    active: bool
    created_at: dt.datetime


class HookIn(StrictIn):
    target_url: str = Field(..., min_length=1, max_length=2000)
    event: ZapierEvent


class HookOut(Schema):
    id: int
    target_url: str
    event: str


class MeOut(Schema):
    organization: str
    token: str
    scope: str


def _channel(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.pk,
        "kind": channel.kind,
        "name": channel.name,
        "url": channel.url,
        "config": channel.config,
        "event": channel.event,
        "active": channel.active,
        "disabled_reason": channel.disabled_reason,
        "has_secret": bool(channel.secret),
        "created_at": channel.created_at,
    }


def _rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.pk,
        "name": rule.name,
        "trigger": rule.trigger,
        "channels": sorted(c.pk for c in rule.channels.all()),
        "saved_filter_id": rule.saved_filter_id,
        "active": rule.active,
        "created_at": rule.created_at,
    }


def _delivery(delivery: Delivery) -> dict[str, Any]:
    return {
        **{f: getattr(delivery, f) for f in DeliveryOut.model_fields if f != "attempt_log"},
        "attempt_log": [
            {
                "at": a.at,
                "status": a.status,
                "ok": a.ok,
                "error": a.error,
                "duration_ms": a.duration_ms,
            }
            for a in delivery.attempt_log.all()
        ],
    }


def _own_channel(request: HttpRequest, channel_id: PathId) -> Channel:
    channel = selectors.channels_of(request.auth.organization).filter(pk=channel_id).first()
    if channel is None:
        raise NotFound(_("Not found."))
    return channel


# --- channels --------------------------------------------------------------------------


@router.get("/notification-channels", response={200: list[ChannelOut], **ERRORS})
def list_channels(request: HttpRequest):
    return [_channel(c) for c in selectors.channels_of(request.auth.organization)]


@router.post("/notification-channels", response={201: ChannelCreated, **ERRORS})
def create_channel(request: HttpRequest, payload: ChannelIn):
    """Secrets are write-only; a webhook's signing secret is generated and shown once."""
    require_write(request)
    channel, shown = configure.create_channel(
        organization=request.auth.organization,
        actor=request.auth.created_by,
        kind=payload.kind,
        name=payload.name,
        url=payload.url,
        config=payload.config,
        members=payload.members,
        secret=payload.secret,
    )
    return Status(201, _channel(channel) | {"signing_secret": shown or None})


@router.delete("/notification-channels/{channel_id}", response={204: None, **ERRORS})
def delete_channel(request: HttpRequest, channel_id: PathId):
    require_write(request)
    configure.delete_channel(channel=_own_channel(request, channel_id))
    return Status(204, None)


@router.post("/notification-channels/{channel_id}/test", response={202: DeliveryOut, **ERRORS})
def test_channel(request: HttpRequest, channel_id: PathId):
    """Send a sample event now; the result is in the returned delivery's log."""
    require_write(request)
    delivery = services.send_test(channel=_own_channel(request, channel_id))
    delivery.refresh_from_db()
    return Status(202, _delivery(delivery))


@router.get(
    "/notification-channels/{channel_id}/deliveries",
    response={200: list[DeliveryOut], **ERRORS},
)
def channel_deliveries(request: HttpRequest, channel_id: PathId):
    """The newest 100 deliveries of the channel, each with its attempts."""
    return [_delivery(d) for d in selectors.delivery_log(_own_channel(request, channel_id))]


@router.post("/deliveries/{delivery_id}/resend", response={202: DeliveryOut, **ERRORS})
def resend_delivery(request: HttpRequest, delivery_id: PathId):
    """Send again with the same event id (webhook-id)."""
    require_write(request)
    delivery = Delivery.objects.filter(
        organization=request.auth.organization, pk=delivery_id
    ).first()
    if delivery is None:
        raise NotFound(_("Not found."))
    services.resend(delivery=delivery)
    delivery.refresh_from_db()
    return Status(202, _delivery(delivery))


# --- rules -----------------------------------------------------------------------------


@router.get("/notification-rules", response={200: list[RuleOut], **ERRORS})
def list_rules(request: HttpRequest):
    return [_rule(r) for r in selectors.rules_of(request.auth.organization)]


@router.post("/notification-rules", response={201: RuleOut, **ERRORS})
def create_rule(request: HttpRequest, payload: RuleIn):
    require_write(request)
    rule = configure.save_rule(
        organization=request.auth.organization,
        actor=request.auth.created_by,
        name=payload.name,
        trigger=payload.trigger,
        channel_ids=payload.channels,
        saved_filter_id=payload.saved_filter_id,
        active=payload.active,
    )
    return Status(201, _rule(rule))


def _own_rule(request: HttpRequest, rule_id: PathId) -> Rule:
    rule = selectors.rules_of(request.auth.organization).filter(pk=rule_id).first()
    if rule is None:
        raise NotFound(_("Not found."))
    return rule


@router.patch("/notification-rules/{rule_id}", response={200: RuleOut, **ERRORS})
def update_rule(request: HttpRequest, rule_id: PathId, payload: RulePatch):
    require_write(request)
    rule = _own_rule(request, rule_id)
    given = payload.model_dump(exclude_unset=True)
    rule = configure.save_rule(
        organization=request.auth.organization,
        actor=request.auth.created_by,
        name=given.get("name", rule.name),
        trigger=given.get("trigger", rule.trigger),
        channel_ids=given.get("channels", [c.pk for c in rule.channels.all()]),
        saved_filter_id=given.get("saved_filter_id", rule.saved_filter_id),
        active=given.get("active", rule.active),
        rule=rule,
    )
    return _rule(selectors.rule_of(request.auth.organization, rule.pk))


@router.delete("/notification-rules/{rule_id}", response={204: None, **ERRORS})
def delete_rule(request: HttpRequest, rule_id: PathId):
    require_write(request)
    configure.delete_rule(rule=_own_rule(request, rule_id))
    return Status(204, None)


# --- Zapier REST hooks -----------------------------------------------------------------


@router.get("/me", response={200: MeOut, **ERRORS}, tags=["zapier"])
def me(request: HttpRequest):
    """Who the token is: Zapier's connection test."""
    token = request.auth
    return {"organization": token.organization.name, "token": token.name, "scope": token.scope}


@router.post("/hooks", response={201: HookOut, **ERRORS}, tags=["zapier"])
def subscribe_hook(request: HttpRequest, payload: HookIn):
    """Subscribe a REST hook: `new_response` (each rating) or `new_comment`."""
    require_write(request)
    channel, _shown = configure.create_channel(
        organization=request.auth.organization,
        actor=request.auth.created_by,
        kind=Channel.Kind.ZAPIER,
        name=f"Zapier {payload.event}",
        url=payload.target_url,
        event=payload.event,
    )
    return Status(201, {"id": channel.pk, "target_url": channel.url, "event": channel.event})


class SampleQuery(Schema):
    event: ZapierEvent = "new_response"


@router.get("/hooks/sample", response={200: list[dict[str, Any]], **ERRORS}, tags=["zapier"])
def hook_sample(request: HttpRequest, query: Query[SampleQuery]):
    """The newest three items as a hook would post them (Zapier's perform list)."""
    responses = Response.objects.filter(organization=request.auth.organization)
    if query.event == "new_comment":
        responses = responses.exclude(comment="")
    items = []
    for response in (
        responses.select_related("survey", "contact", "assignee")
        .prefetch_related("tags")
        .order_by("-created_at", "-pk")[:3]
    ):
        event = payloads.response_event(payloads.RESPONSE_CREATED, response)
        items.append({**flatten(event), "event_id": f"sample_{response.pk}"})
    return items


@router.delete("/hooks/{hook_id}", response={204: None, **ERRORS}, tags=["zapier"])
def unsubscribe_hook(request: HttpRequest, hook_id: PathId):
    require_write(request)
    channel = _own_channel(request, hook_id)
    if channel.kind != Channel.Kind.ZAPIER:
        raise NotFound(_("Not found."))
    configure.delete_channel(channel=channel)
    return Status(204, None)
