"""Jobs: thin wrappers that carry an id and call a service."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from npsloop.segment_sync import services


@db_task()
def send_segment_sync_task(sync_id: int) -> str:
    return services.send_sync(sync_id)


@db_periodic_task(crontab(minute="*"))
def reconcile_segment_sync_task() -> dict[str, int]:
    return services.reconcile()


def enqueue_send(sync_id: int, at: dt.datetime) -> None:
    if at <= timezone.now():
        send_segment_sync_task(sync_id)
    else:
        send_segment_sync_task.schedule(args=(sync_id,), eta=at)
