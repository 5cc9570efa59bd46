"""Daily roll-ups of responses, so the dashboard reads thousands of rows, not millions.

DailyScore holds, per organization, day (in the organization's time zone), survey and
language, the number of responses per score and how many of them have a comment;
DailyProperty the same per value of a contact property with few values (key "" is the
contact's gender). A day is always recomputed whole from the base table, with the
same day boundaries as the filter language (midnight in the zone), so a roll-up day
holds exactly what `compile_filter` finds for that day.

They are kept by a watermark, not by signals (bulk paths bypass signals): a refresh
recomputes the days of responses and contacts whose updated_at is past the watermark,
plus the days marked dirty by deletions (`mark_dirty`, called from the delete
signals and from code that deletes or changes rows in bulk). The job refreshes every
few minutes; a dashboard read refreshes first when something changed and the work is
small (`fresh`), and otherwise reads the live queries, so it is never stale.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterable, Iterator
from types import EllipsisType

from django.db import DatabaseError, connection, transaction
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    Max,
    Min,
    Q,
    Sum,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from npsloop.accounts.models import Organization
from npsloop.contacts.models import Contact
from npsloop.insights import periods, rolled
from npsloop.insights.models import SCORES, DailyProperty, DailyScore, RollupState
from npsloop.responses.filters import ResponseFilter
from npsloop.responses.models import Response

log = logging.getLogger(__name__)

GENDER_KEY = ""  # DailyProperty.key of the contact's gender (no property name is empty)
# A property is rolled up while it has at most this many values, none longer than
# MAX_VALUE_LENGTH (the unique index holds the value); others are read live.
MAX_VALUES = 50
MAX_VALUE_LENGTH = 200
# A transaction may commit this long after it wrote updated_at and still be counted:
# each refresh looks this far behind its watermark again.
MARGIN = dt.timedelta(minutes=10)
# A read looks this far behind the last refresh: updated_at is set before its transaction
# commits, so a rating committed just after a refresh began may carry an earlier time.
READ_MARGIN = dt.timedelta(seconds=60)
# A dashboard read recomputes at most this many days itself; more is left to the job.
READ_MAX_DAYS = 31
READ_MAX_ROWS = 20_000  # … and looks at no more changed responses than this
# The job recomputes up to this many days in one transaction; more (a retention run, a
# bulk change) is a rebuild, one short transaction per month, so writers never wait long.
REBUILD_ABOVE_DAYS = 92
# A rebuild that started less than this long ago is still running: the job waits for it.
REBUILD_PATIENCE = dt.timedelta(hours=1)
SPAN = 31  # days per recompute query
# The property names the filter language and the breakdowns accept.
PROPERTY_KEY = re.compile(r"^[A-Za-z0-9_\-. ]{1,100}$")


class ValueTooLong(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


# --------------------------------------------------------------------------- days


def day_of(moment: dt.datetime, zone: dt.tzinfo) -> dt.date:
    """The day whose [midnight, next midnight) holds `moment`, as the filter cuts days."""
    day = moment.astimezone(zone).date()
    if moment < periods.midnight(day, zone):  # midnight skipped or repeated by DST
        return day - dt.timedelta(days=1)
    if moment >= periods.midnight(day + dt.timedelta(days=1), zone):
        return day + dt.timedelta(days=1)
    return day


def runs(days: Iterable[dt.date], size: int = SPAN) -> Iterator[list[dt.date]]:
    """Consecutive days in runs of at most `size`, each within one month."""
    run: list[dt.date] = []
    for day in sorted(set(days)):
        if run and (day - run[-1] != dt.timedelta(days=1) or len(run) >= size or day.day == 1):
            yield run
            run = []
        run.append(day)
    if run:
        yield run


def _day_expression(days: list[dt.date], zone: dt.tzinfo) -> Case:
    """created_at → its day, for rows already within the run's first and last midnight."""
    whens = [
        When(created_at__lt=periods.midnight(day + dt.timedelta(days=1), zone), then=Value(day))
        for day in days[:-1]
    ]
    return Case(*whens, default=Value(days[-1]))


# --------------------------------------------------------------------------- compute


def _run_counts(
    organization: Organization, days: list[dt.date], group, columns: tuple[str, ...]
) -> dict[tuple, list[int]]:
    """{(day, survey, language, *group): n0..n10 + c0..c10} for a run of consecutive days."""
    zone = organization.zone
    responses = Response.objects.filter(
        organization=organization,
        created_at__gte=periods.midnight(days[0], zone),
        created_at__lt=periods.midnight(days[-1] + dt.timedelta(days=1), zone),
    ).order_by()
    rows = (
        responses.annotate(_day=_day_expression(days, zone), **group)
        .values_list("_day", "survey_id", "language", *columns, "score")
        .annotate(n=Count("id"), c=Count("id", filter=~Q(comment="")))
    )
    out: dict[tuple, list[int]] = {}
    for *dims, score, n, c in rows:
        if isinstance(dims[0], str):  # SQLite returns a CASE of dates as text
            dims[0] = dt.date.fromisoformat(dims[0])
        # A missing contact or property and an empty one are one group, as in breakdowns.
        key = tuple("" if v is None else v for v in dims)
        counts = out.setdefault(key, [0] * 22)
        counts[score] += n
        counts[11 + score] += c
    return out


def _property_expression(key: str):
    if key == GENDER_KEY:
        return F("contact__gender")
    # The same expression as the breakdown's, so the same value groups.
    return Cast(KeyTextTransform(key, "contact__properties"), TextField())


COUNT_COLUMNS = tuple(f"n{s}" for s in SCORES) + tuple(f"c{s}" for s in SCORES)


def _insert(model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Plain executemany: the ORM's bulk_create prepares every one of the 22 counts per
    row in Python, which made a build of a million responses take minutes."""
    if not rows:
        return
    quote = connection.ops.quote_name
    # Table and column names come from the model, never from input.
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(c) for c in columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _recompute_scores(organization: Organization, days: list[dt.date]) -> None:
    DailyScore.objects.filter(organization=organization, day__in=days).delete()
    counts = _run_counts(organization, days, {}, ())
    day = connection.ops.adapt_datefield_value
    _insert(
        DailyScore,
        ("organization_id", "survey_id", "day", "language", *COUNT_COLUMNS),
        [
            (organization.pk, survey, day(on), language, *c)
            for (on, survey, language), c in counts.items()
        ],
    )


def _recompute_properties(organization: Organization, days: list[dt.date], key: str) -> None:
    DailyProperty.objects.filter(
        organization=organization, key=key, month=False, day__in=days
    ).delete()
    counts = _run_counts(organization, days, {"_value": _property_expression(key)}, ("_value",))
    day = connection.ops.adapt_datefield_value
    rows = []
    for (on, survey, language, value), c in counts.items():
        value = str(value)
        if len(value) > MAX_VALUE_LENGTH:
            raise ValueTooLong(key)
        rows.append((organization.pk, survey, day(on), language, key, value, False, *c))
    _insert(
        DailyProperty,
        ("organization_id", "survey_id", "day", "language", "key", "value", "month")
        + COUNT_COLUMNS,
        rows,
    )


def _recompute_month(organization: Organization, start: dt.date, key: str) -> None:
    """The month rows of `key` for the month starting at `start`, from its day rows."""
    own = DailyProperty.objects.filter(organization=organization, key=key)
    own.filter(month=True, day=start).delete()
    sums = (
        own.filter(month=False, day__gte=start, day__lte=periods.last_day(start, periods.MONTH))
        .order_by()
        .values_list("survey_id", "language", "value")
        .annotate(*(Sum(c) for c in COUNT_COLUMNS))
    )
    day = connection.ops.adapt_datefield_value(start)
    _insert(
        DailyProperty,
        ("organization_id", "survey_id", "day", "language", "key", "value", "month")
        + COUNT_COLUMNS,
        [(organization.pk, sv, day, lang, key, value, True, *c) for sv, lang, value, *c in sums],
    )


def _recompute(
    organization: Organization,
    state: RollupState,
    score_days: set[dt.date],
    property_days: set[dt.date],
) -> None:
    for run in runs(score_days):
        _recompute_scores(organization, run)
    months = sorted({day.replace(day=1) for day in property_days})
    for key in [GENDER_KEY, *state.keys]:
        try:
            with transaction.atomic():
                for run in runs(property_days):
                    _recompute_properties(organization, run, key)
                for start in months:
                    _recompute_month(organization, start, key)
        except ValueTooLong:
            # A value too long for the index: this property is read live from now on.
            DailyProperty.objects.filter(organization=organization, key=key).delete()
            state.keys = [k for k in state.keys if k != key]


def property_keys(organization: Organization) -> list[str]:
    """Contact property keys with few, short values: those worth rolling up."""
    values: dict[str, set[str]] = {}
    wide: set[str] = set()
    contacts = (
        Contact.objects.filter(organization=organization)
        .exclude(properties={})
        .values_list("properties", flat=True)
    )
    for properties in contacts.iterator(chunk_size=5000):
        if not isinstance(properties, dict):
            continue
        for key, value in properties.items():
            if key in wide or not PROPERTY_KEY.match(key):
                continue
            text = value if isinstance(value, str) else json.dumps(value)
            seen = values.setdefault(key, set())
            seen.add(text)
            if len(seen) > MAX_VALUES or len(text) > MAX_VALUE_LENGTH:
                wide.add(key)
                values.pop(key)
    return sorted(values)


# --------------------------------------------------------------------------- refresh


def _changed_days(
    organization: Organization, since: dt.datetime, *, limit: int | None = None
) -> tuple[set[dt.date], set[dt.date]] | None:
    """(days of responses changed since, days of responses whose contact changed since);
    None when more than `limit` responses are concerned (a read gives up early)."""
    zone = organization.zone
    responses = Response.objects.filter(organization=organization)
    contacts = Contact.objects.filter(organization=organization, updated_at__gt=since)
    found = []
    for rows in (
        responses.filter(updated_at__gt=since),
        responses.filter(contact__in=contacts.values("pk")),
    ):
        moments = rows.order_by().values_list("created_at", flat=True)
        if limit is not None:
            moments = list(moments[: limit + 1])
            if len(moments) > limit:
                return None
        else:
            moments = moments.iterator(chunk_size=5000)
        found.append({day_of(moment, zone) for moment in moments})
    return found[0], found[1]


def _dirty_days(state: RollupState) -> set[dt.date]:
    if state.dirty_from is None or state.dirty_to is None:
        return set()
    length = (state.dirty_to - state.dirty_from).days + 1
    return {state.dirty_from + dt.timedelta(days=n) for n in range(length)}


def _locked_state(organization: Organization) -> RollupState:
    RollupState.objects.get_or_create(organization=organization)
    return RollupState.objects.select_for_update().get(organization=organization)


def refresh(organization: Organization, *, max_days: int | None = None) -> RollupState | None:
    """Bring the organization's roll-ups up to date; a full build when there is none
    (or the time zone changed). The job looks MARGIN behind the watermark again, for
    transactions that committed late; a read (max_days: give up, None, when more days
    changed) only at what changed since the last refresh began, and leaves the
    watermark to the job."""
    state = RollupState.objects.filter(organization=organization).first()
    if state is None or state.built_at is None or state.zone != organization.time_zone:
        if max_days is not None or _building(state):
            return None
        return rebuild(organization)
    with transaction.atomic():
        state = _locked_state(organization)
        if state.built_at is None or state.zone != organization.time_zone:
            return None  # a rebuild started meanwhile
        started = timezone.now()
        since = state.watermark - MARGIN
        if max_days is not None and state.checked_at is not None:
            since = state.checked_at - READ_MARGIN
        limit = None if max_days is None else READ_MAX_ROWS
        changed = _changed_days(organization, since, limit=limit)
        if changed is None:
            return None
        score_days, contact_days = changed
        dirty = _dirty_days(state)
        score_days |= dirty
        property_days = score_days | contact_days
        if max_days is not None and len(property_days) > max_days:
            return None
        too_many = len(property_days) > REBUILD_ABOVE_DAYS
        if not too_many:
            _recompute(organization, state, score_days, property_days)
            if max_days is None:
                state.watermark = started
            state.checked_at = started
            state.dirty_from = state.dirty_to = None
            state.save()
    if too_many:
        return rebuild(organization)
    return state


def rebuild(organization: Organization) -> RollupState:
    """Recompute every day of the organization, one transaction per run of days; reads
    use the live queries until it is done."""
    started = timezone.now()
    keys = property_keys(organization)  # reads every contact: before taking the lock
    with transaction.atomic():
        state = _locked_state(organization)
        state.built_at = None
        state.zone = organization.time_zone
        state.keys = keys
        state.watermark = state.checked_at = started
        state.dirty_from = state.dirty_to = None
        state.save()
        DailyScore.objects.filter(organization=organization).delete()
        DailyProperty.objects.filter(organization=organization).delete()
    span = Response.objects.filter(organization=organization).aggregate(
        first=Min("created_at"), last=Max("created_at")
    )
    if span["first"] is not None:
        zone = organization.zone
        first, last = day_of(span["first"], zone), day_of(span["last"], zone)
        days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
        for run in runs(days):
            with transaction.atomic():
                _recompute(organization, state, set(run), set(run))
    with transaction.atomic():
        built = _locked_state(organization)
        # Another rebuild began meanwhile (it deleted rows this one made): it finishes.
        if built.watermark == started:
            built.keys = state.keys  # less when a value was too long
            built.built_at = timezone.now()
            built.save(update_fields=["keys", "built_at"])
    # What changed while building (after `started`) follows with the next refresh.
    return built


def _building(state: RollupState | None) -> bool:
    """Whether a rebuild of this state is running (started recently, not finished)."""
    if state is None or state.built_at is not None or state.watermark is None:
        return False
    return state.watermark > timezone.now() - REBUILD_PATIENCE


def fresh(organization: Organization) -> RollupState | None:
    """The state to read the roll-ups with, refreshed first when something changed since
    the last refresh; None: read the live queries (no roll-up yet, or too much changed)."""
    state = RollupState.objects.filter(organization=organization).first()
    if state is None or state.built_at is None or state.zone != organization.time_zone:
        return None
    changed = state.checked_at is None or _changed_since(state)
    if state.dirty_from is None and not changed:
        return state
    try:
        with transaction.atomic():
            return refresh(organization, max_days=READ_MAX_DAYS)
    except DatabaseError:
        # A read must not fail because the refresh could not write (locked, read-only).
        log.warning("roll-up refresh on read failed", exc_info=True)
        return None


def for_filter(
    organization: Organization, flt: ResponseFilter, rollup: RollupState | None | EllipsisType
) -> RollupState | None:
    """The roll-up state to read `flt` from, or None for the live queries. `...` (the
    readers' default): look it up with fresh(); a state given is used as it is."""
    if not rolled.supports(flt):
        return None
    return fresh(organization) if rollup is ... else rollup


def _changed_since(state: RollupState) -> bool:
    """Whether a response or contact of the organization changed since the last refresh
    began: one query, two index lookups. The moment goes in as a value, not as a
    reference to the state's column: PostgreSQL then knows it is past every row (an
    outer reference made it scan all the responses for an EXISTS that finds none)."""
    org, moment = state.organization_id, state.checked_at - READ_MARGIN
    flags = (
        RollupState.objects.filter(organization_id=org)
        .annotate(
            responses=Exists(Response.objects.filter(organization_id=org, updated_at__gt=moment)),
            contacts=Exists(Contact.objects.filter(organization_id=org, updated_at__gt=moment)),
        )
        .values_list("responses", "contacts")
        .first()
    )
    return flags is None or any(flags)


def refresh_all() -> dict[str, int]:
    """The job: refresh every organization (a full build where there is none)."""
    done = failed = 0
    for organization in Organization.objects.order_by("pk"):
        try:
            refresh(organization)
            done += 1
        except DatabaseError:
            log.exception("roll-up refresh failed for organization %s", organization.pk)
            failed += 1
    return {"refreshed": done, "failed": failed}


def recheck_keys_all() -> dict[str, int]:
    """The nightly job: rebuild where the properties worth rolling up changed."""
    rebuilt = 0
    for organization in Organization.objects.order_by("pk"):
        state = RollupState.objects.filter(organization=organization).first()
        built = state is not None and state.built_at is not None
        if built and property_keys(organization) != state.keys:
            rebuild(organization)
            rebuilt += 1
    return {"rebuilt": rebuilt}


# --------------------------------------------------------------------------- invalidate


def mark_dirty(organization_id: int, moments: Iterable[dt.datetime]) -> None:
    """Have the next refresh recompute the days of these created_at moments (responses
    deleted there, or changed without updated_at). Call it in the transaction that
    changes them."""
    moments = list(moments)
    if not moments:
        return
    # The row lock orders this against a refresh running now. No state: nothing to do.
    with transaction.atomic():
        state = RollupState.objects.select_for_update().filter(organization_id=organization_id)
        for row in state:
            zone = Organization(time_zone=row.zone).zone  # the zone its days were cut in
            days = [day_of(moment, zone) for moment in moments]
            wider = (
                min(days) if row.dirty_from is None else min(row.dirty_from, *days),
                max(days) if row.dirty_to is None else max(row.dirty_to, *days),
            )
            if wider != (row.dirty_from, row.dirty_to):
                row.dirty_from, row.dirty_to = wider
                row.save(update_fields=["dirty_from", "dirty_to"])


def mark_responses_dirty(responses) -> None:
    """mark_dirty for a queryset of responses (before they are deleted or changed)."""
    by_org: dict[int, list[dt.datetime]] = {}
    for org_id, created in responses.order_by().values_list("organization_id", "created_at"):
        by_org.setdefault(org_id, []).append(created)
    for org_id, moments in by_org.items():
        mark_dirty(org_id, moments)
