"""Jobs: thin wrappers that carry ids and call a service."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from npsloop.notifications import services


@db_task()
def fan_out_response_task(
    response_id: int, created: bool, comment_added: bool, changes: list[str]
) -> int:
    return services.fan_out_response(
        response_id=response_id, created=created, comment_added=comment_added, changes=changes
    )


@db_task()
def fan_out_unsubscribed_task(contact_id: int) -> int:
    return services.fan_out_unsubscribed(contact_id=contact_id)


@db_task()
def send_delivery_task(delivery_id: int) -> str:
    return services.send_delivery(delivery_id)


@db_periodic_task(crontab(minute="*"))
def reconcile_deliveries_task() -> dict[str, int]:
    return {**services.reconcile(), "replayed": services.reconcile_fan_out()}


@db_periodic_task(crontab(minute="*/5"))
def digests_task() -> int:
    return services.run_digests()


def enqueue_delivery(delivery_id: int, at: dt.datetime) -> None:
    if at <= timezone.now():
        send_delivery_task(delivery_id)
    else:
        send_delivery_task.schedule(args=(delivery_id,), eta=at)
