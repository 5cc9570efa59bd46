"""A Django process beside the cluster: the reliability suite's set-up and its clock.

Run as `python -m tests.reliability.helper` with the cluster's environment (the same
DATABASE_URL, JOBS_URL, SECRET_KEY … as the web and worker processes, and
DB_CONN_MAX_AGE=0 so every command opens a fresh connection: PostgreSQL is restarted
under it). It reads one JSON command per line on stdin and answers each with one line
`@@ {"ok": …, "result": …}` on stdout (anything else on stdout is noise).

The clock (`tick`): the product retries a failed email or webhook after 1, 2, 4 …
minutes, and its reconcilers take back lost jobs and stale claims once a minute, after
a waiting period of one or two minutes. A test cannot wait that long, so a tick makes
that time pass: it moves the due time of every row waiting for a retry to now, then
runs the product's own reconcilers with their waiting period already over
(`lost_after=0`, `grace=0`): exactly what the workers' minute-by-minute reconcilers do
once the minutes have passed (the fan-out replay only when a recent response has no
delivery: it is the slow one, and idempotent). Nothing else of the product is touched.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import traceback
from typing import Any


def setup_org(*, name: str, email: str, password: str, receiver_url: str) -> dict[str, Any]:
    """An organization, its owner, a webhook channel and one rule: every new response."""
    from npsloop.accounts.services import create_organization
    from npsloop.notifications.configure import create_channel, save_rule

    created = create_organization(name=name, email=email, password=password)
    channel, secret = create_channel(
        organization=created.organization,
        actor=created.user,
        kind="webhook",
        name="reliability receiver",
        url=receiver_url,
    )
    rule = save_rule(
        organization=created.organization,
        actor=created.user,
        name="every response",
        trigger="response",
        channel_ids=[channel.pk],
    )
    return {
        "organization_id": created.organization.pk,
        "channel_id": channel.pk,
        "rule_id": rule.pk,
        "secret": secret,
    }


def new_survey(*, organization_id: int, name: str) -> dict[str, Any]:
    """A survey with Segment automation on: every identify call of a new person invites."""
    from npsloop.accounts.models import Organization
    from npsloop.surveys.services import create_survey

    organization = Organization.objects.get(pk=organization_id)
    survey, key = create_survey(organization=organization, name=name, segment_enabled=True)
    return {"id": survey.pk, "key": key}


def tick() -> dict[str, Any]:
    """Let the retry and reconciler waiting times pass (see the module docstring)."""
    from django.utils import timezone

    from npsloop.ingest import services as ingest
    from npsloop.invitations import services as invitations
    from npsloop.invitations.models import Invitation
    from npsloop.notifications import services as notifications
    from npsloop.notifications.models import Delivery
    from npsloop.responses.models import Response

    now = timezone.now()
    moved_invitations = Invitation.objects.filter(state="scheduled", send_at__gt=now).update(
        send_at=now
    )
    moved_deliveries = Delivery.objects.filter(state="scheduled", next_attempt_at__gt=now).update(
        next_attempt_at=now
    )
    zero = dt.timedelta(0)
    # The fan-out replay costs one fan-out per response of the last 15 minutes (seconds
    # here); it can only do something for a response that has no delivery yet.
    missing = (
        Response.objects.filter(updated_at__gte=now - dt.timedelta(minutes=15))
        .filter(deliveries__isnull=True)
        .exists()
    )
    return {
        "moved": {"invitations": moved_invitations, "deliveries": moved_deliveries},
        "events": ingest.reconcile(lost_after=zero),
        "invitations": invitations.reconcile(lost_after=zero),
        "deliveries": notifications.reconcile(lost_after=zero),
        "fan_out_replayed": notifications.reconcile_fan_out(grace=zero) if missing else "-",
    }


COMMANDS = {"setup_org": setup_org, "new_survey": new_survey, "tick": tick}


def main() -> int:
    from npsloop.cli import _setup

    _setup()
    from django.db import close_old_connections, connection

    print("@@ " + json.dumps({"ok": True, "result": "ready"}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        close_old_connections()
        try:
            result = COMMANDS[command.pop("cmd")](**command)
            answer = {"ok": True, "result": result}
        except Exception:
            connection.close()
            answer = {"ok": False, "error": traceback.format_exc()}
        print("@@ " + json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
