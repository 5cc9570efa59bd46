"""The send rules (DESIGN.md "Send rules", seed 000 "Über Versandverzögerungen").

`decide` is a pure function of (survey settings, contact, history, now): no database, no clock.
Example tests pin each rule, each skip reason and their precedence; the seed's three scenarios
are worked through with concrete dates; hypothesis checks the invariants over random settings,
contacts, histories and timezone-aware moments.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from npsloop.invitations.models import Decision
from npsloop.invitations.rules import History, Person, Rules, Verdict, decide

Reason = Decision.Reason

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
PLUS_TWO = dt.timezone(dt.timedelta(hours=2))
MINUS_FIVE_THIRTY = dt.timezone(-dt.timedelta(hours=5, minutes=30))

DAY = dt.timedelta(days=1)
WEEK = dt.timedelta(weeks=1)
SECOND = dt.timedelta(seconds=1)

# A fixed "now", far from the real clock, so a rule that read the clock would show.
NOW = dt.datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def make_rules(**changes) -> Rules:
    """Settings under which the baseline contact is scheduled: the seed's scenario 1."""
    return replace(Rules(min_delay_days=3, max_delay_days=14, min_interval_weeks=26), **changes)


def make_person(**changes) -> Person:
    base = Person(email="anna.schmidt@example.com", email_valid=True, created_at=NOW - 2 * DAY)
    return replace(base, **changes)


def make_history(**changes) -> History:
    return replace(History(), **changes)


def assert_skipped(verdict: Verdict, reason: str) -> None:
    assert verdict.reason == reason
    assert not verdict.scheduled
    assert verdict.send_at is None


def assert_scheduled(verdict: Verdict, send_at: dt.datetime) -> None:
    assert verdict.reason == Reason.SCHEDULED
    assert verdict.scheduled
    assert verdict.send_at == send_at


# --- the baseline and each skip reason --------------------------------------------------------


def test_baseline_is_scheduled_at_creation_plus_min_delay():
    verdict = decide(make_rules(), make_person(), make_history(), NOW)
    assert_scheduled(verdict, NOW - 2 * DAY + 3 * DAY)


def test_verdict_scheduled_property_follows_reason():
    assert Verdict(Reason.SCHEDULED, send_at=NOW).scheduled
    for reason in Reason.values:
        if reason != Reason.SCHEDULED:
            assert not Verdict(reason).scheduled


# Each entry: the reason, and how to change the schedulable baseline so exactly that rule fires.
# Ordered as decide checks them (the precedence as implemented).
TRIGGERS: list[tuple[str, str, dict]] = [
    (Reason.SURVEY_ARCHIVED, "rules", {"status": "archived"}),
    (Reason.SURVEY_PAUSED, "rules", {"status": "paused"}),
    (Reason.AUTOMATION_OFF, "rules", {"automation": False}),
    (Reason.NO_EMAIL, "person", {"email": ""}),
    (Reason.INVALID_EMAIL, "person", {"email_valid": False}),
    (Reason.UNSUBSCRIBED, "person", {"unsubscribed": True}),
    (Reason.BOUNCED, "person", {"bounced": True}),
    (Reason.ALREADY_SCHEDULED, "history", {"pending": True}),
    (Reason.TOO_OLD, "person", {"created_at": NOW - 20 * DAY}),
    (Reason.WITHIN_INTERVAL, "history", {"last_surveyed_at": NOW - 10 * WEEK}),
]
PRECEDENCE = [reason for reason, _, _ in TRIGGERS]


def build(*reasons: str) -> tuple[Rules, Person, History]:
    """The baseline with the triggers of the given reasons applied."""
    parts = {"rules": make_rules(), "person": make_person(), "history": make_history()}
    # Apply from lowest to highest precedence, so that when two triggers touch the same field
    # (archived and paused are both `status`), the higher-precedence one is what remains.
    for reason, part, changes in reversed(TRIGGERS):
        if reason in reasons:
            parts[part] = replace(parts[part], **changes)
    return parts["rules"], parts["person"], parts["history"]


def test_every_reason_is_covered():
    assert set(PRECEDENCE) | {Reason.SCHEDULED} == set(Reason.values)


@pytest.mark.parametrize("reason", PRECEDENCE)
def test_each_rule_alone_skips_with_its_reason(reason):
    assert_skipped(decide(*build(reason), NOW), reason)


@pytest.mark.parametrize(
    ("email", "email_valid", "reason"),
    [
        ("", True, Reason.NO_EMAIL),
        ("", False, Reason.NO_EMAIL),
        ("not-an-email", False, Reason.INVALID_EMAIL),
        ("anna@", False, Reason.INVALID_EMAIL),
        ("anna.schmidt@example.com", True, Reason.SCHEDULED),
    ],
)
def test_email_rules(email, email_valid, reason):
    verdict = decide(
        make_rules(), make_person(email=email, email_valid=email_valid), History(), NOW
    )
    assert verdict.reason == reason


def test_active_survey_with_automation_on_is_not_blocked():
    verdict = decide(make_rules(status="active", automation=True), make_person(), History(), NOW)
    assert verdict.scheduled


@pytest.mark.parametrize("first", range(len(PRECEDENCE)))
def test_precedence_cascade(first):
    """With every rule from `first` onwards firing, the earliest one is the reason."""
    verdict = decide(*build(*PRECEDENCE[first:]), NOW)
    assert_skipped(verdict, PRECEDENCE[first])


@pytest.mark.parametrize(
    ("higher", "lower"),
    [
        pair
        for pair in itertools.combinations(PRECEDENCE, 2)
        # Both are the survey's status: they cannot hold together.
        if pair != (Reason.SURVEY_ARCHIVED, Reason.SURVEY_PAUSED)
    ],
)
def test_precedence_pairwise(higher, lower):
    assert_skipped(decide(*build(higher, lower), NOW), higher)


def test_blocked_contact_stays_blocked_whatever_the_delays():
    for min_delay, max_delay, interval in itertools.product([0, 3], [0, 14], [0, 26]):
        rules = make_rules(
            min_delay_days=min_delay, max_delay_days=max_delay, min_interval_weeks=interval
        )
        assert_skipped(
            decide(rules, make_person(unsubscribed=True), History(), NOW), "unsubscribed"
        )
        assert_skipped(decide(rules, make_person(bounced=True), History(), NOW), "bounced")
        assert_skipped(
            decide(rules, make_person(), History(pending=True), NOW), "already_scheduled"
        )


# --- seed scenario 1: min 3, max 14 -----------------------------------------------------------

SCENARIO_1 = make_rules(min_delay_days=3, max_delay_days=14, min_interval_weeks=0)


def test_scenario_1_created_two_days_ago_is_scheduled_at_created_plus_three_days():
    created = dt.datetime(2025, 3, 12, 9, 30, tzinfo=UTC)  # two days before NOW
    verdict = decide(SCENARIO_1, make_person(created_at=created), History(), NOW)
    assert_scheduled(verdict, dt.datetime(2025, 3, 15, 9, 30, tzinfo=UTC))  # tomorrow


def test_scenario_1_created_twenty_days_ago_is_too_old():
    created = dt.datetime(2025, 2, 22, 9, 30, tzinfo=UTC)
    verdict = decide(SCENARIO_1, make_person(created_at=created), History(), NOW)
    assert_skipped(verdict, Reason.TOO_OLD)


def test_scenario_1_created_five_days_ago_is_sent_now_never_earlier():
    created = dt.datetime(2025, 3, 9, 9, 30, tzinfo=UTC)  # created + 3 days lies in the past
    verdict = decide(SCENARIO_1, make_person(created_at=created), History(), NOW)
    assert_scheduled(verdict, NOW)


def test_scenario_1_created_exactly_min_delay_ago_is_sent_now():
    verdict = decide(SCENARIO_1, make_person(created_at=NOW - 3 * DAY), History(), NOW)
    assert_scheduled(verdict, NOW)


def test_scenario_1_created_just_now_waits_the_full_min_delay():
    verdict = decide(SCENARIO_1, make_person(created_at=NOW), History(), NOW)
    assert_scheduled(verdict, NOW + 3 * DAY)


@pytest.mark.parametrize("age_days", range(0, 15))
def test_scenario_1_every_age_up_to_max_is_scheduled(age_days):
    created = NOW - age_days * DAY
    verdict = decide(SCENARIO_1, make_person(created_at=created), History(), NOW)
    assert_scheduled(verdict, max(created + 3 * DAY, NOW))


@pytest.mark.parametrize("age_days", [15, 20, 100, 365 * 3])
def test_scenario_1_every_age_beyond_max_is_too_old(age_days):
    verdict = decide(SCENARIO_1, make_person(created_at=NOW - age_days * DAY), History(), NOW)
    assert_skipped(verdict, Reason.TOO_OLD)


# --- seed scenario 2: max 0, every identify call schedules ------------------------------------

SCENARIO_2 = make_rules(min_delay_days=3, max_delay_days=0, min_interval_weeks=0)


@pytest.mark.parametrize(
    "created_at",
    [
        None,
        NOW,
        NOW - 2 * DAY,  # the delay counts from the call, not from creation
        NOW - 20 * DAY,
        dt.datetime(2019, 6, 1, tzinfo=UTC),  # years ago: no age cutoff
        dt.datetime(1990, 1, 1, tzinfo=UTC),
    ],
)
def test_scenario_2_delay_counts_from_the_call_with_no_age_cutoff(created_at):
    verdict = decide(SCENARIO_2, make_person(created_at=created_at), History(), NOW)
    assert_scheduled(verdict, NOW + 3 * DAY)


def test_scenario_2_every_identify_call_schedules():
    """Identify calls on ten days in a row; each one's survey has gone out before the next."""
    created = dt.datetime(2020, 1, 1, tzinfo=UTC)
    last_surveyed = None
    for call in range(10):
        now = NOW + call * DAY
        history = History(pending=False, last_surveyed_at=last_surveyed)
        verdict = decide(SCENARIO_2, make_person(created_at=created), history, now)
        assert_scheduled(verdict, now + 3 * DAY)
        last_surveyed = now  # surveyed (sent) at the call
    # The same without a createdAt trait.
    for call in range(10):
        now = NOW + call * DAY
        verdict = decide(SCENARIO_2, make_person(created_at=None), History(), now)
        assert_scheduled(verdict, now + 3 * DAY)


@pytest.mark.parametrize("min_delay", [0, 1, 7, 60])
def test_scenario_2_any_min_delay(min_delay):
    rules = replace(SCENARIO_2, min_delay_days=min_delay)
    verdict = decide(rules, make_person(created_at=NOW - 400 * DAY), History(), NOW)
    assert_scheduled(verdict, NOW + min_delay * DAY)


def test_scenario_2_the_interval_still_applies_when_set():
    rules = replace(SCENARIO_2, min_interval_weeks=4)
    person = make_person(created_at=None)
    assert_skipped(
        decide(rules, person, History(last_surveyed_at=NOW - 1 * WEEK), NOW),
        Reason.WITHIN_INTERVAL,
    )
    assert_scheduled(
        decide(rules, person, History(last_surveyed_at=NOW - 5 * WEEK), NOW), NOW + 3 * DAY
    )


# --- seed scenario 3: min interval in weeks ---------------------------------------------------

SCENARIO_3 = make_rules(min_delay_days=0, max_delay_days=0, min_interval_weeks=26)


def test_scenario_3_surveyed_ten_weeks_ago_is_skipped():
    last = dt.datetime(2025, 1, 3, 9, 30, tzinfo=UTC)  # ten weeks before NOW
    assert NOW - last == 10 * WEEK
    verdict = decide(SCENARIO_3, make_person(), History(last_surveyed_at=last), NOW)
    assert_skipped(verdict, Reason.WITHIN_INTERVAL)


def test_scenario_3_surveyed_twenty_seven_weeks_ago_is_scheduled():
    last = dt.datetime(2024, 9, 6, 9, 30, tzinfo=UTC)  # 27 weeks before NOW
    assert NOW - last == 27 * WEEK
    verdict = decide(SCENARIO_3, make_person(), History(last_surveyed_at=last), NOW)
    assert_scheduled(verdict, NOW)


def test_scenario_3_never_surveyed_is_scheduled():
    verdict = decide(SCENARIO_3, make_person(), History(last_surveyed_at=None), NOW)
    assert_scheduled(verdict, NOW)


def test_scenario_3_a_later_scheduled_survey_counts_as_within_the_interval():
    """ "Surveyed (or already scheduled) within that interval": a send time still ahead blocks."""
    verdict = decide(SCENARIO_3, make_person(), History(last_surveyed_at=NOW + 2 * DAY), NOW)
    assert_skipped(verdict, Reason.WITHIN_INTERVAL)


@pytest.mark.parametrize(
    "last", [NOW, NOW - SECOND, NOW - DAY, NOW + DAY, NOW - 1000 * WEEK, NOW + 10 * WEEK]
)
def test_scenario_3_interval_zero_never_blocks(last):
    rules = replace(SCENARIO_3, min_interval_weeks=0)
    verdict = decide(rules, make_person(), History(last_surveyed_at=last), NOW)
    assert_scheduled(verdict, NOW)


def test_scenario_3_interval_applies_with_max_delay_too():
    rules = make_rules(min_delay_days=3, max_delay_days=14, min_interval_weeks=26)
    person = make_person(created_at=NOW - 2 * DAY)
    assert_skipped(
        decide(rules, person, History(last_surveyed_at=NOW - 10 * WEEK), NOW),
        Reason.WITHIN_INTERVAL,
    )
    assert_scheduled(
        decide(rules, person, History(last_surveyed_at=NOW - 27 * WEEK), NOW), NOW + DAY
    )


# --- no createdAt: created at the call --------------------------------------------------------


@pytest.mark.parametrize(
    "now",
    [NOW, dt.datetime(2001, 1, 1, tzinfo=UTC), dt.datetime(2090, 12, 31, 23, 59, tzinfo=UTC)],
)
def test_no_created_at_counts_as_created_at_the_call(now):
    verdict = decide(make_rules(), make_person(created_at=None), History(), now)
    assert_scheduled(verdict, now + 3 * DAY)


@pytest.mark.parametrize("max_delay", [1, 14, 60])
def test_no_created_at_is_never_too_old(max_delay):
    rules = make_rules(min_delay_days=0, max_delay_days=max_delay)
    verdict = decide(rules, make_person(created_at=None), History(), NOW)
    assert_scheduled(verdict, NOW)


# --- boundaries -------------------------------------------------------------------------------


def test_exactly_max_delay_old_is_not_too_old():
    verdict = decide(SCENARIO_1, make_person(created_at=NOW - 14 * DAY), History(), NOW)
    assert_scheduled(verdict, NOW)


def test_one_second_past_max_delay_is_too_old():
    verdict = decide(SCENARIO_1, make_person(created_at=NOW - 14 * DAY - SECOND), History(), NOW)
    assert_skipped(verdict, Reason.TOO_OLD)


def test_one_second_short_of_max_delay_is_not_too_old():
    verdict = decide(SCENARIO_1, make_person(created_at=NOW - 14 * DAY + SECOND), History(), NOW)
    assert_scheduled(verdict, NOW)


def test_max_delay_one_day():
    rules = make_rules(min_delay_days=0, max_delay_days=1)
    assert decide(rules, make_person(created_at=NOW - DAY), History(), NOW).scheduled
    assert_skipped(
        decide(rules, make_person(created_at=NOW - DAY - SECOND), History(), NOW), Reason.TOO_OLD
    )


def test_exactly_the_interval_ago_is_not_within():
    verdict = decide(SCENARIO_3, make_person(), History(last_surveyed_at=NOW - 26 * WEEK), NOW)
    assert_scheduled(verdict, NOW)


def test_one_second_short_of_the_interval_is_within():
    history = History(last_surveyed_at=NOW - 26 * WEEK + SECOND)
    assert_skipped(decide(SCENARIO_3, make_person(), history, NOW), Reason.WITHIN_INTERVAL)


def test_interval_one_week_boundary():
    rules = replace(SCENARIO_3, min_interval_weeks=1)
    assert decide(rules, make_person(), History(last_surveyed_at=NOW - WEEK), NOW).scheduled
    assert_skipped(
        decide(rules, make_person(), History(last_surveyed_at=NOW - WEEK + SECOND), NOW),
        Reason.WITHIN_INTERVAL,
    )


@pytest.mark.parametrize(
    ("max_delay", "created_at"),
    [(14, NOW - 5 * DAY), (14, NOW - 14 * DAY), (14, NOW), (14, None), (0, NOW), (0, None)],
)
def test_min_delay_zero_sends_at_now(max_delay, created_at):
    rules = make_rules(min_delay_days=0, max_delay_days=max_delay)
    verdict = decide(rules, make_person(created_at=created_at), History(), NOW)
    assert_scheduled(verdict, NOW)


def test_min_delay_zero_sends_at_now_even_with_a_future_created_at():
    """A createdAt ahead of the clock (clock skew, a wrong trait) must not hold the survey back."""
    rules = make_rules(min_delay_days=0, max_delay_days=14)
    verdict = decide(rules, make_person(created_at=NOW + 5 * DAY), History(), NOW)
    assert_scheduled(verdict, NOW)


def test_future_created_at_with_min_delay_counts_from_creation():
    rules = make_rules(min_delay_days=3, max_delay_days=14)
    verdict = decide(rules, make_person(created_at=NOW + 5 * DAY), History(), NOW)
    assert_scheduled(verdict, NOW + 8 * DAY)


# --- timezones --------------------------------------------------------------------------------


def test_created_at_in_another_zone_is_compared_as_an_instant():
    created = dt.datetime(2025, 3, 12, 11, 30, tzinfo=PLUS_TWO)  # 2025-03-12 09:30 UTC
    verdict = decide(SCENARIO_1, make_person(created_at=created), History(), NOW)
    assert_scheduled(verdict, dt.datetime(2025, 3, 15, 9, 30, tzinfo=UTC))


def test_too_old_boundary_across_zones():
    created = (NOW - 14 * DAY).astimezone(MINUS_FIVE_THIRTY)
    assert decide(SCENARIO_1, make_person(created_at=created), History(), NOW).scheduled
    created = (NOW - 14 * DAY - SECOND).astimezone(MINUS_FIVE_THIRTY)
    assert_skipped(
        decide(SCENARIO_1, make_person(created_at=created), History(), NOW), Reason.TOO_OLD
    )


# Across the end of summer time in Berlin (2024-10-27 03:00 CEST -> 02:00 CET).
DST_CREATED = dt.datetime(2024, 10, 20, 12, 0, tzinfo=BERLIN)  # 10:00 UTC
DST_NOW = dt.datetime(2024, 11, 3, 11, 30, tzinfo=BERLIN)  # 10:30 UTC: 14 days 30 min later
DST_LAST = dt.datetime(2024, 10, 24, 12, 0, tzinfo=BERLIN)  # 10:00 UTC
DST_NOW_WEEK = dt.datetime(2024, 10, 31, 11, 30, tzinfo=BERLIN)  # 10:30 UTC: 1 week 30 min later


def test_dst_instants_are_what_the_tests_say():
    assert DST_NOW.astimezone(UTC) - DST_CREATED.astimezone(UTC) == 14 * DAY + 30 * 60 * SECOND
    assert DST_NOW_WEEK.astimezone(UTC) - DST_LAST.astimezone(UTC) == WEEK + 30 * 60 * SECOND


def test_too_old_across_dst_with_now_in_utc():
    verdict = decide(
        SCENARIO_1, make_person(created_at=DST_CREATED), History(), DST_NOW.astimezone(UTC)
    )
    assert_skipped(verdict, Reason.TOO_OLD)


def test_interval_across_dst_with_now_in_utc():
    history = History(last_surveyed_at=DST_LAST)
    rules = replace(SCENARIO_3, min_interval_weeks=1)
    verdict = decide(rules, make_person(), history, DST_NOW_WEEK.astimezone(UTC))
    assert verdict.scheduled


def test_too_old_across_dst_when_both_moments_share_a_zone():
    verdict = decide(SCENARIO_1, make_person(created_at=DST_CREATED), History(), DST_NOW)
    assert_skipped(verdict, Reason.TOO_OLD)


def test_interval_across_dst_when_both_moments_share_a_zone():
    history = History(last_surveyed_at=DST_LAST)
    rules = replace(SCENARIO_3, min_interval_weeks=1)
    verdict = decide(rules, make_person(), history, DST_NOW_WEEK)
    assert verdict.scheduled


# --- no hidden clock --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "now",
    [
        dt.datetime(2001, 2, 3, 4, 5, tzinfo=UTC),
        dt.datetime(2089, 7, 1, 12, 0, tzinfo=PLUS_TWO),
    ],
)
def test_decide_uses_the_given_now_not_the_clock(now):
    # Relative to the given now, as in scenario 1; the real clock is decades away.
    assert_scheduled(
        decide(SCENARIO_1, make_person(created_at=now - 2 * DAY), History(), now), now + DAY
    )
    assert_skipped(
        decide(SCENARIO_1, make_person(created_at=now - 20 * DAY), History(), now), Reason.TOO_OLD
    )
    assert_scheduled(
        decide(SCENARIO_1, make_person(created_at=None), History(), now), now + 3 * DAY
    )


# --- property-based ---------------------------------------------------------------------------
# Properties that compare send_at with "moment + N days" draw every moment in fixed-offset zones,
# where wall-clock and absolute arithmetic agree; the DST cases are the example tests above.

ZONES = [UTC, PLUS_TWO, MINUS_FIVE_THIRTY, BERLIN]
FIXED_ZONES = [UTC, PLUS_TWO, MINUS_FIVE_THIRTY]


def one_second_off(n: int) -> dt.timedelta:
    """One second either side of a whole-day boundary."""
    return SECOND if n % 2 else -SECOND


# Arbitrary offsets, plus whole days and weeks so the boundaries are hit often.
created_offsets = st.one_of(
    st.timedeltas(min_value=-400 * DAY, max_value=400 * DAY),
    st.integers(-400, 400).map(lambda days: days * DAY),
    st.integers(-61, 61).map(lambda days: days * DAY + one_second_off(days)),
)
surveyed_offsets = st.one_of(
    st.timedeltas(min_value=-70 * WEEK, max_value=10 * WEEK),
    st.integers(-70, 10).map(lambda weeks: weeks * WEEK),
)


def around(now: dt.datetime, offset: dt.timedelta, zone) -> dt.datetime:
    """The instant `now + offset`, expressed in `zone` (absolute arithmetic, valid local time)."""
    return (now.astimezone(UTC) + offset).astimezone(zone)


any_rules = st.builds(
    Rules,
    min_delay_days=st.integers(0, 60),
    max_delay_days=st.integers(0, 60),
    min_interval_weeks=st.integers(0, 60),
    status=st.sampled_from(["active", "active", "paused", "archived"]),
    automation=st.booleans(),
)
eligible_rules = st.builds(
    Rules,
    min_delay_days=st.integers(0, 60),
    max_delay_days=st.integers(0, 60),
    min_interval_weeks=st.integers(0, 60),
)
emails = st.sampled_from(["", "anna.schmidt@example.com", "not-an-email", "  "])


@st.composite
def situations(draw, eligible: bool = False, now_zones=ZONES, other_zones=ZONES):
    """(rules, person, history, now); eligible: nothing but the dates can block the survey."""
    now = draw(
        st.datetimes(
            min_value=dt.datetime(2001, 1, 1),
            max_value=dt.datetime(2090, 1, 1),
            timezones=st.sampled_from(now_zones),
            allow_imaginary=False,
        )
    )
    zone = st.sampled_from(other_zones)
    created_at = draw(st.one_of(st.none(), st.builds(around, st.just(now), created_offsets, zone)))
    last_surveyed_at = draw(
        st.one_of(st.none(), st.builds(around, st.just(now), surveyed_offsets, zone))
    )
    if eligible:
        rules = draw(eligible_rules)
        person = Person(email="anna.schmidt@example.com", email_valid=True, created_at=created_at)
        history = History(pending=False, last_surveyed_at=last_surveyed_at)
    else:
        rules = draw(any_rules)
        person = Person(
            email=draw(emails),
            email_valid=draw(st.booleans()),
            created_at=created_at,
            unsubscribed=draw(st.booleans()),
            bounced=draw(st.booleans()),
        )
        history = History(pending=draw(st.booleans()), last_surveyed_at=last_surveyed_at)
    return rules, person, history, now


def created(person: Person, now: dt.datetime) -> dt.datetime:
    return person.created_at if person.created_at is not None else now


def expected_reason(rules: Rules, person: Person, history: History, now: dt.datetime) -> str:
    """The design's rules, on absolute instants, in the order decide applies them."""
    now_utc = now.astimezone(UTC)
    age = now_utc - created(person, now).astimezone(UTC)
    checks = [
        (rules.status == "archived", Reason.SURVEY_ARCHIVED),
        (rules.status == "paused", Reason.SURVEY_PAUSED),
        (not rules.automation, Reason.AUTOMATION_OFF),
        (not person.email, Reason.NO_EMAIL),
        (not person.email_valid, Reason.INVALID_EMAIL),
        (person.unsubscribed, Reason.UNSUBSCRIBED),
        (person.bounced, Reason.BOUNCED),
        (history.pending, Reason.ALREADY_SCHEDULED),
        (rules.max_delay_days > 0 and age > rules.max_delay_days * DAY, Reason.TOO_OLD),
        (
            rules.min_interval_weeks > 0
            and history.last_surveyed_at is not None
            and now_utc - history.last_surveyed_at.astimezone(UTC)
            < rules.min_interval_weeks * WEEK,
            Reason.WITHIN_INTERVAL,
        ),
    ]
    for fires, reason in checks:
        if fires:
            return reason
    return Reason.SCHEDULED


@settings(max_examples=400)
@given(situations())
def test_property_reason_is_a_known_code_and_skips_have_no_send_at(situation):
    verdict = decide(*situation)
    assert verdict.reason in Reason.values
    if verdict.scheduled:
        assert verdict.send_at is not None
        assert verdict.send_at.tzinfo is not None
    else:
        assert verdict.send_at is None


@settings(max_examples=400)
@given(situations())
def test_property_send_at_is_never_before_now(situation):
    verdict = decide(*situation)
    now = situation[3]
    if verdict.scheduled:
        assert verdict.send_at >= now


@settings(max_examples=400)
@given(situations(eligible=True, now_zones=FIXED_ZONES, other_zones=FIXED_ZONES))
def test_property_send_at_with_max_delay(situation):
    rules, person, history, now = situation
    assume(rules.max_delay_days > 0)
    assume(not (rules.min_delay_days == 0 and created(person, now) > now))
    verdict = decide(rules, person, history, now)
    if verdict.scheduled:
        delay = rules.min_delay_days * DAY
        assert verdict.send_at == max(created(person, now) + delay, now)
        assert verdict.send_at >= created(person, now) + delay
        if verdict.send_at > now:
            assert verdict.send_at == created(person, now) + delay


@settings(max_examples=400)
@given(situations(eligible=True, now_zones=FIXED_ZONES, other_zones=FIXED_ZONES))
def test_property_send_at_without_max_delay(situation):
    rules, person, history, now = situation
    rules = replace(rules, max_delay_days=0)
    verdict = decide(rules, person, history, now)
    assert verdict.reason in (Reason.SCHEDULED, Reason.WITHIN_INTERVAL)  # never too old
    if verdict.scheduled:
        assert verdict.send_at == now + rules.min_delay_days * DAY


@settings(max_examples=300)
@given(situations(eligible=True, now_zones=FIXED_ZONES, other_zones=FIXED_ZONES))
def test_property_max_zero_and_interval_zero_always_schedules(situation):
    rules, person, history, now = situation
    rules = replace(rules, max_delay_days=0, min_interval_weeks=0)
    assert_scheduled(decide(rules, person, history, now), now + rules.min_delay_days * DAY)


@settings(max_examples=300)
@given(situations(eligible=True, now_zones=FIXED_ZONES, other_zones=FIXED_ZONES))
def test_property_no_created_at_is_created_at_the_call(situation):
    rules, person, history, now = situation
    person = replace(person, created_at=None)
    verdict = decide(rules, person, history, now)
    assert verdict.reason != Reason.TOO_OLD
    assert verdict == decide(rules, replace(person, created_at=now), history, now)
    if verdict.scheduled:
        assert verdict.send_at == now + rules.min_delay_days * DAY


@settings(max_examples=400)
@given(situations())
def test_property_never_scheduled_when_blocked(situation):
    rules, person, history, now = situation
    verdict = decide(rules, person, history, now)
    if (
        history.pending
        or person.unsubscribed
        or person.bounced
        or not person.email
        or not person.email_valid
        or rules.status != "active"
        or not rules.automation
    ):
        assert not verdict.scheduled
        assert verdict.send_at is None


@settings(max_examples=300)
@given(situations(), st.sampled_from(["pending", "unsubscribed", "bounced", "empty", "invalid"]))
def test_property_each_block_alone_prevents_scheduling(situation, block):
    rules, person, history, now = situation
    if block == "pending":
        history = replace(history, pending=True)
    elif block == "empty":
        person = replace(person, email="")
    elif block == "invalid":
        person = replace(person, email_valid=False)
    else:
        person = replace(person, **{block: True})
    verdict = decide(rules, person, history, now)
    assert not verdict.scheduled
    assert verdict.send_at is None


@settings(max_examples=400)
@given(situations(now_zones=FIXED_ZONES))
def test_property_reason_matches_the_design(situation):
    assert decide(*situation).reason == expected_reason(*situation)


@settings(max_examples=300)
@given(situations())
def test_property_deterministic(situation):
    first = decide(*situation)
    second = decide(*situation)
    assert first == second
    assert first.send_at == second.send_at


@settings(max_examples=300)
@given(
    situations(now_zones=FIXED_ZONES, other_zones=FIXED_ZONES),
    st.timedeltas(min_value=-3650 * DAY, max_value=3650 * DAY),
)
def test_property_shifting_every_moment_shifts_only_send_at(situation, shift):
    """No hidden clock: moving now, createdAt and history together moves send_at alike."""
    rules, person, history, now = situation
    # Fixed-offset zones only: shifting a Europe/Berlin wall time is not an absolute shift.

    def move(moment):
        return None if moment is None else moment + shift

    verdict = decide(rules, person, history, now)
    moved = decide(
        rules,
        replace(person, created_at=move(person.created_at)),
        replace(history, last_surveyed_at=move(history.last_surveyed_at)),
        now + shift,
    )
    assert moved.reason == verdict.reason
    assert moved.send_at == move(verdict.send_at)


@settings(max_examples=300)
@given(situations(eligible=True), st.integers(0, 60))
def test_property_a_longer_max_delay_never_makes_a_contact_too_old(situation, extra):
    rules, person, history, now = situation
    assume(rules.max_delay_days > 0)
    verdict = decide(rules, person, history, now)
    longer = decide(
        replace(rules, max_delay_days=rules.max_delay_days + extra), person, history, now
    )
    if verdict.reason != Reason.TOO_OLD:
        assert longer.reason != Reason.TOO_OLD


@settings(max_examples=300)
@given(situations(eligible=True), st.integers(0, 60))
def test_property_a_shorter_interval_never_blocks_more(situation, cut):
    rules, person, history, now = situation
    verdict = decide(rules, person, history, now)
    shorter = replace(rules, min_interval_weeks=max(0, rules.min_interval_weeks - cut))
    if verdict.scheduled:
        assert decide(shorter, person, history, now) == verdict


@settings(max_examples=300)
@given(
    situations(eligible=True, now_zones=FIXED_ZONES, other_zones=FIXED_ZONES), st.integers(0, 60)
)
def test_property_a_longer_min_delay_never_sends_earlier(situation, extra):
    rules, person, history, now = situation
    verdict = decide(rules, person, history, now)
    later = decide(
        replace(rules, min_delay_days=rules.min_delay_days + extra), person, history, now
    )
    assert later.reason == verdict.reason  # the min delay never decides whether, only when
    if verdict.scheduled:
        assert later.send_at >= verdict.send_at
        if rules.min_delay_days > 0 or created(person, now) <= now:
            # (min 0 with a future createdAt means "now", a jump.)
            assert later.send_at - verdict.send_at <= extra * DAY
