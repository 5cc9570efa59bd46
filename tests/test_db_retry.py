"""Writes that follow an outside effect survive a lost connection; racing identifies don't fail."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, OperationalError

from npsloop.ingest import services as ingest_services
from npsloop.ingest.models import IngestEvent
from npsloop.web.dbretry import retry_on_disconnect


def test_a_lost_connection_is_retried_then_the_write_happens(transactional_db):
    calls = []

    def write():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("terminating connection due to administrator command")
        return "written"

    assert retry_on_disconnect(write, seconds=10) == "written"
    assert len(calls) == 3


def test_other_errors_and_the_deadline_are_not_retried(transactional_db):
    def broken():
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        retry_on_disconnect(broken)

    def down():
        raise OperationalError("down")

    with pytest.raises(OperationalError):
        retry_on_disconnect(down, seconds=0.5)


def test_identify_racing_another_for_the_same_new_person_is_applied(survey, monkeypatch):
    from npsloop.ingest.services import accept

    survey.segment_enabled = True
    survey.save()
    real = ingest_services._apply
    raised = []

    def racing(event):
        if not raised:  # the other worker inserted the same contact first
            raised.append(1)
            raise IntegrityError("duplicate key value violates contact_email_unique_per_org")
        return real(event)

    monkeypatch.setattr(ingest_services, "_apply", racing)
    events = [
        {
            "type": "identify",
            "userId": "u1",
            "messageId": "m-race-1",
            "traits": {"email": "race@example.com"},
        }
    ]
    accept(survey=survey, raw_events=events)
    event = IngestEvent.objects.get(message_id="m-race-1")
    if event.state == IngestEvent.State.NEW:  # the processing job runs after commit
        assert ingest_services.process_event(event.pk)
    event.refresh_from_db()
    assert event.state == IngestEvent.State.DONE
    assert raised == [1]
