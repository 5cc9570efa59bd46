"""Jobs: thin wrappers that call a service."""

from __future__ import annotations

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from npsloop.insights import digest, rollups


# Every quarter of an hour, so Monday 07:00 arrives on time in zones with half-hour
# offsets too; each run sends only the digests that are due and not yet sent.
@db_periodic_task(crontab(minute="*/15"))
def weekly_digest_task() -> dict[str, int]:
    return digest.send_weekly_digests(now=timezone.now())


# Every five minutes: recompute the days changed since the last run (a dashboard read
# does the same first when little changed, so this mostly keeps reads cheap).
@db_periodic_task(crontab(minute="*/5"))
def refresh_rollups_task() -> dict[str, int]:
    return rollups.refresh_all()


# Nightly: a property that got few values (or too many) since the last build.
@db_periodic_task(crontab(hour="3", minute="10"))
def recheck_rollup_keys_task() -> dict[str, int]:
    return rollups.recheck_keys_all()
