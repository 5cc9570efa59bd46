"""The daily roll-ups give exactly the live queries' figures, and stay so after every
kind of change (new, changed and deleted responses, contacts, retention, erasure)."""

from __future__ import annotations

import datetime as dt
import random
import re
import zoneinfo

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npsloop.api.erasure import erase_person
from npsloop.contacts.models import Contact
from npsloop.insights import periods, rollups, selectors
from npsloop.insights.breakdowns import breakdown
from npsloop.insights.metrics import metrics
from npsloop.insights.models import DailyProperty, DailyScore, RollupState
from npsloop.insights.options import Options
from npsloop.insights.trend import trend
from npsloop.ops import retention
from npsloop.responses.filters import CATEGORIES, ResponseFilter
from npsloop.responses.models import Response
from npsloop.surveys.services import create_survey

# Berlin switches to summer time on 30 March 2025 and back on 26 October.
START = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
DAYS = 75
PLANS = ["free", "pro", "team", ""]
BREAKDOWNS = ["survey", "language", "gender", "prop.plan", "prop.seats", "prop.trial"]


@pytest.fixture
def org(org_a):
    org_a.organization.time_zone = "Europe/Berlin"
    org_a.organization.save()
    return org_a.organization


def _contacts(org, rnd: random.Random, n: int) -> list[Contact]:
    people = []
    for i in range(n):
        properties: dict = {"seats": rnd.choice([1, 5, "5", 10])}
        if plan := rnd.choice(PLANS):
            properties["plan"] = plan
        if rnd.random() < 0.5:
            properties["trial"] = rnd.random() < 0.5
        people.append(
            Contact.objects.create(
                organization=org,
                email=f"p{i}@example.com",
                gender=rnd.choice(["", "female", "male"]),
                properties=properties,
            )
        )
    return people


def _responses(surveys, people, rnd: random.Random, n: int) -> list[Response]:
    made = []
    for _ in range(n):
        survey = rnd.choice(surveys)
        # Many near midnight, in UTC and in Berlin, to catch a day cut the wrong way.
        day = START + dt.timedelta(days=rnd.randrange(DAYS))
        moment = day + rnd.choice(
            [dt.timedelta(minutes=rnd.randrange(1440)), dt.timedelta(hours=22, minutes=59)]
            + [dt.timedelta(hours=23), dt.timedelta(hours=-1), dt.timedelta(seconds=-1)]
        )
        made.append(
            Response.objects.create(
                organization=survey.organization,
                survey=survey,
                contact=rnd.choice([*people, None]),
                score=rnd.randrange(11),
                comment=rnd.choice(["", "", "good", "meh"]),
                language=rnd.choice(["en", "de", ""]),
                created_at=moment,
            )
        )
    return made


@pytest.fixture
def data(org, org_b):
    rnd = random.Random(5)
    surveys = [create_survey(organization=org, name=f"S{i}")[0] for i in range(2)]
    people = _contacts(org, rnd, 25)
    _responses(surveys, people, rnd, 400)
    # Another organization's responses never count.
    other, _key = create_survey(organization=org_b.organization, name="Other")
    _responses([other], [], rnd, 40)
    # Written a while ago: reads look rollups.READ_MARGIN behind the last refresh.
    earlier = timezone.now() - 2 * rollups.READ_MARGIN
    Response.objects.update(updated_at=earlier)
    Contact.objects.update(updated_at=earlier)
    return surveys


def _same(org, flt: ResponseFilter, *, state) -> None:
    """Every read, from the roll-ups (state) and live (None): equal."""
    assert metrics(org, flt, rollup=state) == metrics(org, flt, rollup=None)
    for period in periods.PERIODS:
        for window in (1, 3):
            kwargs = {"period": period, "rolling_window": window, "today": dt.date(2025, 5, 20)}
            assert trend(org, flt, rollup=state, **kwargs) == trend(org, flt, rollup=None, **kwargs)
    for by in BREAKDOWNS:
        assert breakdown(org, flt, by, rollup=state) == breakdown(org, flt, by, rollup=None)


def _all_same(org, state) -> None:
    for flt in FILTERS:
        _same(org, flt, state=state)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


FILTERS = [
    ResponseFilter(),
    ResponseFilter(date_from=d("2025-03-01"), date_to=d("2025-05-14")),
    ResponseFilter(date_from=d("2025-03-29"), date_to=d("2025-03-31"), comment="with"),
    ResponseFilter(date_from=d("2025-03-10"), categories=("promoter",), languages=("de",)),
    ResponseFilter(date_to=d("2025-04-02"), comment="without", score_min=3, score_max=8),
    ResponseFilter(categories=("detractor", "promoter"), languages=("", "en")),
]


def test_rollups_give_the_live_figures(org, data):
    state = rollups.rebuild(org)
    assert state.keys == ["plan", "seats", "trial"]
    assert DailyScore.objects.filter(organization=org).exists()
    assert DailyProperty.objects.filter(organization=org, key="").exists()  # gender
    _all_same(org, state)


def _filters(surveys) -> st.SearchStrategy[ResponseFilter]:
    day = st.dates(min_value=d("2025-02-25"), max_value=d("2025-05-20"))
    return st.builds(
        ResponseFilter,
        surveys=st.lists(st.sampled_from([s.pk for s in surveys]), max_size=2).map(
            lambda x: tuple(sorted(set(x)))
        ),
        categories=st.lists(st.sampled_from(sorted(CATEGORIES)), max_size=2).map(
            lambda x: tuple(sorted(set(x)))
        ),
        score_min=st.none() | st.integers(0, 10),
        score_max=st.none() | st.integers(0, 10),
        date_from=st.none() | day,
        date_to=st.none() | day,
        comment=st.sampled_from(["", "with", "without"]),
        languages=st.lists(st.sampled_from(["en", "de", "", "fr"]), max_size=2).map(
            lambda x: tuple(sorted(set(x)))
        ),
    )


def test_random_filters_give_the_live_figures(org, data):
    state = rollups.rebuild(org)

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(flt=_filters(data))
    def check(flt: ResponseFilter) -> None:
        _same(org, flt, state=state)

    check()


def test_the_dashboard_reads_only_the_rollups(org, data):
    rollups.rebuild(org)
    flt = ResponseFilter(date_from=d("2025-03-01"), date_to=d("2025-05-14"))
    options = Options(period="week", breakdown="prop.plan")
    with CaptureQueriesContext(connection) as queries:
        board = selectors.dashboard(org, flt, options, today=d("2025-05-20"))
    on_responses = [
        q["sql"] for q in queries.captured_queries if 'FROM "responses_response"' in q["sql"]
    ]
    # Only the freshness check and the response rate's invitations touch the responses.
    assert len(on_responses) <= 2, on_responses
    assert board.metrics == metrics(org, flt, rollup=None)
    assert board.breakdown == breakdown(org, flt, "prop.plan", rollup=None)


def test_filters_the_rollups_do_not_hold_read_live(org, data):
    state = rollups.rebuild(org)
    for flt in (
        ResponseFilter(q="good"),
        ResponseFilter(properties=(("plan", "pro"),)),
        ResponseFilter(status="open"),
        ResponseFilter(assignee="none"),
    ):
        with CaptureQueriesContext(connection) as queries:
            got = metrics(org, flt, rollup=state)
        assert not any("insights_daily" in q["sql"] for q in queries.captured_queries)
        assert got == metrics(org, flt, rollup=None)


# --------------------------------------------------------------------------- freshness


def test_a_read_refreshes_what_changed(org, data):
    rollups.rebuild(org)
    survey = data[0]
    Response.objects.create(
        organization=org,
        survey=survey,
        score=0,
        comment="late",
        language="de",
        created_at=START + dt.timedelta(days=3, hours=5),
    )
    changed = Response.objects.filter(organization=org).order_by("pk").first()
    changed.score = 10 if changed.score != 10 else 0
    changed.save()
    state = rollups.fresh(org)
    assert state is not None and state.dirty_from is None
    _all_same(org, state)


def test_a_contact_change_moves_its_responses(org, data):
    rollups.rebuild(org)
    person = Contact.objects.filter(organization=org, responses__isnull=False).first()
    person.properties = {**person.properties, "plan": "enterprise"}
    person.gender = "diverse"
    person.save()
    state = rollups.fresh(org)
    groups = {g.key for g in breakdown(org, ResponseFilter(), "prop.plan", rollup=state).groups}
    assert "enterprise" in groups
    _all_same(org, state)


def test_deleted_responses_and_surveys(org, data):
    rollups.rebuild(org)
    Response.objects.filter(organization=org, score__lte=2).delete()
    assert RollupState.objects.get(organization=org).dirty_from is not None
    state = rollups.fresh(org)
    _all_same(org, state)
    data[1].delete()  # its responses go by cascade, and its roll-up rows
    state = rollups.fresh(org)
    _all_same(org, state)


def test_a_deleted_contact_leaves_its_responses_without_properties(org, data):
    rollups.rebuild(org)
    person = Contact.objects.filter(organization=org, responses__isnull=False).first()
    person.delete()
    state = rollups.fresh(org)
    _all_same(org, state)


def test_erasure_blanks_comments_in_the_rollups_too(org, data):
    rollups.rebuild(org)
    person = (
        Response.objects.filter(organization=org, contact__isnull=False)
        .exclude(comment="")
        .first()
        .contact
    )
    erase_person(contact=person)
    state = rollups.fresh(org)
    _all_same(org, state)


@pytest.mark.parametrize("mode", retention.MODES)
def test_retention_keeps_the_rollups_right(org, data, mode):
    cutoff = START + dt.timedelta(days=30)
    # Contacts count as old only when created before the cutoff and quiet since: those
    # whose responses are all older get erased (anonymise) or deleted.
    Contact.objects.filter(organization=org).update(created_at=START - dt.timedelta(days=9))
    Response.objects.filter(organization=org, contact__email__endswith="0@example.com").update(
        created_at=START + dt.timedelta(days=2)
    )
    rollups.rebuild(org)
    retention.apply_retention(org, mode=mode, cutoff=cutoff, now=cutoff, batch_size=50)
    assert RollupState.objects.get(organization=org).dirty_from is not None
    old = Response.objects.filter(organization=org, created_at__lt=cutoff)
    assert not old.exists() if mode == retention.DELETE else not old.exclude(comment="").exists()
    state = rollups.refresh(org)  # the job (a read leaves 30 days and more to it)
    _all_same(org, state)


def test_a_transaction_committed_late_is_caught_by_the_margin(org, data):
    state = rollups.rebuild(org)
    late = Response.objects.filter(organization=org).order_by("pk").first()
    # It wrote before the watermark but committed after the last refresh read.
    Response.objects.filter(pk=late.pk).update(
        score=(late.score + 1) % 11, updated_at=state.watermark - dt.timedelta(minutes=1)
    )
    state = rollups.refresh(org)
    _all_same(org, state)


def test_too_much_change_reads_live_until_the_job_refreshes(org, data):
    rollups.rebuild(org)
    Response.objects.filter(organization=org).update(score=5, updated_at=dt.datetime.now(dt.UTC))
    assert rollups.fresh(org) is None  # dozens of days: the read leaves them to the job
    flt = ResponseFilter()
    assert (
        metrics(org, flt).summary.distribution[5]
        == Response.objects.filter(organization=org).count()
    )
    state = rollups.refresh(org)
    _all_same(org, state)


def test_a_new_time_zone_needs_a_rebuild(org, data):
    rollups.rebuild(org)
    org.time_zone = "America/New_York"
    org.save()
    assert rollups.fresh(org) is None
    state = rollups.refresh(org)  # the job rebuilds
    assert state.zone == "America/New_York"
    _all_same(org, state)


def test_properties_with_many_or_long_values_are_read_live(org, data):
    for i, person in enumerate(Contact.objects.filter(organization=org)):
        person.properties = {**person.properties, "email_domain": f"d{i}.example"}
        person.save()
    for _ in range(rollups.MAX_VALUES):
        Contact.objects.create(
            organization=org,
            email=f"x{_}@example.com",
            properties={"email_domain": f"other{_}.example"},
        )
    state = rollups.rebuild(org)
    assert "email_domain" not in state.keys
    flt = ResponseFilter()
    with CaptureQueriesContext(connection) as queries:
        got = breakdown(org, flt, "prop.email_domain", rollup=state)
    assert not any("insights_daily" in q["sql"] for q in queries.captured_queries)
    assert got == breakdown(org, flt, "prop.email_domain", rollup=None)
    # A rolled-up key that later gets a value too long for the index: read live from then on.
    person = Contact.objects.filter(organization=org, responses__isnull=False).first()
    person.properties = {**person.properties, "plan": "x" * (rollups.MAX_VALUE_LENGTH + 1)}
    person.save()
    state = rollups.refresh(org)
    assert "plan" not in state.keys
    assert not DailyProperty.objects.filter(organization=org, key="plan").exists()
    _all_same(org, state)


def test_the_job_and_the_command_build_every_organization(org, data, org_b):
    assert rollups.fresh(org) is None  # nothing built yet: live
    assert rollups.refresh_all() == {"refreshed": 2, "failed": 0}
    assert RollupState.objects.get(organization=org).built_at is not None
    call_command("rollups", "--rebuild", "--organization", str(org.pk))
    state = rollups.fresh(org)
    assert state is not None
    _all_same(org, state)


def test_day_of_follows_the_filters_midnights():
    berlin = dt.timezone(dt.timedelta(hours=1))
    zone = zoneinfo.ZoneInfo("Europe/Berlin")
    moment = dt.datetime(2025, 3, 29, 23, 0, tzinfo=dt.UTC)  # 00:00 on the 30th in Berlin
    assert rollups.day_of(moment, zone) == d("2025-03-30")
    assert rollups.day_of(moment - dt.timedelta(seconds=1), zone) == d("2025-03-29")
    assert rollups.day_of(moment, berlin) == d("2025-03-30")
    assert list(rollups.runs([d("2025-01-03"), d("2025-01-01"), d("2025-01-02")], 2)) == [
        [d("2025-01-01"), d("2025-01-02")],
        [d("2025-01-03")],
    ]


def test_a_large_change_is_rebuilt_month_by_month(org, data, monkeypatch):
    first = rollups.rebuild(org)
    monkeypatch.setattr(rollups, "REBUILD_ABOVE_DAYS", 10)
    Response.objects.filter(organization=org, score__gte=9).update(
        comment="", updated_at=dt.datetime.now(dt.UTC)
    )
    state = rollups.refresh(org)
    assert state.built_at > first.built_at  # a rebuild, not one long transaction
    _all_same(org, state)


def test_the_page_and_the_csv_exports_read_the_same_from_the_rollups(org, data, member_client):
    base = reverse("dashboard")
    queries = [
        "?from=2025-03-01&to=2025-05-14&period=week&rolling=3&breakdown=prop.plan",
        "?from=2025-03-20&to=2025-04-10&lang=de&category=detractor&breakdown=gender",
    ]
    tables = ("trend", "breakdown", "distribution")

    def pages() -> list[bytes]:
        out = []
        for query in queries:
            page = member_client.get(base + query)
            assert page.status_code == 200
            out.append(re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", page.content))
            for table in tables:
                url = reverse("dashboard_export") + query + f"&table={table}"
                csv = member_client.get(url)
                assert csv.status_code == 200 and csv.content.count(b"\n") > 3
                out.append(csv.content)
        return out

    live = pages()
    rollups.rebuild(org)
    with CaptureQueriesContext(connection) as captured:
        rolled = pages()
    assert any("insights_daily" in q["sql"] for q in captured.captured_queries)
    assert rolled == live


def test_a_rebuild_overtaken_by_another_is_not_marked_built(org, data):
    state = rollups.rebuild(org)
    # Another rebuild is running (it began a minute ago and has not finished).
    RollupState.objects.filter(organization=org).update(
        built_at=None, watermark=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    )
    assert rollups.refresh(org) is None  # the job waits for it
    assert rollups.fresh(org) is None  # reads are live meanwhile
    assert metrics(org, ResponseFilter()) == metrics(org, ResponseFilter(), rollup=None)
    # One that began long ago is taken to have died: the job starts over.
    RollupState.objects.filter(organization=org).update(
        watermark=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    )
    assert rollups.refresh(org).built_at > state.built_at


def test_a_rebuild_overtaken_midway_leaves_it_to_the_other(org, data, monkeypatch):
    real = rollups._recompute

    def overtaken(*args) -> None:
        # Another rebuild starts now: it stamps the state with its own start.
        RollupState.objects.filter(organization=org).update(watermark=dt.datetime.now(dt.UTC))
        real(*args)

    monkeypatch.setattr(rollups, "_recompute", overtaken)
    assert rollups.rebuild(org).built_at is None
    assert rollups.fresh(org) is None


def test_a_read_looks_at_few_changed_rows_only(org, data, monkeypatch):
    rollups.rebuild(org)
    monkeypatch.setattr(rollups, "READ_MAX_ROWS", 5)
    week = Response.objects.filter(
        organization=org, created_at__gte=START, created_at__lt=START + dt.timedelta(days=7)
    )
    assert week.count() > 5
    week.update(score=0, updated_at=dt.datetime.now(dt.UTC))
    assert rollups.fresh(org) is None  # a week, but more rows than a read looks at
    state = rollups.refresh(org)
    _all_same(org, state)


def _count_marks(monkeypatch) -> list[int]:
    """A list that grows by one at each rollups.mark_dirty call (which still runs)."""
    calls: list[int] = []
    real = rollups.mark_dirty

    def counted(org_id, moments):
        calls.append(1)
        real(org_id, moments)

    monkeypatch.setattr(rollups, "mark_dirty", counted)
    return calls


def test_a_large_delete_marks_each_day_once_not_each_response(org, data, monkeypatch):
    """Responses deleted together mark each new day of their span once, not one query
    per response, and the figures stay right."""
    rollups.rebuild(org)
    calls = _count_marks(monkeypatch)
    doomed = Response.objects.filter(organization=org, survey=data[1])
    count = doomed.count()
    days = len({r.created_at.date() for r in doomed})
    assert count > days + 1  # several responses a day in the fixture
    with transaction.atomic():
        doomed.delete()
    assert 0 < len(calls) <= days + 1
    state = rollups.fresh(org)
    _all_same(org, state)


@pytest.mark.django_db(transaction=True)
def test_each_transaction_marks_its_own_deletes(org, data, monkeypatch):
    """The per-transaction record ends with its transaction: committed or rolled back,
    the next delete marks its day again."""
    rollups.rebuild(org)
    calls = _count_marks(monkeypatch)
    first, second, third = Response.objects.filter(organization=org).order_by("created_at")[:3]
    with transaction.atomic():
        first.delete()
        second.delete()  # its day is marked already in this transaction
    assert len(calls) == 1
    kept = third.pk
    with pytest.raises(RuntimeError), transaction.atomic():
        third.delete()
        raise RuntimeError("rolled back")
    assert len(calls) == 2
    with transaction.atomic():
        Response.objects.get(pk=kept).delete()
    assert len(calls) == 3
    _all_same(org, rollups.fresh(org))


def test_a_rating_committed_while_a_refresh_ran_is_read_at_once(org, data):
    """updated_at is set before the commit: a response whose time is a little before the
    last refresh began, committed after it, is still found by the next read."""
    state = rollups.rebuild(org)
    late = Response.objects.create(
        organization=org, survey=data[0], score=0, language="en", created_at=START
    )
    Response.objects.filter(pk=late.pk).update(
        updated_at=state.checked_at - rollups.READ_MARGIN / 2
    )
    state = rollups.fresh(org)
    assert state is not None
    _all_same(org, state)
