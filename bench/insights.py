"""Insights benchmark: the dashboard's reads on a million responses.

    .venv/bin/python bench/insights.py [--db sqlite|postgres|both] [--rows 1000000] [--reuse]

For each database a fresh one is filled by bench/fill.py (one organization, 1,000,000
responses over two years), then a child process (Django set up on that database) times
the dashboard as `npsloop.insights.selectors.dashboard` reads it (key figures with the
previous range, the weekly trend, the breakdown by `prop.plan`) for the whole two
years and for the last 90 days, and each of the three reads on its own, against the
same aggregates written by hand as one SQL query each, run on the raw DB-API cursor of
the same connection. It prints median and p95 milliseconds, the ratio app ÷ baseline,
and whether the aim (the full dashboard under 250 ms and within 1.5x of the baseline)
is met. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import fill  # noqa: E402

AIM_MS = 250.0
AIM_RATIO = 1.5
BREAKDOWN = "prop.plan"

# Invitations sent and responded in the range (both the live and the roll-up baselines).
INVITED = """i AS (
  SELECT count(*) AS sent,
         count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM responses_response r
            WHERE r.invitation_id = v.id AND r.organization_id = %(org)s)) AS responded
    FROM invitations_invitation v
   WHERE v.organization_id = %(org)s AND v.state IN ('sent', 'responded')
     AND v.sent_at >= %(start)s AND v.sent_at < %(end)s
)"""

# Key figures: the score distribution and comments of the range and the distribution of
# the range before (one pass over both), invitations sent/responded, unsubscribes and
# bounces. One statement; the LEFT JOIN keeps the counts when no response matches.
METRICS = f"""
WITH d AS (
  SELECT score,
         count(*) FILTER (WHERE created_at >= %(start)s) AS n,
         count(*) FILTER (WHERE created_at >= %(start)s AND comment <> '') AS c,
         count(*) FILTER (WHERE created_at < %(start)s) AS prev
    FROM responses_response
   WHERE organization_id = %(org)s AND created_at >= %(before)s AND created_at < %(end)s
   GROUP BY score
), {INVITED}, m AS (
  SELECT count(*) FILTER (WHERE unsubscribed_at >= %(start)s
                            AND unsubscribed_at < %(end)s) AS unsubscribes,
         count(*) FILTER (WHERE bounced_at >= %(start)s AND bounced_at < %(end)s) AS bounces
    FROM contacts_contact
   WHERE organization_id = %(org)s
)
SELECT d.score, d.n, d.c, d.prev, i.sent, i.responded, m.unsubscribes, m.bounces
  FROM i CROSS JOIN m LEFT JOIN d ON 1 = 1
"""
# Responses per week (weeks start on Monday in the organization's zone) and score.
TREND = """
SELECT {week} AS week, score, count(*)
  FROM responses_response
 WHERE organization_id = %(org)s AND created_at >= %(start)s AND created_at < %(end)s
 GROUP BY 1, 2
"""
WEEK_POSTGRES = "(date_trunc('week', created_at AT TIME ZONE %(zone)s))::date"
# Responses per plan (the contact's property) and score.
BREAKDOWN_SQL = """
SELECT {plan} AS plan, r.score, count(*)
  FROM responses_response r
  LEFT JOIN contacts_contact c ON c.id = r.contact_id
 WHERE r.organization_id = %(org)s AND r.created_at >= %(start)s AND r.created_at < %(end)s
 GROUP BY 1, 2
"""
PLAN = {
    "postgres": "c.properties ->> 'plan'",
    "sqlite": "json_extract(c.properties, '$.plan')",
}


# The same aggregates by hand over the daily roll-ups (npsloop.insights.rollups): one row
# per day, survey and language with n<score> and c<score> (of them with a comment). The
# contact counts say their date ranges in the WHERE too, as the app does, so that the
# indexes on (organization, unsubscribed_at / bounced_at) serve them.
SCORES = range(11)
N_SUMS = ", ".join(f"sum(n{s})" for s in SCORES)
ROLLUP_METRICS = f"""
WITH d AS (
  SELECT {", ".join(f"sum(n{s}) FILTER (WHERE day >= %(start_day)s)" for s in SCORES)},
         sum({" + ".join(f"c{s}" for s in SCORES)}) FILTER (WHERE day >= %(start_day)s),
         {", ".join(f"sum(n{s}) FILTER (WHERE day < %(start_day)s)" for s in SCORES)}
    FROM insights_dailyscore
   WHERE organization_id = %(org)s AND day >= %(before_day)s AND day <= %(end_day)s
), {INVITED}, m AS (
  SELECT count(*) FILTER (WHERE unsubscribed_at >= %(start)s
                            AND unsubscribed_at < %(end)s) AS unsubscribes,
         count(*) FILTER (WHERE bounced_at >= %(start)s AND bounced_at < %(end)s) AS bounces
    FROM contacts_contact
   WHERE organization_id = %(org)s
     AND ((unsubscribed_at >= %(start)s AND unsubscribed_at < %(end)s)
          OR (bounced_at >= %(start)s AND bounced_at < %(end)s))
)
SELECT d.*, i.sent, i.responded, m.unsubscribes, m.bounces FROM d, i, m
"""
ROLLUP_TREND = f"""
SELECT {{week}} AS week, {N_SUMS}
  FROM insights_dailyscore
 WHERE organization_id = %(org)s AND day >= %(start_day)s AND day <= %(end_day)s
 GROUP BY 1
"""
ROLLUP_WEEK = {
    "postgres": "(date_trunc('week', day))::date",
    "sqlite": "date(day, '-6 days', 'weekday 1')",
}
# Whole months from the month rows, the days before and after them from the day rows.
ROLLUP_BREAKDOWN = f"""
SELECT value, {N_SUMS}
  FROM insights_dailyproperty
 WHERE organization_id = %(org)s AND key = %(key)s
   AND ((month = TRUE AND day >= %(month_from)s AND day < %(month_after)s)
        OR (month = FALSE AND day >= %(start_day)s AND day < %(month_from)s)
        OR (month = FALSE AND day >= %(month_after)s AND day <= %(end_day)s))
 GROUP BY 1
"""


def week_sqlite(zone: dt.tzinfo, start: dt.datetime, end: dt.datetime) -> str:
    """The Monday of the week in `zone` in plain SQLite SQL: SQLite has no time zones, so
    the UTC offset is picked by a CASE over the zone's transitions within the range."""
    spans: list[tuple[dt.datetime, int]] = []
    moment = start.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    while moment < end:
        offset = int(moment.astimezone(zone).utcoffset().total_seconds() // 60)
        if not spans or spans[-1][1] != offset:
            spans.append((moment, offset))
        moment += dt.timedelta(hours=1)
    branches = " ".join(
        f"WHEN created_at < '{fill.django_datetime(spans[i + 1][0])}' THEN '{off:+d} minutes'"
        for i, (_at, off) in enumerate(spans[:-1])
    )
    last = f"'{spans[-1][1]:+d} minutes'"
    shift = f"CASE {branches} ELSE {last} END" if branches else last
    return f"date(created_at, {shift}, '-6 days', 'weekday 1')"


# --------------------------------------------------------------------------- child


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Runs in the child process, with Django set up on the filled database."""
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from npsloop.accounts.models import Organization
    from npsloop.insights import periods, rollups, selectors
    from npsloop.insights.models import DailyProperty, DailyScore
    from npsloop.insights.options import Options, with_range
    from npsloop.responses.filters import parse

    kind, info = fill.child_info()
    org = Organization.objects.get(pk=info["org"])
    zone = org.zone
    out: dict[str, Any] = {"cases": [], "rollup": build_rollups(kind, org)}
    out["rollup"]["rows"] = {
        "daily_score": DailyScore.objects.filter(organization=org).count(),
        "daily_property": DailyProperty.objects.filter(organization=org).count(),
    }
    assert rollups.fresh(org) is not None, "the roll-ups should be fresh after the build"
    today = dt.datetime.fromisoformat(info["end"]).astimezone(zone).date()
    first = dt.datetime.fromisoformat(info["start"]).astimezone(zone).date()
    options = Options(period=periods.WEEK, rolling=1, breakdown=BREAKDOWN)
    connection.ensure_connection()
    raw = connection.connection  # the driver's own connection: sqlite3 or psycopg

    def midnight(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), zone)

    def sql_run(sql: str, params: dict[str, Any]) -> list[tuple]:
        cur = raw.cursor()
        try:
            cur.execute(sql, params)
            return cur.fetchall()
        finally:
            cur.close()

    for label, query in (("2 years", f"from={first}&to={today}"), ("last 90 days", "")):
        flt = parse(query)
        ranged = with_range(flt, today)
        start, end = midnight(ranged.date_from), midnight(ranged.date_to + dt.timedelta(days=1))
        before_from, _before_to = periods.previous_range(ranged.date_from, ranged.date_to)
        params = {
            "org": info["org"],
            "start": start,
            "end": end,
            "before": midnight(before_from),
            "zone": info["zone"],
            "start_day": ranged.date_from,
            "end_day": ranged.date_to,
            "before_day": before_from,
            "key": BREAKDOWN.removeprefix("prop."),
            **whole_months(ranged.date_from, ranged.date_to),
        }
        params = {k: day_value(kind, fill.db_value(kind, v)) for k, v in params.items()}
        week = WEEK_POSTGRES if kind == "postgres" else week_sqlite(zone, start, end)
        sqls = {
            "metrics": fill.sql_for(kind, METRICS),
            "trend": fill.sql_for(kind, TREND.format(week=week)),
            "breakdown": fill.sql_for(kind, BREAKDOWN_SQL.format(plan=PLAN[kind])),
        }
        rollup_sqls = {
            "metrics": fill.sql_for(kind, ROLLUP_METRICS),
            "trend": fill.sql_for(kind, ROLLUP_TREND.format(week=ROLLUP_WEEK[kind])),
            "breakdown": fill.sql_for(kind, ROLLUP_BREAKDOWN),
        }

        def base(names: tuple[str, ...], sqls=sqls, params=params) -> dict[str, list]:
            return {name: sql_run(sqls[name], params) for name in names}

        def rolled(names: tuple[str, ...], sqls=rollup_sqls, params=params) -> dict[str, list]:
            return {name: sql_run(sqls[name], params) for name in names}

        apps = {
            "dashboard": lambda flt=flt: selectors.dashboard(org, flt, options, today=today),
            "metrics": lambda ranged=ranged: selectors.metrics(org, ranged),
            "trend": lambda ranged=ranged: selectors.trend(
                org, ranged, period=periods.WEEK, rolling_window=1, today=today
            ),
            "breakdown": lambda ranged=ranged: selectors.breakdown(org, ranged, BREAKDOWN),
        }
        with CaptureQueriesContext(connection) as queries:
            board = apps["dashboard"]()
        checked = check(board, base(("metrics", "trend", "breakdown")))
        checked += [
            f"{problem} (roll-up SQL)"
            for problem in check(board, as_base_rows(rolled(("metrics", "trend", "breakdown"))))
        ]
        fill.say(
            f"{kind} {label}: {len(queries)} queries, {board.metrics.summary.total:,} "
            f"responses, {len(board.trend.points)} weeks, {len(board.breakdown.groups)} plans; "
            "same figures as the baseline: "
            + ("yes" if not checked else "NO (" + ", ".join(checked) + ")")
        )
        for part, app in apps.items():
            names = ("metrics", "trend", "breakdown") if part == "dashboard" else (part,)
            ours, theirs, over_rollups = time_three(
                app,
                lambda names=names: base(names),
                lambda names=names: rolled(names),
                repeat=args.repeat,
                warmup=args.warmup,
                budget=args.budget,
            )
            out["cases"].append(
                {
                    "range": label,
                    "part": part,
                    "app": fill.summary(ours),
                    "baseline": fill.summary(theirs),
                    "rollup_baseline": fill.summary(over_rollups),
                    "queries": len(queries) if part == "dashboard" else None,
                    "base_queries": len(names),
                    "differences": checked if part == "dashboard" else [],
                    "responses": board.metrics.summary.total,
                }
            )
        out.setdefault("sql", {})[label] = [q["sql"] for q in queries.captured_queries]
    return out


def build_rollups(kind: str, org) -> dict[str, Any]:
    """Add the roll-up tables to a kept fill (migrate insights) and build them, timed:
    a one-off cost, as after an upgrade (`npsloop manage rollups --rebuild`)."""
    from django.core.management import call_command
    from django.db import connection

    from npsloop.insights import rollups

    began = time.monotonic()
    call_command("migrate", "insights", verbosity=0)
    migrated = time.monotonic()
    state = rollups.rebuild(org)
    if kind == "postgres":
        # What autovacuum does soon after: statistics for the fresh tables.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE insights_dailyscore, insights_dailyproperty")
    built = time.monotonic()
    fill.say(f"{kind}: roll-ups built in {built - migrated:.1f} s (properties {state.keys})")
    return {"migrate_s": migrated - began, "build_s": built - migrated, "keys": state.keys}


def whole_months(date_from: dt.date, date_to: dt.date) -> dict[str, dt.date]:
    """The first day of the first whole month in the range and the day after the last."""
    month_from = date_from.replace(day=1)
    if month_from < date_from:
        month_from = (month_from + dt.timedelta(days=31)).replace(day=1)
    month_after = (date_to + dt.timedelta(days=1)).replace(day=1)
    assert month_from < month_after, "the benchmark's ranges hold a whole month"
    return {"month_from": month_from, "month_after": month_after}


def day_value(kind: str, value: Any) -> Any:
    """A date parameter: SQLite stores dates as ISO text."""
    if kind == "sqlite" and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def time_three(
    app, baseline, rollup_baseline, *, repeat: int, warmup: int, budget: float
) -> tuple[list[float], list[float], list[float]]:
    """As fill.time_pair, for three: the order rotates every round."""
    clock = time.perf_counter
    fns = (app, baseline, rollup_baseline)
    one_round = warmed = 0.0
    for _ in range(max(1, warmup)):
        began = clock()
        for fn in fns:
            fn()
        one_round = clock() - began
        warmed += one_round
        if warmed > budget / 4:
            break
    rounds = repeat
    if one_round * repeat > budget:
        rounds = max(5, min(repeat, int(budget / max(one_round, 1e-9))))
    samples: tuple[list[float], ...] = ([], [], [])
    for index in range(rounds):
        order = [(index + k) % 3 for k in range(3)]
        for k in order:
            began = clock()
            fns[k]()
            samples[k].append((clock() - began) * 1000)
    return samples


def as_base_rows(rows: dict[str, list]) -> dict[str, list]:
    """The roll-up SQL's rows in the shape of the base-table SQL's, for check()."""
    (metrics,) = rows["metrics"]
    now, comments, prev = metrics[:11], metrics[11], metrics[12:23]
    counts = metrics[23:]
    base_metrics = [
        (score, now[score] or 0, (comments or 0) if score == 0 else 0, prev[score] or 0, *counts)
        for score in SCORES
    ]
    trend = [(week, score, n) for week, *ns in rows["trend"] for score, n in enumerate(ns) if n]
    breakdown = [
        (value, score, n) for value, *ns in rows["breakdown"] for score, n in enumerate(ns) if n
    ]
    return {"metrics": base_metrics, "trend": trend, "breakdown": breakdown}


def check(board, rows: dict[str, list]) -> list[str]:
    """Where the dashboard's figures differ from the hand-written queries' (none expected)."""
    problems = []
    now, prev, comments = [0] * 11, [0] * 11, 0
    # Every row carries the same invitation and contact counts (one row even without
    # responses: the LEFT JOIN).
    sent, responded, unsubscribes, bounces = rows["metrics"][0][4:]
    for score, n, c, p, *_counts in rows["metrics"]:
        if score is not None:
            now[score], prev[score], comments = n, p, comments + c
    m = board.metrics
    if list(m.summary.distribution) != now or m.comments != comments:
        problems.append("metrics: distribution or comments")
    if m.previous is not None and list(m.previous.distribution) != prev:
        problems.append("metrics: previous range")
    if (m.sent, m.responded, m.unsubscribes, m.bounces) != (
        sent,
        responded,
        unsubscribes,
        bounces,
    ):
        problems.append("metrics: sent, responded, unsubscribes or bounces")
    weeks: dict[dt.date, list[int]] = {}
    for week, score, n in rows["trend"]:
        day = week if isinstance(week, dt.date) else dt.date.fromisoformat(str(week)[:10])
        weeks.setdefault(day, [0] * 11)[score] = n
    ours = {p.start: list(p.summary.distribution) for p in board.trend.points if p.summary.total}
    if ours != weeks:
        problems.append("trend: weekly counts")
    plans: dict[str, list[int]] = {}
    for plan, score, n in rows["breakdown"]:
        plans.setdefault(plan or "", [0] * 11)[score] += n
    ours = {g.key: list(g.summary.distribution) for g in board.breakdown.groups}
    if ours != plans:
        problems.append("breakdown: counts per plan")
    return problems


# --------------------------------------------------------------------------- report


def report(results: dict[str, dict[str, Any]], described: list[str], args) -> bool:
    print()
    print(
        "npsloop insights benchmark: the dashboard (key figures, weekly trend, breakdown by "
        f"{BREAKDOWN})"
    )
    print(f"  {fill.machine()}")
    if "postgres" in results:
        print(f"  {fill.describe_postgres()}")
    for line in described:
        print(f"  {line}")
    for kind, result in results.items():
        built = result.get("rollup")
        if built:
            rows = built.get("rows", {})
            print(
                f"  {kind}: roll-ups built in {built['build_s']:.1f} s before timing (one-off; "
                f"migrate insights {built['migrate_s']:.1f} s): "
                f"{rows.get('daily_score', 0):,} DailyScore rows, "
                f"{rows.get('daily_property', 0):,} DailyProperty rows "
                f"(gender + properties {', '.join(built['keys']) or 'none'})"
            )
    print(
        f"  timed: up to {args.warmup} warm-up rounds, then up to {args.repeat} rounds (fewer, "
        f"at least 5, when a case would take over {args.budget:g} s), app and baseline "
        "interleaved"
    )
    print()
    header = ["db", "range", "read", "app ms (median)", "app p95", "baseline ms", "base p95"]
    header += ["ratio", "roll-up SQL ms", "ratio", "n", "queries"]
    header += [f"aim <{AIM_MS:g} ms & <={AIM_RATIO:g}x"]
    rows, all_met, warnings = [], True, []
    for kind, result in results.items():
        for case in result["cases"]:
            app, base = case["app"], case["baseline"]
            ratio = app["median"] / base["median"] if base["median"] else float("inf")
            rolled = case.get("rollup_baseline") or {"median": 0.0}
            ratio_rolled = app["median"] / rolled["median"] if rolled["median"] else float("inf")
            aim = "-"
            if case["part"] == "dashboard":
                met = app["median"] < AIM_MS and ratio <= AIM_RATIO
                all_met &= met
                aim = "yes" if met else "NO"
            queries = f"{case['queries']} vs {case['base_queries']}" if case["queries"] else ""
            rows.append(
                [
                    kind,
                    case["range"],
                    case["part"] if case["part"] == "dashboard" else f"  {case['part']}",
                    f"{app['median']:.1f}",
                    f"{app['p95']:.1f}",
                    f"{base['median']:.1f}",
                    f"{base['p95']:.1f}",
                    f"{ratio:.2f}",
                    f"{rolled['median']:.1f}",
                    f"{ratio_rolled:.2f}",
                    str(app["n"]),
                    queries,
                    aim,
                ]
            )
            for problem in case["differences"]:
                warnings.append(f"{kind} {case['range']}: the baseline differs in {problem}")
    fill.table(header, rows, left=3)
    print()
    print(
        "  dashboard: selectors.dashboard(org, filter, Options(period='week', breakdown=\n"
        f"  '{BREAKDOWN}'), today=the data's last day): metrics (with the previous range),\n"
        "  trend and breakdown; the indented rows time each read alone. baseline: the same\n"
        "  aggregates written by hand over the responses, one SQL statement per read (key\n"
        "  figures incl. the previous range in one pass; weekly buckets in the organization's\n"
        "  zone), on the same connection's DB-API cursor; the aim's ratio is against it.\n"
        "  roll-up SQL: the same aggregates by hand over the daily roll-up tables the app reads\n"
        "  (sums of the per-score columns; weeks from the days), the second ratio against it.\n"
        "  queries: the app's vs the baseline's statements (the app's include the freshness\n"
        "  check). The aim is judged on the medians."
    )
    for warning in warnings:
        print(f"  WARNING: {warning}")
    print()
    print(f"aim met for every dashboard: {'yes' if all_met else 'NO'}")
    return all_met


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    return fill.rounds_parser(__doc__.split("\n\n")[0])


def main(argv: list[str] | None = None) -> int:
    return fill.rounds_main(__file__, build_parser().parse_args(argv), measure, report)


if __name__ == "__main__":
    sys.exit(main())
