"""Inbox benchmark: the first page of the feedback inbox on a million responses.

    .venv/bin/python bench/inbox.py [--db sqlite|postgres|both] [--rows 1000000] [--reuse]

For each database a fresh one is filled by bench/fill.py (one organization, 1,000,000
responses over two years), then a child process (Django set up on that database)
times `npsloop.responses.selectors.inbox_page` for typical filters, evaluating the
page as the inbox shows it (contact, survey, assignee, tags), against the same page
written by hand as one SQL query run on the raw DB-API cursor of the same connection.
It prints median and p95 milliseconds, the ratio app ÷ baseline, and whether the aim
(first page under 100 ms and within 2x of the hand-written query) is met.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import fill  # noqa: E402

AIM_MS = 100.0
AIM_RATIO = 2.0
PAGE = 50
DEEP = 20  # the deep case: the page after following the cursor this many times

# The page as the inbox template shows it: response, contact name/email, survey name,
# assignee email, tag names (one correlated aggregate: still one statement).
BASELINE = """
SELECT r.id, r.score, r.comment, r.language, r.status, r.created_at,
       c.first_name, c.last_name, c.email, s.name, u.email,
       (SELECT {tags} FROM responses_response_tags rt
          JOIN responses_tag t ON t.id = rt.tag_id
         WHERE rt.response_id = r.id) AS tags
  FROM responses_response r
  JOIN surveys_survey s ON s.id = r.survey_id
  LEFT JOIN contacts_contact c ON c.id = r.contact_id
  LEFT JOIN auth_user u ON u.id = r.assignee_id
 WHERE r.organization_id = %s{where}
 ORDER BY r.created_at DESC, r.id DESC
 LIMIT {limit}
"""
TAGS = {
    "postgres": "string_agg(t.name, ',' ORDER BY t.name)",
    "sqlite": "group_concat(t.name, ',')",
}
ILIKE = {"postgres": "r.comment ILIKE %s", "sqlite": "r.comment LIKE %s"}
PROPERTY = {
    "postgres": "c.properties ->> 'plan' = %s",
    "sqlite": "json_extract(c.properties, '$.plan') = %s",
}


# --------------------------------------------------------------------------- child


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Runs in the child process, with Django set up on the filled database."""
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from npsloop.accounts.models import Organization
    from npsloop.responses.filters import parse
    from npsloop.responses.pagination import decode
    from npsloop.responses.selectors import inbox_page

    kind, info = fill.child_info()
    pending = unapplied_migrations(connection)
    if pending:  # a fill kept from before them lacks e.g. responses.0003's statistics
        fill.say(f"{kind}: WARNING: the fill lacks migrations {', '.join(pending)}")
    org = Organization.objects.get(pk=info["org"])
    zone = org.zone
    today = dt.datetime.fromisoformat(info["end"]).astimezone(zone).date()
    month_ago = today - dt.timedelta(days=29)
    connection.ensure_connection()
    raw = connection.connection  # the driver's own connection: sqlite3 or psycopg

    def midnight(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), zone)

    # (case, filter query, extra WHERE for the baseline, its parameters, pages to follow)
    cases: list[tuple[str, str, str, list[Any], int]] = [
        ("no filter", "", "", [], 0),
        (
            "detractors, last 30 days",
            f"category=detractor&from={month_ago}&to={today}",
            " AND r.score <= 6 AND r.created_at >= %s AND r.created_at < %s",
            [midnight(month_ago), midnight(today + dt.timedelta(days=1))],
            0,
        ),
        (
            f"q={fill.SEARCH_WORD}",
            f"q={fill.SEARCH_WORD}",
            f" AND {ILIKE[kind]}",
            [f"%{fill.SEARCH_WORD}%"],
            0,
        ),
        (
            f"prop.plan={fill.PLAN_FILTER}",
            f"prop.plan={fill.PLAN_FILTER}",
            f" AND {PROPERTY[kind]}",
            [fill.PLAN_FILTER],
            0,
        ),
        (f"no filter, page {DEEP + 1} (cursor)", "", "", [], DEEP),
    ]
    out: dict[str, Any] = {"cases": [], "shares": shares(raw, kind, info)}
    for name, query, where, params, follow in cases:
        flt = parse(query)
        assert not flt.errors, flt.errors
        cursor = None
        for _ in range(follow):
            cursor = inbox_page(org, flt, cursor=cursor, size=PAGE).next_cursor
        sql_params = [info["org"], *params]
        if cursor:
            created_at, pk = decode(cursor)
            where += " AND (r.created_at, r.id) < (%s, %s)"
            sql_params += [created_at, pk]
        sql = fill.sql_for(kind, BASELINE.format(tags=TAGS[kind], where=where, limit=PAGE + 1))
        sql_params = [fill.db_value(kind, p) for p in sql_params]

        def app(flt=flt, cursor=cursor) -> list:
            page = inbox_page(org, flt, cursor=cursor, size=PAGE)
            # What the template touches; all of it was fetched by the page's one query.
            return [
                (r.pk, r.contact_name, r.contact_email, r.survey_name, r.assignee_email, r.tags)
                for r in page.items
            ]

        def baseline(sql=sql, sql_params=sql_params) -> list:
            cur = raw.cursor()
            try:
                cur.execute(sql, sql_params)
                return cur.fetchall()
            finally:
                cur.close()

        with CaptureQueriesContext(connection) as queries:
            got = app()
        expected = baseline()
        same = [row[0] for row in got] == [row[0] for row in expected[:PAGE]]
        fill.say(f"{kind} {name}: {len(got)} rows, {len(queries)} queries, same rows: {same}")
        ours, theirs = fill.time_pair(
            app, baseline, repeat=args.repeat, warmup=args.warmup, budget=args.budget
        )
        out["cases"].append(
            {
                "case": name,
                "app": fill.summary(ours),
                "baseline": fill.summary(theirs),
                "queries": len(queries),
                "rows": len(got),
                "same": same,
                "sql": [q["sql"] for q in queries.captured_queries],
            }
        )
    return out


def unapplied_migrations(connection) -> list[str]:
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    # Only the apps the inbox reads (another app's pending migration is not ours to judge).
    return [f"{m.app_label}.{m.name}" for m, _ in plan if m.app_label in {"responses", "contacts"}]


def shares(raw, kind: str, info: dict[str, Any]) -> dict[str, float]:
    """How selective the text and property filters are on this fill."""
    cur = raw.cursor()
    try:
        sql = (
            "SELECT count(*), sum(CASE WHEN comment <> '' THEN 1 ELSE 0 END), "
            f"sum(CASE WHEN {ILIKE[kind].replace('r.', '')} THEN 1 ELSE 0 END) "
            "FROM responses_response WHERE organization_id = %s"
        )
        cur.execute(fill.sql_for(kind, sql), [f"%{fill.SEARCH_WORD}%", info["org"]])
        total, commented, matching = cur.fetchone()
        sql = (
            "SELECT count(*) FROM responses_response r JOIN contacts_contact c "
            f"ON c.id = r.contact_id WHERE r.organization_id = %s AND {PROPERTY[kind]}"
        )
        cur.execute(fill.sql_for(kind, sql), [info["org"], fill.PLAN_FILTER])
        (on_plan,) = cur.fetchone()
    finally:
        cur.close()
    return {
        "word_of_comments": matching / commented if commented else 0.0,
        "plan_of_responses": on_plan / total if total else 0.0,
    }


# --------------------------------------------------------------------------- report


def report(results: dict[str, dict[str, Any]], described: list[str], args) -> bool:
    print()
    print(f"npsloop inbox benchmark: first page ({PAGE} rows, newest first) via inbox_page")
    print(f"  {fill.machine()}")
    if "postgres" in results:
        print(f"  {fill.describe_postgres()}")
    for line in described:
        print(f"  {line}")
    for kind, result in results.items():
        s = result["shares"]
        print(
            f"  {kind}: q={fill.SEARCH_WORD} matches {s['word_of_comments']:.1%} of the comments; "
            f"prop.plan={fill.PLAN_FILTER} {s['plan_of_responses']:.1%} of the responses"
        )
    print(
        f"  timed: {args.warmup} warm-up rounds, then up to {args.repeat} rounds (fewer when a "
        f"case would take over {args.budget:g} s), app and baseline interleaved"
    )
    print()
    header = ["db", "case", "app ms (median)", "app p95", "baseline ms", "base p95", "ratio"]
    header += ["n", "queries", f"aim <{AIM_MS:g} ms & <={AIM_RATIO:g}x"]
    rows, all_met, warnings = [], True, []
    for kind, result in results.items():
        for case in result["cases"]:
            app, base = case["app"], case["baseline"]
            ratio = app["median"] / base["median"] if base["median"] else float("inf")
            met = app["median"] < AIM_MS and ratio <= AIM_RATIO
            all_met &= met
            rows.append(
                [
                    kind,
                    case["case"],
                    f"{app['median']:.1f}",
                    f"{app['p95']:.1f}",
                    f"{base['median']:.1f}",
                    f"{base['p95']:.1f}",
                    f"{ratio:.2f}",
                    str(app["n"]),
                    str(case["queries"]),
                    "yes" if met else "NO",
                ]
            )
            if not case["same"]:
                warnings.append(f"{kind} {case['case']}: the baseline returned other rows")
    fill.table(header, rows)
    print()
    print(
        "  app: inbox_page(org, parse(query), cursor=...) and reading each item's contact,\n"
        "  survey, assignee and tags (one SELECT, tags as a correlated aggregate); baseline: one\n"
        "  hand-written SELECT with the same WHERE, ORDER BY and LIMIT, the joins and the tag\n"
        "  names as a correlated aggregate, on the same connection's DB-API cursor. ratio:\n"
        "  app median / baseline median. The aim is judged on the medians."
    )
    for warning in warnings:
        print(f"  WARNING: {warning}")
    print()
    print(f"aim met for every case: {'yes' if all_met else 'NO'}")
    return all_met


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    return fill.rounds_parser(__doc__.split("\n\n")[0])


def main(argv: list[str] | None = None) -> int:
    return fill.rounds_main(__file__, build_parser().parse_args(argv), measure, report)


if __name__ == "__main__":
    sys.exit(main())
