"""A worker killed with SIGKILL while sending: after a restart, every invitation is sent once."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter

import pytest
from django.utils import timezone

from npsloop.contacts.models import Contact
from npsloop.invitations.models import Invitation
from npsloop.web.secrets import random_token
from tests.smtp import RecordingHandler, SmtpServer
from tests.workers import start_worker

TOTAL = 200
KILL_AT = 60


def _make_invitations(survey, n: int) -> None:
    org = survey.organization
    contacts = Contact.objects.bulk_create(
        Contact(organization=org, email=f"customer{i}@example.com", first_name=f"C{i}")
        for i in range(n)
    )
    now = timezone.now()
    Invitation.objects.bulk_create(
        Invitation(
            organization=org,
            survey=survey,
            contact=c,
            key=random_token(),
            source="manual",
            language="en",
            send_at=now,
        )
        for c in contacts
    )


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_sigkill_mid_send_then_restart_sends_each_invitation_exactly_once(survey, tmp_path):
    _make_invitations(survey, TOTAL)
    worker = None
    killed: dict[str, int] = {}

    async def before_accept(number: int) -> str | None:
        await asyncio.sleep(0.01)  # a server that takes a moment per message
        if number == KILL_AT and not killed:
            # Kill the worker while this message's DATA is in flight, before the
            # server's 250: the message is not accepted, as a real server would not.
            killed["pid"] = worker.pid
            os.kill(worker.pid, signal.SIGKILL)
            return "421 connection lost"
        return None

    handler = RecordingHandler(before_accept=before_accept)
    jobs = f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    log = tmp_path / "worker.log"
    with SmtpServer(handler) as smtp:
        worker = start_worker(
            jobs_url=jobs,
            email_url=smtp.url,
            data_dir=tmp_path,
            log=log,
            NPSLOOP_CLAIM_TIMEOUT_SECONDS="2",
        )
        try:
            _wait(lambda: worker.poll() is not None, 120, "the kill")
            assert worker.returncode == -signal.SIGKILL
            assert len(smtp.messages) == KILL_AT - 1
            stuck = Invitation.objects.filter(state="sending")
            assert stuck.count() == 1  # the one that was being sent when it died

            time.sleep(2.2)  # let the claim go stale
            worker = start_worker(
                jobs_url=jobs,
                email_url=smtp.url,
                data_dir=tmp_path,
                log=log,
                NPSLOOP_CLAIM_TIMEOUT_SECONDS="2",
            )
            _wait(
                lambda: Invitation.objects.filter(state="sent").count() == TOTAL,
                180,
                "all invitations sent",
            )
            time.sleep(1.0)  # duplicate jobs still in the queue must stay no-ops
        finally:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=20)

    recipients = Counter(r for m in smtp.messages for r in m.rcpt_tos)
    print(
        f"\nsent={len(smtp.messages)} unique={len(recipients)} "
        f"duplicated={sum(c - 1 for c in recipients.values())}"
    )
    assert len(smtp.messages) == TOTAL, log.read_text()[-3000:]
    assert set(recipients.values()) == {1}
    assert len(recipients) == TOTAL
    message_ids = {m.message["Message-ID"] for m in smtp.messages}
    assert len(message_ids) == TOTAL
    returned = Invitation.objects.filter(events__kind="returned")
    assert returned.count() == 1 and returned.get().attempts == 2


@pytest.mark.django_db(transaction=True)
def test_two_workers_and_duplicate_jobs_still_send_once(survey, tmp_path):
    _make_invitations(survey, 120)
    jobs = f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    log = tmp_path / "worker.log"
    with SmtpServer() as smtp:
        # Each worker enqueues every due invitation at start: every job exists twice.
        workers = [
            start_worker(jobs_url=jobs, email_url=smtp.url, data_dir=tmp_path, log=log, threads=2)
            for _ in range(2)
        ]
        try:
            _wait(
                lambda: Invitation.objects.filter(state="sent").count() == 120,
                120,
                "all invitations sent",
            )
            time.sleep(1.0)
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(timeout=20)
    recipients = Counter(r for m in smtp.messages for r in m.rcpt_tos)
    assert len(smtp.messages) == 120, log.read_text()[-3000:]
    assert set(recipients.values()) == {1}
