from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from npsloop.ingest import services


@db_task()
def process_events_task(survey_id: int) -> int:
    return services.process_pending(survey_id=survey_id)


@db_periodic_task(crontab(minute="*"))
def reconcile_task() -> dict[str, int]:
    return services.reconcile()
