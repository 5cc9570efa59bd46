"""Writes of the dashboard and the API: channels and rules, validated the same way."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from npsloop.accounts.models import Organization
from npsloop.notifications import services
from npsloop.notifications.kinds import KINDS
from npsloop.notifications.models import Channel, Rule
from npsloop.responses.models import SavedFilter
from npsloop.web.egress import UnsafeURL, check_url

MAX_RECIPIENTS = 50
TICKET_KINDS = {Channel.Kind.ZENDESK, Channel.Kind.FRESHDESK}


def clean_config(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    """The config of a channel type from form or API values; raises ValidationError."""
    spec = KINDS[kind]
    config: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for item in spec.fields:
        raw = values.get(item.key)
        if item.is_list:
            if isinstance(raw, str):
                raw = [part.strip() for part in raw.split(",")]
            value: Any = [str(v).strip() for v in raw or [] if str(v).strip()]
        else:
            value = str(raw or "").strip()
        if item.required and not value:
            errors[item.key] = _("This field is required.")
        if value:
            config[item.key] = value
    recipients = config.get("recipients", [])
    if kind == "email":
        if len(recipients) > MAX_RECIPIENTS:
            errors["recipients"] = _("At most %(max)d addresses.") % {"max": MAX_RECIPIENTS}
        for address in recipients:
            try:
                validate_email(address)
            except ValidationError:
                errors["recipients"] = _("%(address)s is not an email address.") % {
                    "address": address
                }
        if config.get("language", "en") not in ("en", "de"):
            errors["language"] = _("Choose en or de.")
    if kind == "salesforce" and config.get("mode", "case") not in ("case", "contact"):
        errors["mode"] = _("Choose case or contact.")
    if errors:
        raise ValidationError(errors)
    return config


def clean_url(kind: str, url: str) -> str:
    if kind != Channel.Kind.ZAPIER and KINDS[kind].url_label is None:
        return ""
    if not url.strip():
        raise ValidationError({"url": _("This field is required.")})
    try:
        return check_url(url)
    except UnsafeURL as error:
        raise ValidationError({"url": str(error)}) from error


def create_channel(
    *,
    organization: Organization,
    actor: AbstractBaseUser | None,
    kind: str,
    name: str,
    url: str = "",
    config: dict[str, Any] | None = None,
    members: list[int] | None = None,
    secret: str = "",
    event: str = "",
) -> tuple[Channel, str]:
    """Create a channel; returns it and the secret to show once ("" when none is shown)."""
    if kind not in KINDS and kind != Channel.Kind.ZAPIER:
        raise ValidationError({"kind": _("Unknown channel type.")})
    clean = {} if kind == Channel.Kind.ZAPIER else clean_config(kind, config or {})
    if kind == "email":
        clean["members"] = _member_ids(organization, members or [])
        if not clean.get("recipients") and not clean["members"]:
            raise ValidationError({"recipients": _("Add at least one address or member.")})
    spec = KINDS.get(kind)
    shown = ""
    if kind == Channel.Kind.WEBHOOK:
        secret = shown = services.new_webhook_secret()
    elif spec is not None and spec.secret_label and not secret.strip():
        raise ValidationError({"secret": _("This field is required.")})
    channel = Channel.objects.create(
        organization=organization,
        kind=kind,
        name=name.strip()[:100] or str(Channel.Kind(kind).label),
        url=clean_url(kind, url),
        config=clean,
        secret=secret.strip(),
        event=event,
        created_by=actor,
    )
    return channel, shown


def _member_ids(organization: Organization, ids: list[int]) -> list[int]:
    return sorted(
        organization.memberships.filter(user_id__in=ids).values_list("user_id", flat=True)
    )


def replace_secret(*, channel: Channel, secret: str) -> None:
    """A new credential for a vendor channel (the old one is never shown)."""
    if not secret.strip():
        raise ValidationError({"secret": _("This field is required.")})
    Channel.objects.filter(pk=channel.pk).update(secret=secret.strip())


def rotate_secret(*, channel: Channel) -> str:
    secret = services.new_webhook_secret()
    Channel.objects.filter(pk=channel.pk).update(secret=secret)
    return secret


def set_channel_active(*, channel: Channel, active: bool) -> None:
    if active:
        services.enable_channel(channel=channel)
    else:
        Channel.objects.filter(pk=channel.pk).update(active=False, disabled_reason="")


def delete_channel(*, channel: Channel) -> None:
    channel.delete()


@transaction.atomic
def save_rule(
    *,
    organization: Organization,
    actor: AbstractBaseUser | None,
    name: str,
    trigger: str,
    channel_ids: list[int],
    saved_filter_id: int | None = None,
    active: bool = True,
    rule: Rule | None = None,
) -> Rule:
    """Create or update a rule; channels and the filter must be the organization's."""
    errors: dict[str, str] = {}
    if trigger not in Rule.Trigger.values:
        errors["trigger"] = _("Unknown trigger.")
    channels = list(
        Channel.objects.filter(organization=organization, pk__in=channel_ids).exclude(
            kind=Channel.Kind.ZAPIER
        )
    )
    if not channels or len(channels) != len(set(channel_ids)):
        errors["channels"] = _("Choose at least one of your channels.")
    if trigger in services.PERIODS and any(c.kind not in services.DIGEST_KINDS for c in channels):
        errors["channels"] = _("Digests go to email, webhook or Slack channels only.")
    elif trigger == Rule.Trigger.UNSUBSCRIBED and any(
        c.kind not in services.DIGEST_KINDS for c in channels
    ):
        errors["channels"] = _("Unsubscribes go to email, webhook or Slack channels only.")
    elif trigger == Rule.Trigger.UPDATED and any(c.kind in TICKET_KINDS for c in channels):
        # A ticket for every tag or status change would flood the help desk.
        errors["channels"] = _("Tickets are made for new responses or comments only.")
    saved = None
    if saved_filter_id is not None:
        saved = SavedFilter.objects.filter(organization=organization, pk=saved_filter_id).first()
        if saved is None:
            errors["saved_filter"] = _("Choose one of your saved filters.")
    if not name.strip():
        errors["name"] = _("This field is required.")
    if errors:
        raise ValidationError(errors)
    if rule is None:
        rule = Rule(organization=organization, created_by=actor)
    if rule.trigger != trigger:
        rule.digest_until = None  # a new period type starts afresh
    rule.name, rule.trigger = name.strip()[:100], trigger
    rule.saved_filter, rule.active = saved, active
    rule.save()
    rule.channels.set(channels)
    return rule


def delete_rule(*, rule: Rule) -> None:
    rule.delete()
