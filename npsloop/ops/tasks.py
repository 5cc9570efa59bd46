"""Jobs: thin wrappers that call a service."""

from __future__ import annotations

import logging

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from npsloop.ops import retention

logger = logging.getLogger("npsloop.ops")


# Daily at 03:40 UTC; off while RETENTION_MONTHS is 0. Several workers may each
# start it: the second run finds nothing left to do.
@db_periodic_task(crontab(hour="3", minute="40"))
def retention_task() -> dict[str, int] | None:
    months = settings.NPSLOOP_RETENTION_MONTHS
    if months <= 0:
        return None
    report = retention.run_retention(months=months, mode=settings.NPSLOOP_RETENTION_MODE)
    totals = report.totals
    logger.info(
        "retention (%s, %s months, before %s): %s",
        report.mode,
        months,
        report.cutoff.isoformat(),
        ", ".join(f"{key} {value}" for key, value in totals.items()) or "nothing to do",
        extra={"retention": True},
    )
    return totals
