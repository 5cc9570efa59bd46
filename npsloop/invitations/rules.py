"""The send rules (DESIGN.md "Send rules"): pure functions of settings, contact, history, now."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from npsloop.invitations.models import Decision

Reason = Decision.Reason


@dataclass(frozen=True)
class Rules:
    min_delay_days: int
    max_delay_days: int
    min_interval_weeks: int
    status: str = "active"  # active / paused / archived
    automation: bool = True


@dataclass(frozen=True)
class Person:
    email: str  # empty when none was given
    email_valid: bool
    created_at: dt.datetime | None  # the createdAt trait; None: created at the call
    unsubscribed: bool = False
    bounced: bool = False


@dataclass(frozen=True)
class History:
    pending: bool = False  # an invitation of this survey is scheduled or being sent
    last_surveyed_at: dt.datetime | None = None  # latest invitation sent or scheduled


@dataclass(frozen=True)
class Verdict:
    reason: str
    send_at: dt.datetime | None = None

    @property
    def scheduled(self) -> bool:
        return self.reason == Reason.SCHEDULED


def decide(rules: Rules, person: Person, history: History, now: dt.datetime) -> Verdict:
    if rules.status == "archived":
        return Verdict(Reason.SURVEY_ARCHIVED)
    if rules.status == "paused":
        return Verdict(Reason.SURVEY_PAUSED)
    if not rules.automation:
        return Verdict(Reason.AUTOMATION_OFF)
    if not person.email:
        return Verdict(Reason.NO_EMAIL)
    if not person.email_valid:
        return Verdict(Reason.INVALID_EMAIL)
    if person.unsubscribed:
        return Verdict(Reason.UNSUBSCRIBED)
    if person.bounced:
        return Verdict(Reason.BOUNCED)
    if history.pending:
        return Verdict(Reason.ALREADY_SCHEDULED)
    # Compare moments in UTC: two times in one local zone subtract by wall clock,
    # which is an hour off across a daylight-saving change.
    now = now.astimezone(dt.UTC)
    created = person.created_at.astimezone(dt.UTC) if person.created_at else now
    last = history.last_surveyed_at
    if rules.max_delay_days > 0 and now - created > dt.timedelta(days=rules.max_delay_days):
        return Verdict(Reason.TOO_OLD)
    if (
        rules.min_interval_weeks > 0
        and last is not None
        and now - last.astimezone(dt.UTC) < dt.timedelta(weeks=rules.min_interval_weeks)
    ):
        return Verdict(Reason.WITHIN_INTERVAL)
    delay = dt.timedelta(days=rules.min_delay_days)
    if rules.max_delay_days == 0 or rules.min_delay_days == 0:
        # Every identify call (max 0) or "send immediately" (min 0): from the call.
        return Verdict(Reason.SCHEDULED, send_at=now + delay)
    return Verdict(Reason.SCHEDULED, send_at=max(created + delay, now))
