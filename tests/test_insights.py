"""Insights on known data sets: every number computed by hand and compared exactly.

The organization is in Europe/Berlin, so days, weeks, months and quarters are Berlin's
(UTC+1 until 30 March 2025, UTC+2 after).
"""

from __future__ import annotations

import datetime as dt
import math

import pytest

from npsloop.contacts.models import Contact
from npsloop.insights import periods
from npsloop.insights.breakdowns import breakdown, property_keys
from npsloop.insights.metrics import metrics
from npsloop.insights.nps import (
    MIN_RESPONSES_TO_JUDGE,
    combine,
    confidence_interval,
    delta,
    rolling,
    summarize,
)
from npsloop.insights.options import parse_options, with_range
from npsloop.insights.trend import trend
from npsloop.invitations.models import Invitation
from npsloop.responses.filters import ResponseFilter, parse
from npsloop.responses.models import Response
from npsloop.surveys.models import Survey
from npsloop.surveys.services import create_survey
from npsloop.web.secrets import random_token

UTC = dt.UTC
State = Invitation.State


def at(text: str) -> dt.datetime:
    """An aware datetime from ISO text with its offset, e.g. 2025-03-09T23:30+00:00."""
    value = dt.datetime.fromisoformat(text)
    assert value.tzinfo is not None
    return value


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


@pytest.fixture
def org(org_a):
    org_a.organization.time_zone = "Europe/Berlin"
    org_a.organization.save()
    return org_a.organization


@pytest.fixture
def nps_survey(org):
    survey, _key = create_survey(organization=org, name="Customer NPS")
    return survey


_counter = iter(range(10**6))


def contact_of(org, **fields) -> Contact:
    return Contact.objects.create(
        organization=org, email=f"c{next(_counter)}@example.com", **fields
    )


def respond(survey, score, when, *, comment="", contact=None, invitation=None, language="en"):
    return Response.objects.create(
        organization=survey.organization,
        survey=survey,
        contact=contact,
        invitation=invitation,
        score=score,
        comment=comment,
        language=language,
        created_at=at(when) if isinstance(when, str) else when,
    )


def invite(survey, contact, *, sent_at, state=State.SENT):
    when = at(sent_at) if sent_at else None
    return Invitation.objects.create(
        organization=survey.organization,
        survey=survey,
        contact=contact,
        key=random_token(18),
        state=state,
        send_at=when or at("2025-01-01T00:00+00:00"),
        sent_at=when,
    )


MARCH = ResponseFilter(date_from=d("2025-03-01"), date_to=d("2025-03-31"))


# --- Pure arithmetic ------------------------------------------------------------------


def test_confidence_interval_worked_example():
    # 5 promoters, 3 passives, 2 detractors of 10: p = .5, d = .2, NPS 30.
    # var = (.5 + .2 − .3²) / 10 = .061; 1.96 · √.061 · 100 = 48.4084…
    low, high = confidence_interval(5, 2, 10)
    assert (round(low, 2), round(high, 2)) == (-18.41, 78.41)
    summary = summarize([10, 10, 9, 9, 9, 8, 7, 7, 6, 0])
    assert summary.confidence == (low, high)
    assert round(summary.margin, 2) == 48.41


def test_confidence_interval_is_clipped_and_degenerate_cases():
    # 1 promoter, 2 detractors of 3: −33.33 ± 106.69 → clipped at −100.
    low, high = confidence_interval(1, 2, 3)
    assert (low, round(high, 2)) == (-100.0, 73.36)
    # 3 promoters, 1 detractor of 4: 50 ± 84.87 → clipped at 100.
    low, high = confidence_interval(3, 1, 4)
    assert (round(low, 2), high) == (-34.87, 100.0)
    assert confidence_interval(1, 0, 1) == (100.0, 100.0)
    assert confidence_interval(0, 0, 0) is None
    assert summarize([]).confidence is None and summarize([]).margin is None
    with pytest.raises(ValueError):
        confidence_interval(3, 2, 4)


def test_too_few_threshold_is_a_constant():
    assert MIN_RESPONSES_TO_JUDGE == 30
    assert summarize([10] * 29).too_few and not summarize([10] * 30).too_few


def test_rolling_sums_counts_not_scores():
    weeks = [summarize([0, 0]), summarize([10]), summarize([10, 10, 6])]
    windows = rolling(weeks, 2, lead=1)
    # [0, 0, 10]: (1 − 2) / 3; [10, 10, 10, 6]: (3 − 1) / 4.
    assert [round(w.nps, 2) for w in windows] == [-33.33, 50.0]
    assert rolling(weeks, 1) == weeks
    assert combine(weeks).total == 6
    assert delta(50.0, None) is None and delta(50.0, -33.5) == 83.5
    with pytest.raises(ValueError):
        rolling(weeks, 0)


@pytest.mark.parametrize(
    "day, period, start",
    [
        ("2025-03-09", "week", "2025-03-03"),  # a Sunday belongs to the week of Monday the 3rd
        ("2025-03-10", "week", "2025-03-10"),
        ("2025-02-28", "month", "2025-02-01"),
        ("2025-12-31", "quarter", "2025-10-01"),
        ("2025-04-01", "quarter", "2025-04-01"),
        ("2025-07-04", "day", "2025-07-04"),
    ],
)
def test_period_floor(day, period, start):
    assert periods.floor(d(day), period) == d(start)


def test_period_series_and_defaults():
    assert periods.series(d("2025-03-01"), d("2025-03-31"), "week") == [
        d("2025-02-24"),
        d("2025-03-03"),
        d("2025-03-10"),
        d("2025-03-17"),
        d("2025-03-24"),
        d("2025-03-31"),
    ]
    assert periods.series(d("2024-11-15"), d("2025-02-01"), "quarter") == [
        d("2024-10-01"),
        d("2025-01-01"),
    ]
    assert periods.shift(d("2025-01-01"), "month", -2) == d("2024-11-01")
    assert periods.last_day(d("2024-02-01"), "month") == d("2024-02-29")
    assert periods.count(d("2025-03-01"), d("2025-03-31"), "week") == 6
    assert periods.default_period(d("2025-03-01"), d("2025-03-31")) == "day"
    assert periods.default_period(*periods.default_range(d("2025-03-31"))) == "week"
    assert periods.default_period(d("2024-01-01"), d("2025-03-31")) == "month"
    assert periods.default_period(d("2020-01-01"), d("2025-03-31")) == "quarter"
    # Ten years by day would be 3653 points: the series asks for weeks (522) then months.
    assert periods.fitting_period(d("2015-01-01"), d("2024-12-31"), "day") == "month"
    assert periods.default_range(d("2025-03-31")) == (d("2025-01-01"), d("2025-03-31"))
    assert periods.previous_range(d("2025-03-10"), d("2025-03-16")) == (
        d("2025-03-03"),
        d("2025-03-09"),
    )


def test_options_and_the_default_range():
    options = parse_options("period=quarter&rolling=4&breakdown=prop.plan")
    assert (options.period, options.rolling, options.breakdown) == ("quarter", 4, "prop.plan")
    assert options.to_query() == "period=quarter&rolling=4&breakdown=prop.plan"
    bad = parse_options("period=year&rolling=0&breakdown=prop.a'b")
    assert (bad.period, bad.rolling, bad.breakdown) == ("", 1, "survey")
    assert set(bad.errors) == {"period", "rolling", "breakdown"}
    today = d("2025-03-31")
    assert with_range(ResponseFilter(), today).date_from == d("2025-01-01")
    assert with_range(ResponseFilter(date_from=d("2025-03-10")), today).date_to == today
    only_end = with_range(ResponseFilter(date_to=d("2025-03-31")), today)
    assert only_end.date_from == d("2025-01-01")


# --- Metrics --------------------------------------------------------------------------


def _march_data(survey):
    org = survey.organization
    people = [contact_of(org) for _ in range(12)]
    scores = [10, 10, 9, 9, 9, 8, 7, 7, 6, 0]
    comments = ["Great", "", "Fast", "", "", "", "Slow sometimes", "", "", "Broken"]
    # Eight invitations sent in March: the first five answered, three not.
    invitations = [
        invite(survey, people[i], sent_at=f"2025-03-0{i + 1}T09:00+01:00", state=State.SENT)
        for i in range(8)
    ]
    for i, (score, comment) in enumerate(zip(scores, comments, strict=True)):
        invitation = invitations[i] if i < 5 else None
        if invitation is not None:
            invitation.state = State.RESPONDED
            invitation.save()
        respond(
            survey, score, f"2025-03-{10 + i}T12:00+01:00", comment=comment, invitation=invitation
        )
    # The last second of 31 March in Berlin counts; the last minute of February does not.
    Response.objects.filter(score=0).update(created_at=at("2025-03-31T23:59:59+02:00"))
    respond(survey, 0, "2025-02-28T23:30+01:00", comment="February")
    # Not sent in March: an invitation sent in February (answered in March would still not
    # count as sent in March), a bounce, one scheduled.
    old = invite(survey, people[8], sent_at="2025-02-27T09:00+01:00", state=State.RESPONDED)
    respond(survey, 10, "2025-02-27T10:00+01:00", invitation=old)
    invite(survey, people[9], sent_at=None, state=State.BOUNCED)
    invite(survey, people[10], sent_at=None, state=State.SCHEDULED)
    # Two unsubscribes and one bounce in March, one of each outside it.
    Contact.objects.filter(pk=people[0].pk).update(unsubscribed_at=at("2025-03-05T10:00+01:00"))
    Contact.objects.filter(pk=people[1].pk).update(unsubscribed_at=at("2025-03-31T23:00+02:00"))
    Contact.objects.filter(pk=people[2].pk).update(unsubscribed_at=at("2025-02-28T23:30+01:00"))
    Contact.objects.filter(pk=people[9].pk).update(bounced_at=at("2025-03-20T08:00+01:00"))
    Contact.objects.filter(pk=people[3].pk).update(bounced_at=at("2025-04-01T00:30+02:00"))


def _other_org_noise(org_b):
    """The same kind of data in another organization: it must never count."""
    survey, _key = create_survey(organization=org_b.organization, name="Other")
    other = contact_of(org_b.organization, properties={"plan": "pro"})
    invitation = invite(survey, other, sent_at="2025-03-05T09:00+01:00", state=State.RESPONDED)
    respond(survey, 0, "2025-03-15T12:00+01:00", comment="other org", invitation=invitation)
    Contact.objects.filter(pk=other.pk).update(
        unsubscribed_at=at("2025-03-06T10:00+01:00"), bounced_at=at("2025-03-07T10:00+01:00")
    )
    return survey


def test_metrics_on_a_known_month(org, nps_survey, org_b):
    _march_data(nps_survey)
    _other_org_noise(org_b)
    m = metrics(org, MARCH)
    s = m.summary
    assert s.distribution == (1, 0, 0, 0, 0, 0, 1, 2, 1, 3, 2)
    assert (s.total, s.promoters, s.passives, s.detractors) == (10, 5, 3, 2)
    assert s.nps == 30.0
    assert (s.share(s.promoters), s.share(s.passives), s.share(s.detractors)) == (50.0, 30.0, 20.0)
    assert tuple(round(b, 2) for b in s.confidence) == (-18.41, 78.41)
    assert (m.comments, m.comment_rate) == (4, 40.0)
    assert (m.sent, m.responded, m.response_rate) == (8, 5, 62.5)
    assert (m.unsubscribes, m.bounces) == (2, 1)
    # The previous 31 days (29 Jan – 28 Feb): the February 0 and 10 → NPS 0.
    assert m.previous_range == (d("2025-01-29"), d("2025-02-28"))
    assert m.previous.distribution == (1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)
    assert m.delta == 30.0


def test_metrics_follow_the_filter(org, nps_survey):
    _march_data(nps_survey)
    detractors = metrics(org, parse("from=2025-03-01&to=2025-03-31&category=detractor"))
    assert (detractors.summary.total, detractors.summary.nps) == (2, -100.0)
    # The five answered invitations got 10, 10, 9, 9, 9: none of them a detractor's.
    assert (detractors.sent, detractors.responded) == (8, 0)
    promoters = metrics(org, parse("from=2025-03-01&to=2025-03-31&category=promoter"))
    assert (promoters.sent, promoters.responded) == (8, 5)
    with_comment = metrics(org, parse("from=2025-03-01&to=2025-03-31&comment=with"))
    assert (with_comment.summary.total, with_comment.comment_rate) == (4, 100.0)


def test_metrics_without_responses_are_empty_not_zero(org):
    m = metrics(org, MARCH)
    assert m.summary.total == 0 and m.summary.nps is None and m.summary.confidence is None
    assert m.response_rate is None and m.comment_rate is None
    assert m.previous.total == 0 and m.delta is None
    assert (m.unsubscribes, m.bounces) == (0, 0)


def test_unsubscribes_and_bounces_follow_people_filters(org, nps_survey):
    pro = contact_of(org, properties={"plan": "pro"}, language="de")
    free = contact_of(org, properties={"plan": "free"}, language="en")
    for person in (pro, free):
        Contact.objects.filter(pk=person.pk).update(unsubscribed_at=at("2025-03-05T10:00+01:00"))
    invite(nps_survey, pro, sent_at="2025-03-01T10:00+01:00")
    assert metrics(org, parse("from=2025-03-01&to=2025-03-31")).unsubscribes == 2
    assert metrics(org, parse("from=2025-03-01&to=2025-03-31&prop.plan=pro")).unsubscribes == 1
    assert metrics(org, parse("from=2025-03-01&to=2025-03-31&lang=en")).unsubscribes == 1
    other, _key = create_survey(organization=org, name="Other")
    only_other = parse(f"from=2025-03-01&to=2025-03-31&survey={other.pk}")
    assert metrics(org, only_other).unsubscribes == 0


# --- Trend ----------------------------------------------------------------------------


def test_weeks_are_berlin_weeks(org, nps_survey):
    # 23:30 UTC on Sunday 9 March is 00:30 on Monday 10 March in Berlin.
    respond(nps_survey, 10, "2025-03-09T23:30+00:00")
    # 22:30 UTC the same Sunday is 23:30 on Sunday in Berlin: the week before.
    respond(nps_survey, 0, "2025-03-09T22:30+00:00")
    t = trend(org, MARCH, period="week")
    assert [p.start for p in t.points] == periods.series(d("2025-03-01"), d("2025-03-31"), "week")
    by_week = {p.start: p.summary for p in t.points}
    assert by_week[d("2025-03-03")].distribution[0] == 1
    assert by_week[d("2025-03-10")].distribution[10] == 1
    # Empty weeks are there, with no responses and no score.
    empty = [p for p in t.points if p.summary.total == 0]
    assert [p.start for p in empty] == [
        d("2025-02-24"),
        d("2025-03-17"),
        d("2025-03-24"),
        d("2025-03-31"),
    ]
    assert all(p.nps is None for p in empty)
    assert [p.partial for p in t.points] == [True, False, False, False, False, True]
    assert t.points[-1].end == d("2025-04-06")


def test_days_months_and_quarters_in_berlin_across_daylight_saving(org, nps_survey):
    # 22:30 UTC on 31 March is 00:30 on 1 April in Berlin (summer time, UTC+2).
    respond(nps_survey, 9, "2025-03-31T22:30+00:00")
    # 21:30 UTC on 31 March is 23:30 on 31 March.
    respond(nps_survey, 5, "2025-03-31T21:30+00:00")
    # 22:30 UTC on 30 June is 00:30 on 1 July: the third quarter.
    respond(nps_survey, 10, "2025-06-30T22:30+00:00")
    spring = ResponseFilter(date_from=d("2025-03-30"), date_to=d("2025-04-01"))
    days = trend(org, spring, period="day")
    assert [(p.start, p.summary.total) for p in days.points] == [
        (d("2025-03-30"), 0),
        (d("2025-03-31"), 1),
        (d("2025-04-01"), 1),
    ]
    year = ResponseFilter(date_from=d("2025-01-01"), date_to=d("2025-12-31"))
    months = {p.start: p.summary.total for p in trend(org, year, period="month").points}
    assert len(months) == 12
    assert (months[d("2025-03-01")], months[d("2025-04-01")]) == (1, 1)
    assert months[d("2025-06-01")] == 0 and months[d("2025-07-01")] == 1
    quarters = trend(org, year, period="quarter")
    assert [(p.start, p.summary.total) for p in quarters.points] == [
        (d("2025-01-01"), 1),
        (d("2025-04-01"), 1),
        (d("2025-07-01"), 1),
        (d("2025-10-01"), 0),
    ]
    # The NPS of the second quarter: one 9 → 100; the first: one 5 → −100.
    assert [p.nps for p in quarters.points] == [-100.0, 100.0, 100.0, None]


def test_rolling_window_reaches_before_the_range(org, nps_survey):
    # Week of 3 March (before the range): 0, 0; 10 March: 10; 17 March: 10, 10, 6.
    respond(nps_survey, 0, "2025-03-04T12:00+01:00")
    respond(nps_survey, 0, "2025-03-05T12:00+01:00")
    respond(nps_survey, 10, "2025-03-11T12:00+01:00")
    for score in (10, 10, 6):
        respond(nps_survey, score, "2025-03-18T12:00+01:00")
    flt = ResponseFilter(date_from=d("2025-03-10"), date_to=d("2025-03-23"))
    t = trend(org, flt, period="week", rolling_window=2)
    assert [p.start for p in t.points] == [d("2025-03-10"), d("2025-03-17")]
    # Own counts stay within the range; windows add the week before.
    assert [p.summary.total for p in t.points] == [1, 3]
    assert [p.summary.nps for p in t.points] == [100.0, 100.0 / 3]
    assert [p.window.total for p in t.points] == [3, 4]
    assert [p.nps for p in t.points] == [-100.0 / 3, 50.0]
    # The current period against the previous one: 50 − (−33.33) = 83.33.
    assert round(t.delta, 2) == 83.33 and t.direction == "up"
    # Without a window the same weeks compare 100/3 with 100.
    plain = trend(org, flt, period="week")
    assert round(plain.delta, 2) == -66.67 and plain.direction == "down"


def test_rolling_window_with_a_range_starting_mid_week(org, nps_survey):
    # Monday 10 March is before the range (from Wednesday 12): it feeds the window only.
    respond(nps_survey, 0, "2025-03-10T12:00+01:00")
    respond(nps_survey, 10, "2025-03-12T12:00+01:00")
    flt = ResponseFilter(date_from=d("2025-03-12"), date_to=d("2025-03-16"))
    t = trend(org, flt, period="week", rolling_window=2)
    (point,) = t.points
    assert point.partial and point.summary.total == 1 and point.summary.nps == 100.0
    assert point.window.total == 2 and point.nps == 0.0
    assert metrics(org, flt).summary.total == 1


def test_trend_without_a_range_starts_with_the_first_response(org, nps_survey):
    respond(nps_survey, 10, "2025-03-05T12:00+01:00")
    t = trend(org, ResponseFilter(), today=d("2025-03-20"))
    assert t.period == "day"
    assert (t.points[0].start, t.points[-1].start) == (d("2025-03-05"), d("2025-03-20"))
    assert len(t.points) == 16


def test_trend_of_an_empty_organization(org):
    t = trend(org, ResponseFilter(), today=d("2025-03-20"))
    assert t.points == () and t.current is None and t.delta is None


def test_trend_is_scoped_to_the_organization(org, nps_survey, org_b):
    _other_org_noise(org_b)
    t = trend(org, MARCH, period="month")
    assert [p.summary.total for p in t.points] == [0]


# --- Breakdowns -----------------------------------------------------------------------


def test_breakdown_by_property_with_a_small_group(org, nps_survey, org_b):
    pro = contact_of(org, properties={"plan": "pro", "seats": 5})
    free = contact_of(org, properties={"plan": "free", "seats": "5"})
    unknown = contact_of(org, properties={})
    for score in [10] * 20 + [8] * 5 + [0] * 5:
        respond(nps_survey, score, "2025-03-10T12:00+01:00", contact=pro)
    for score in (0, 5, 9):
        respond(nps_survey, score, "2025-03-11T12:00+01:00", contact=free)
    respond(nps_survey, 10, "2025-03-12T12:00+01:00", contact=unknown)
    respond(nps_survey, 10, "2025-03-12T12:00+01:00")  # no contact at all
    _other_org_noise(org_b)  # a "pro" detractor elsewhere
    bd = breakdown(org, MARCH, "prop.plan")
    rows = [(g.label, g.key, g.summary.total, g.summary.nps, g.too_few) for g in bd.groups]
    # pro: 20 promoters, 5 detractors of 30 → 50; judged first. Then the small groups,
    # biggest first: free (0, 5, 9 → −33.33) and the two without a plan.
    assert rows == [
        ("pro", "pro", 30, 50.0, False),
        ("free", "free", 3, -100.0 / 3, True),
        ("(not set)", "", 2, 100.0, True),
    ]
    assert tuple(round(b, 2) for b in bd.groups[0].summary.confidence) == (22.67, 77.33)
    assert bd.groups[0].param == ("prop.plan", "pro") and bd.groups[2].param is None
    # A number and the same text are one group, as the filter language compares them.
    seats = breakdown(org, MARCH, "prop.seats")
    assert [(g.key, g.summary.total) for g in seats.groups] == [("5", 33), ("", 2)]
    # The key is a parameter, never lookup syntax: "plan__contains" is just a missing key.
    odd = breakdown(org, MARCH, "prop.plan__contains")
    assert [(g.key, g.summary.total) for g in odd.groups] == [("", 35)]
    assert property_keys(org) == ["plan", "seats"]
    with pytest.raises(ValueError):
        breakdown(org, MARCH, "prop.a'b")


def test_breakdown_by_survey_language_and_gender(org, nps_survey):
    other, _key = create_survey(organization=org, name="Onboarding NPS")
    archived, _key = create_survey(organization=org, name="Old")
    Survey.objects.filter(pk=archived.pk).update(status=Survey.Status.ARCHIVED)
    anna = contact_of(org, gender="female")
    for score in (10, 9, 0):
        respond(nps_survey, score, "2025-03-10T12:00+01:00", language="de", contact=anna)
    respond(other, 6, "2025-03-10T12:00+01:00", language="en")
    by_survey = breakdown(org, MARCH, "survey")
    assert [(g.label, g.summary.total, round(g.summary.nps, 2)) for g in by_survey.groups] == [
        ("Customer NPS", 3, 33.33),
        ("Onboarding NPS", 1, -100.0),
    ]  # the archived survey without responses is left out
    assert by_survey.groups[0].survey == nps_survey
    by_language = breakdown(org, MARCH, "language")
    assert [(g.key, g.label, g.summary.total) for g in by_language.groups] == [
        ("de", "German", 3),
        ("en", "English", 1),
    ]
    by_gender = breakdown(org, MARCH, "gender")
    assert [(g.label, g.summary.total) for g in by_gender.groups] == [
        ("Female", 3),
        ("(not set)", 1),
    ]
    only = breakdown(org, parse(f"from=2025-03-01&to=2025-03-31&survey={other.pk}"), "survey")
    assert [g.label for g in only.groups] == ["Onboarding NPS"]


def test_margin_matches_the_documented_formula():
    summary = summarize({10: 20, 8: 5, 0: 5})
    p, dd = 20 / 30, 5 / 30
    assert summary.margin == pytest.approx(1.96 * math.sqrt((p + dd - (p - dd) ** 2) / 30) * 100)
