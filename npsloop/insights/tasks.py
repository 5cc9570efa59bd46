"""Jobs: thin wrappers that call a service."""

from __future__ import annotations

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from npsloop.insights import digest


# Every quarter of an hour, so Monday 07:00 arrives on time in zones with half-hour
# offsets too; each run sends only the digests that are due and not yet sent.
@db_periodic_task(crontab(minute="*/15"))
def weekly_digest_task() -> dict[str, int]:
    return digest.send_weekly_digests(now=timezone.now())
