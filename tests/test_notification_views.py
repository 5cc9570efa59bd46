"""The notifications pages: channels, rules, log, test, re-send; scoped and escaped."""

from __future__ import annotations

import pytest
from django.test import Client

from npsloop.notifications.models import Channel, Delivery, Rule
from npsloop.responses import workflow
from npsloop.responses.models import SavedFilter
from tests.receivers import Receiver


@pytest.fixture
def receiver(settings):
    settings.NPSLOOP_OUTBOUND_ALLOW = ["127.0.0.1/32"]
    server = Receiver()
    yield server
    server.stop()


def make_webhook(member_client, url: str, name: str = "Ops") -> tuple[Channel, str]:
    page = member_client.post("/notifications/channels/new/webhook/", {"name": name, "url": url})
    assert page.status_code == 200
    channel = Channel.objects.get(name=name)
    return channel, page.content.decode()


def test_webhook_secret_is_shown_once(member_client, receiver):
    channel, page = make_webhook(member_client, receiver.url)
    assert channel.secret.startswith("whsec_") and channel.secret in page
    detail = member_client.get(f"/notifications/channels/{channel.pk}/").content.decode()
    assert channel.secret not in detail
    assert "never shown again" in detail


def test_private_url_is_refused_with_a_clear_error(member_client, settings):
    settings.NPSLOOP_OUTBOUND_ALLOW = []
    page = member_client.post(
        "/notifications/channels/new/webhook/", {"name": "Internal", "url": "http://10.0.0.5/x"}
    )
    assert page.status_code == 200
    assert "private, loopback or reserved" in page.content.decode()
    assert not Channel.objects.exists()


def test_send_test_and_resend_from_the_log(
    member_client, receiver, django_capture_on_commit_callbacks
):
    channel, _page = make_webhook(member_client, receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        member_client.post(f"/notifications/channels/{channel.pk}/act", {"action": "test"})
    delivery = Delivery.objects.get()
    assert delivery.state == Delivery.State.DELIVERED and delivery.is_test
    log = member_client.get(f"/notifications/channels/{channel.pk}/").content.decode()
    assert delivery.event_id in log and "HTTP 200" in log
    with django_capture_on_commit_callbacks(execute=True):
        member_client.post(f"/notifications/deliveries/{delivery.pk}/resend")
    assert len(receiver.requests) == 2
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]


def test_rule_form_takes_only_own_filters_and_channels(member_client, org_a, org_b, receiver):
    mine, _ = make_webhook(member_client, receiver.url)
    theirs = Channel.objects.create(
        organization=org_b.organization, kind="slack", name="B", url=receiver.url
    )
    their_filter = SavedFilter.objects.create(organization=org_b.organization, name="x", query="")
    page = member_client.post(
        "/notifications/rules/new/",
        {"name": "R", "trigger": "response", "channels": [mine.pk, theirs.pk], "active": "on"},
    )
    assert page.status_code == 200 and not Rule.objects.exists()
    page = member_client.post(
        "/notifications/rules/new/",
        {
            "name": "R",
            "trigger": "response",
            "channels": [mine.pk],
            "saved_filter": their_filter.pk,
        },
    )
    assert page.status_code == 200 and not Rule.objects.exists()
    own_filter = SavedFilter.objects.create(
        organization=org_a.organization, name="Detractors", query="category=detractor"
    )
    page = member_client.post(
        "/notifications/rules/new/",
        {
            "name": "R",
            "trigger": "daily",
            "channels": [mine.pk],
            "saved_filter": own_filter.pk,
            "active": "on",
        },
    )
    assert page.status_code == 302
    rule = Rule.objects.get()
    assert rule.saved_filter == own_filter and list(rule.channels.all()) == [mine]


def test_another_organizations_channel_is_404(member_client, org_b, receiver):
    theirs = Channel.objects.create(
        organization=org_b.organization, kind="slack", name="B", url=receiver.url
    )
    assert member_client.get(f"/notifications/channels/{theirs.pk}/").status_code == 404
    assert (
        member_client.post(
            f"/notifications/channels/{theirs.pk}/act", {"action": "delete"}
        ).status_code
        == 404
    )
    assert Channel.objects.filter(pk=theirs.pk).exists()


def test_names_are_escaped(member_client, receiver):
    make_webhook(member_client, receiver.url, name="<script>alert(1)</script>")
    page = member_client.get("/notifications/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_forms_need_csrf(org_a, receiver):
    client = Client(enforce_csrf_checks=True)
    client.force_login(org_a.user)
    answer = client.post("/notifications/channels/new/webhook/", {"name": "X", "url": receiver.url})
    assert answer.status_code == 403 and not Channel.objects.exists()


def test_a_filter_used_by_a_rule_cannot_be_deleted(member_client, org_a, receiver):
    channel, _ = make_webhook(member_client, receiver.url)
    saved = SavedFilter.objects.create(
        organization=org_a.organization, name="D", query="category=detractor"
    )
    rule = Rule.objects.create(
        organization=org_a.organization, name="R", trigger="response", saved_filter=saved
    )
    rule.channels.set([channel])
    page = member_client.post(f"/inbox/saved/{saved.pk}/delete", follow=True)
    assert "Notification rules use this filter" in page.content.decode()
    assert SavedFilter.objects.filter(pk=saved.pk).exists()
    with pytest.raises(Exception, match="Notification rules use this filter"):
        workflow.delete_filter(organization=org_a.organization, pk=saved.pk)


def test_email_channel_needs_valid_recipients(member_client):
    page = member_client.post(
        "/notifications/channels/new/email/",
        {"name": "Team", "config_recipients": "a@b.test, nope"},
    )
    assert "nope is not an email address" in page.content.decode()
    assert not Channel.objects.exists()


def test_ticket_channels_refuse_change_and_unsubscribe_rules(member_client, org_a, receiver):
    desk = Channel.objects.create(
        organization=org_a.organization, kind="zendesk", name="Desk", url=receiver.url, secret="t"
    )
    for trigger in ("updated", "unsubscribed", "daily"):
        page = member_client.post(
            "/notifications/rules/new/", {"name": "R", "trigger": trigger, "channels": [desk.pk]}
        )
        assert page.status_code == 200, trigger
    assert not Rule.objects.exists()


def test_vendor_credential_can_be_replaced_not_read(member_client, org_a, receiver):
    desk = Channel.objects.create(
        organization=org_a.organization,
        kind="freshdesk",
        name="Desk",
        url=receiver.url,
        secret="s3cr3t-old-value",
    )
    page = member_client.get(f"/notifications/channels/{desk.pk}/").content.decode()
    assert "s3cr3t-old-value" not in page and "Replace credential" in page
    member_client.post(
        f"/notifications/channels/{desk.pk}/act", {"action": "secret", "secret": "new-key"}
    )
    desk.refresh_from_db()
    assert desk.secret == "new-key"
