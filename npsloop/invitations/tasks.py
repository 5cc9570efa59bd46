"""Jobs: thin wrappers that carry an id and call a service."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from npsloop.invitations import services


@db_task()
def send_invitation_task(invitation_id: int) -> str:
    return services.send_invitation(invitation_id)


@db_periodic_task(crontab(minute="*"))
def reconcile_task() -> dict[str, int]:
    return services.reconcile()


def enqueue_send(invitation_id: int, send_at: dt.datetime) -> None:
    if send_at <= timezone.now():
        send_invitation_task(invitation_id)
    else:
        send_invitation_task.schedule(args=(invitation_id,), eta=send_at)
