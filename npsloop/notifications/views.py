"""Dashboard pages: rules, channels with their delivery log, test and re-send."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from npsloop.accounts.decorators import member_required
from npsloop.notifications import configure, selectors, services
from npsloop.notifications.forms import ChannelForm, RuleForm
from npsloop.notifications.kinds import KINDS
from npsloop.notifications.models import Channel, Delivery
from npsloop.responses.selectors import response_of


def _apply_errors(form, error: ValidationError) -> None:
    for field, texts in error.message_dict.items():
        name = field if field in form.fields else f"config_{field}"
        form.add_error(name if name in form.fields else None, texts)


@member_required
def overview(request: HttpRequest) -> HttpResponse:
    org = request.organization
    return render(
        request,
        "notifications/overview.html",
        {
            "rules": selectors.rules_of(org),
            "channels": selectors.channels_of(org),
            "kinds": [(k, Channel.Kind(k).label) for k in KINDS],
        },
    )


@member_required
def channel_create(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in KINDS:
        raise Http404
    org = request.organization
    form = ChannelForm(request.POST or None, kind=kind, organization=org)
    if request.method == "POST" and form.is_valid():
        try:
            channel, shown = configure.create_channel(
                organization=org,
                actor=request.user,
                kind=kind,
                name=form.cleaned_data["name"],
                url=form.cleaned_data.get("url", ""),
                config=form.config(),
                members=form.cleaned_data.get("members", []),
                secret=form.cleaned_data.get("secret", ""),
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            if shown:
                return render(
                    request, "notifications/secret.html", {"channel": channel, "secret": shown}
                )
            messages.success(request, _("The channel is saved. Send a test to check it."))
            return redirect("notification_channel", channel.pk)
    return render(
        request,
        "notifications/channel_form.html",
        {"form": form, "kind": kind, "kind_label": Channel.Kind(kind).label},
    )


@member_required
def channel_detail(request: HttpRequest, pk: int) -> HttpResponse:
    channel = selectors.channel_of(request.organization, pk)
    return render(
        request,
        "notifications/channel.html",
        {
            "channel": channel,
            "deliveries": selectors.delivery_log(channel),
            "secret_label": KINDS[channel.kind].secret_label if channel.kind in KINDS else None,
        },
    )


@member_required
@require_POST
def channel_act(request: HttpRequest, pk: int) -> HttpResponse:
    channel = selectors.channel_of(request.organization, pk)
    action = request.POST.get("action")
    if action == "test":
        services.send_test(channel=channel)
        messages.info(request, _("A test was sent; its result is at the top of the log."))
    elif action in ("enable", "disable"):
        configure.set_channel_active(channel=channel, active=action == "enable")
    elif action == "rotate" and channel.kind == Channel.Kind.WEBHOOK:
        secret = configure.rotate_secret(channel=channel)
        return render(request, "notifications/secret.html", {"channel": channel, "secret": secret})
    elif action == "secret" and KINDS.get(channel.kind) and KINDS[channel.kind].secret_label:
        try:
            configure.replace_secret(channel=channel, secret=request.POST.get("secret", ""))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("The new credential is saved."))
    elif action == "delete":
        configure.delete_channel(channel=channel)
        messages.success(request, _("The channel is deleted."))
        return redirect("notifications")
    return redirect("notification_channel", channel.pk)


@member_required
@require_POST
def delivery_resend(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = selectors.delivery_of(request.organization, pk)
    if delivery.state == Delivery.State.SENDING:
        messages.error(request, _("This delivery is being sent right now."))
    else:
        services.resend(delivery=delivery)
        messages.info(request, _("The delivery is sent again, with the same event id."))
    return redirect("notification_channel", delivery.channel_id)


@member_required
def rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    org = request.organization
    rule = selectors.rule_of(org, pk) if pk else None
    initial = None
    if rule is not None:
        initial = {
            "name": rule.name,
            "saved_filter": rule.saved_filter_id,
            "trigger": rule.trigger,
            "channels": [c.pk for c in rule.channels.all()],
            "active": rule.active,
        }
    form = RuleForm(request.POST or None, organization=org, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            configure.save_rule(
                organization=org,
                actor=request.user,
                name=data["name"],
                trigger=data["trigger"],
                channel_ids=[c.pk for c in data["channels"]],
                saved_filter_id=data["saved_filter"].pk if data["saved_filter"] else None,
                active=data["active"],
                rule=rule,
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("The rule is saved."))
            return redirect("notifications")
    return render(request, "notifications/rule_form.html", {"form": form, "rule": rule})


@member_required
@require_POST
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    configure.delete_rule(rule=selectors.rule_of(request.organization, pk))
    messages.success(request, _("The rule is deleted."))
    return redirect("notifications")


@member_required
@require_POST
def response_ticket(request: HttpRequest, pk: int) -> HttpResponse:
    """The inbox button: send one response to a ticket system (or CRM) now."""
    response = response_of(request.organization, pk)
    channel = selectors.channel_of(request.organization, int(request.POST.get("channel", 0) or 0))
    if channel not in selectors.ticket_channels_of(request.organization):
        raise Http404
    delivery = services.send_response_to(channel=channel, response=response)
    if delivery is None:
        messages.info(request, _("This response was already sent there."))
    else:
        messages.info(
            request,
            _("Sent to %(channel)s; the link appears on the timeline when it is created.")
            % {"channel": channel.name},
        )
    return redirect("inbox_detail", response.pk)
