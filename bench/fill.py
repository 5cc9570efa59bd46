"""Data for the read benchmarks (bench/inbox.py, bench/insights.py, bench/export.py):
one organization with a million responses over two years, in a fresh SQLite or
PostgreSQL database.

    .venv/bin/python bench/fill.py [--db sqlite|postgres|both] [--rows 1000000] [--reuse]
    .venv/bin/python bench/fill.py --clean      # drop what --reuse kept

The schema is npsloop's own (`npsloop migrate` in a subprocess); the organization
(time zone Europe/Berlin), its owner, three surveys and eight tags are created
through npsloop's services; contacts, responses and their tags are then bulk
inserted with plain SQL (`executemany` for SQLite, `COPY` for PostgreSQL), in
creation order, ids ascending with time as in a live database. The fill is not
what the benchmarks measure; it prints how long it took.

The data: ~`rows`/10 contacts with `properties` (`plan`: 20 values, skewed;
`country`; `seats`) and a language (en/de, from the country); `rows` responses
over the two years up to the fill (volume growing over time), scores with an NPS
around +20 (varying by plan, improving slowly), ~40 % with a comment of one to
four sentences from a pool of a few hundred (en or de, the contact's language;
detractors mostly negative), older responses mostly closed, some tagged.
Invitations are not generated (`invitation_id` is NULL).

Without --reuse each run fills a fresh database (SQLite in a temp dir, PostgreSQL as
`npsloop_bench_fill_<pid>`) and drops it afterwards. With --reuse the databases are
kept (SQLite under $TMPDIR/npsloop-bench-fill/, PostgreSQL as `npsloop_bench_inbox`)
and used again when they hold the same fill (rows, seed, generator version);
`today` for the benchmarks is the fill's last day, so the last-30/90-days cases
stay full however old a kept fill is.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import datetime as dt
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_HOST_URL = PG_ADMIN_URL.rsplit("/", 1)[0]
PG_NAME = "npsloop_bench_inbox"
KEEP_DIR = Path(tempfile.gettempdir()) / "npsloop-bench-fill"
VERSION = 2  # of the generator: a kept database of another version is filled again
SEED = 20260101
ZONE = "Europe/Berlin"
DAYS = 730
CHUNK = 50_000

# The text search word of bench/inbox.py: in ~2 % of the comments (the pool is tuned).
SEARCH_WORD = "invoice"
# The property filter of bench/inbox.py: a mid-sized plan (~3 % of the responses).
PLAN_FILTER = "enterprise"

SETUP_SNIPPET = """
import json
from npsloop.cli import _setup
_setup()
from npsloop.accounts.services import create_organization
from npsloop.responses.models import Tag
from npsloop.surveys.services import create_survey
created = create_organization(
    name="Bench GmbH", email="owner@bench.example", password=None, time_zone="Europe/Berlin"
)
org = created.organization
surveys = [
    create_survey(organization=org, name=name)[0].pk
    for name in ("Product NPS", "Support NPS", "Onboarding NPS")
]
tags = [
    Tag.objects.create(organization=org, name=name).pk
    for name in ("billing", "bug", "feature request", "onboarding", "performance",
                 "pricing", "support", "ux")
]
print("SETUP=" + json.dumps({"org": org.pk, "user": created.user.pk, "surveys": surveys,
                              "tags": tags}))
"""

# --------------------------------------------------------------------------- vocabulary

FIRST = [
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas",
    "Karla", "Lukas", "Mia", "Noah", "Olivia", "Paul", "Quinn", "Rosa", "Sam", "Tom",
    "Ursula", "Viktor", "Wiebke", "Xaver", "Yara", "Zoe", "James", "Mary", "Robert", "Linda",
]  # fmt: skip
LAST = [
    "Schmidt", "Meyer", "Weber", "Fischer", "Wagner", "Becker", "Hoffmann", "Koch", "Richter",
    "Klein", "Wolf", "Neumann", "Schwarz", "Zimmermann", "Smith", "Johnson", "Brown", "Taylor",
    "Wilson", "Davies", "Evans", "Martin", "Dubois", "Rossi", "Jansen", "Novak", "Berg",
]  # fmt: skip
# 20 plans, skewed: the first are common, the last rare.
PLANS = [
    "free", "starter", "team", "pro", "starter-annual", "team-annual", "pro-annual",
    "business", "trial", "enterprise", "business-annual", "education", "nonprofit",
    "enterprise-plus", "partner", "legacy-2021", "legacy-2019", "custom", "agency", "internal",
]  # fmt: skip
PLAN_WEIGHTS = [1 / (rank + 2) ** 1.1 for rank in range(len(PLANS))]
# How much more (or less) likely promoters are on a plan: breakdowns differ by plan.
PLAN_MOOD = [0.85, 0.9, 1.0, 1.1, 0.95, 1.05, 1.15, 1.1, 0.7, 1.2]
PLAN_MOOD += [1.15, 1.0, 1.05, 1.25, 0.95, 0.8, 0.75, 1.0, 0.9, 1.3]
COUNTRIES = {
    "DE": 35, "AT": 8, "CH": 7, "US": 15, "GB": 10, "FR": 5, "NL": 5, "SE": 3, "PL": 3,
    "ES": 3, "IT": 3, "DK": 2, "CA": 1,
}  # fmt: skip
GERMAN_SPEAKING = {"DE", "AT", "CH"}
GENDERS = ["", "female", "male", "diverse"]
GENDER_WEIGHTS = [50, 24, 24, 2]
# Shares per score 0..10: 25 % detractors, 30 % passives, 45 % promoters (NPS +20).
SCORE_WEIGHTS = [2.0, 1.0, 1.5, 2.0, 2.5, 5.0, 11.0, 12.0, 18.0, 20.0, 25.0]
COMMENT_SHARE = {"detractor": 0.55, "passive": 0.33, "promoter": 0.36}  # ~40 % overall

EN_SUBJECTS = [
    "The dashboard", "The mobile app", "Your support team", "The onboarding", "The pricing",
    "The search", "The CSV export", "The API", "The reporting", "The new editor",
    "The Slack integration", "The documentation", "Sync between devices", "The login",
    "Notifications", "The calendar view", "Customer service", "The setup", "Performance",
    "The team management", "The Android app", "The web version",
]  # fmt: skip
EN_GOOD = [
    "is great", "works really well", "saves us hours every week", "is excellent",
    "is easy to use", "has improved a lot lately", "is exactly what we needed",
    "is fast and reliable",
]  # fmt: skip
EN_BAD = [
    "is really slow", "keeps crashing", "is confusing", "could be cheaper",
    "needs better documentation", "is hard to find", "broke after the last update",
    "is missing basic features",
]  # fmt: skip
EN_EXTRA_GOOD = [
    "Keep up the good work!", "Thank you so much!", "Best tool we have used so far.",
    "I recommend it to everyone I know.", "Love it.", "Great value for money.",
]  # fmt: skip
EN_EXTRA_BAD = [
    "Please fix this soon.", "We are thinking about switching.", "Very frustrating.",
    "I expected more for the price.", "Nobody answered my ticket for a week.",
    "Too many clicks for simple things.",
]  # fmt: skip
# The search word's sentences: tuned so that ~2 % of all comments contain it.
EN_SEARCH_GOOD = ["Every invoice arrives on time and is easy to read."]
EN_SEARCH_BAD = [
    "The invoice PDF is missing our VAT number.",
    "I cannot download the invoice as a PDF.",
    "Our last invoice was charged twice.",
    "The invoice address cannot be changed.",
    "Please add the order number to the invoice.",
]
DE_SUBJECTS = [
    "Das Dashboard", "Die App", "Der Support", "Die Einrichtung", "Die Suche",
    "Der Export", "Die Schnittstelle", "Die Auswertung", "Der neue Editor",
    "Die Slack-Integration", "Die Dokumentation", "Die Synchronisierung", "Die Anmeldung",
    "Die Kalenderansicht", "Der Kundenservice", "Die Teamverwaltung", "Die Web-Version",
]  # fmt: skip
DE_GOOD = [
    "ist super", "funktioniert wirklich gut", "spart uns jede Woche Stunden",
    "ist ausgezeichnet", "ist einfach zu bedienen", "ist viel besser geworden",
    "ist genau das, was wir brauchen", "ist schnell und zuverlässig",
]  # fmt: skip
DE_BAD = [
    "ist sehr langsam", "stürzt ständig ab", "ist verwirrend", "ist zu kompliziert",
    "braucht eine bessere Dokumentation", "ist schwer zu finden",
    "geht seit dem letzten Update nicht mehr", "hat zu wenige Funktionen",
]  # fmt: skip
DE_EXTRA_GOOD = [
    "Weiter so!", "Vielen Dank!", "Das beste Tool, das wir je hatten.",
    "Ich empfehle es allen weiter.", "Top Preis-Leistung.", "Macht Spaß.",
]  # fmt: skip
DE_EXTRA_BAD = [
    "Bitte schnell beheben.", "Wir überlegen zu wechseln.", "Sehr ärgerlich.",
    "Für den Preis erwarte ich mehr.", "Auf mein Ticket hat eine Woche niemand geantwortet.",
    "Zu viele Klicks für einfache Dinge.", "Die Rechnung kam doppelt.",
]  # fmt: skip
TAGGED_SHARE = 0.15  # of commented responses: one or two tags


def sentence_pool() -> dict[tuple[str, bool], list[str]]:
    """(language, positive) -> sentences: a few hundred in all."""
    pool = {
        ("en", True): [f"{s} {p}." for s in EN_SUBJECTS for p in EN_GOOD] + EN_EXTRA_GOOD,
        ("en", False): [f"{s} {p}." for s in EN_SUBJECTS for p in EN_BAD] + EN_EXTRA_BAD,
        ("de", True): [f"{s} {p}." for s in DE_SUBJECTS for p in DE_GOOD] + DE_EXTRA_GOOD,
        ("de", False): [f"{s} {p}." for s in DE_SUBJECTS for p in DE_BAD] + DE_EXTRA_BAD,
    }
    pool["en", True] += EN_SEARCH_GOOD
    pool["en", False] += EN_SEARCH_BAD
    return pool


# --------------------------------------------------------------------------- generation


def category(score: int) -> str:
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


def cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def score_tables(buckets: int = 8) -> list[list[list[float]]]:
    """[plan][time bucket] -> cumulative score weights: promoters vary by plan and grow
    slowly over the two years (NPS ~+15 at the start, ~+25 at the end)."""
    tables = []
    for mood in PLAN_MOOD:
        row = []
        for b in range(buckets):
            growth = 0.9 + 0.2 * b / (buckets - 1)
            w = [x * (mood * growth if s >= 9 else 1.0) for s, x in enumerate(SCORE_WEIGHTS)]
            row.append(cumulative(w))
        tables.append(row)
    return tables


def django_datetime(moment: dt.datetime) -> str:
    """A UTC datetime as Django's SQLite backend stores it (compared as text)."""
    return str(moment.astimezone(dt.UTC).replace(tzinfo=None))


@dataclass
class Setup:
    org: int
    user: int
    surveys: list[int]
    tags: list[int]


@dataclass
class Generator:
    rows: int
    end: dt.datetime  # the last moment of the data (UTC), the fill's "now"
    setup: Setup
    seed: int = SEED
    contacts: int = 0
    plans: list[int] = field(default_factory=list)  # plan index per contact id - 1
    languages: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.contacts = max(10, self.rows // 10)
        self.rnd = random.Random(self.seed)
        self.start = self.end - dt.timedelta(days=DAYS)

    def contact_rows(self) -> Iterator[list[tuple]]:
        """contacts_contact rows (see CONTACT_COLUMNS), in chunks."""
        rnd = self.rnd
        plan_cum = cumulative(PLAN_WEIGHTS)
        countries, country_w = list(COUNTRIES), cumulative(list(COUNTRIES.values()))
        gender_cum = cumulative(GENDER_WEIGHTS)
        span = (self.end - self.start).total_seconds() + 365 * 86400
        chunk = []
        for cid in range(1, self.contacts + 1):
            plan = bisect.bisect(plan_cum, rnd.random() * plan_cum[-1])
            country = countries[bisect.bisect(country_w, rnd.random() * country_w[-1])]
            german = country in GERMAN_SPEAKING
            language = ("de" if rnd.random() < 0.8 else "en") if german else "en"
            if not german and rnd.random() < 0.05:
                language = "de"
            first, last = rnd.choice(FIRST), rnd.choice(LAST)
            created = self.end - dt.timedelta(seconds=rnd.random() * span)
            signed_up = created - dt.timedelta(days=rnd.randrange(0, 400))
            unsubscribed = bounced = None
            if rnd.random() < 0.03:
                unsubscribed = self.end - dt.timedelta(seconds=rnd.random() * DAYS * 86400)
            if rnd.random() < 0.01:
                bounced = self.end - dt.timedelta(seconds=rnd.random() * DAYS * 86400)
            properties = {
                "plan": PLANS[plan],
                "country": country,
                "seats": rnd.choice((1, 1, 2, 3, 5, 5, 10, 25, 50, 100)),
            }
            self.plans.append(plan)
            self.languages.append(language)
            chunk.append(
                (
                    cid,
                    self.setup.org,
                    f"{first.lower()}.{last.lower()}.{cid}@example.com",
                    f"user-{cid}",
                    "",
                    first,
                    last,
                    GENDERS[bisect.bisect(gender_cum, rnd.random() * gender_cum[-1])],
                    language,
                    signed_up,
                    json.dumps(properties),
                    created,
                    created,
                    created,
                    created,
                    unsubscribed,
                    bounced,
                )
            )
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def response_rows(self) -> Iterator[tuple[list[tuple], list[tuple]]]:
        """(responses_response rows, responses_response_tags rows), in chunks, oldest first."""
        rnd = self.rnd
        # Volume grows over the two years: density from 0.5 to 1.5 (inverse CDF).
        offsets = sorted(
            (-1 + math.sqrt(1 + 8 * rnd.random())) / 2 * DAYS * 86400 for _ in range(self.rows)
        )
        tables = score_tables()
        pool = sentence_pool()
        surveys, survey_cum = self.setup.surveys, cumulative([60, 30, 10])
        tags = self.setup.tags
        recent = self.end - dt.timedelta(days=14)
        responses: list[tuple] = []
        links: list[tuple] = []
        link_id = 0
        for index, offset in enumerate(offsets):
            rid = index + 1
            created = self.start + dt.timedelta(seconds=offset)
            contact = rnd.randrange(1, self.contacts + 1) if rnd.random() >= 0.01 else None
            if contact is None:
                plan, language = rnd.randrange(len(PLANS)), "en"
            else:
                plan, language = self.plans[contact - 1], self.languages[contact - 1]
            cum = tables[plan][min(7, int(offset / (DAYS * 86400) * 8))]
            score = bisect.bisect(cum, rnd.random() * cum[-1])
            kind = category(score)
            comment, commented = "", None
            if rnd.random() < COMMENT_SHARE[kind]:
                positive = {"promoter": 0.85, "passive": 0.5, "detractor": 0.15}[kind]
                count = bisect.bisect((0.4, 0.7, 0.9, 1.0), rnd.random()) + 1
                comment = " ".join(
                    rnd.choice(pool[language, rnd.random() < positive]) for _ in range(count)
                )
                commented = created + dt.timedelta(seconds=rnd.randrange(5, 600))
                if rnd.random() < TAGGED_SHARE:
                    for tag in rnd.sample(tags, rnd.choice((1, 1, 2))):
                        link_id += 1
                        links.append((link_id, rid, tag))
            status = "closed" if created < recent and rnd.random() < 0.6 else "open"
            survey = surveys[bisect.bisect(survey_cum, rnd.random() * survey_cum[-1])]
            updated = commented or created
            responses.append(
                (
                    rid,
                    self.setup.org,
                    survey,
                    contact,
                    score,
                    comment,
                    language,
                    created,
                    updated,
                    commented,
                    status,
                )
            )
            if len(responses) >= CHUNK:
                yield responses, links
                responses, links = [], []
        if responses:
            yield responses, links


CONTACT_COLUMNS = (
    "id", "organization_id", "email", "external_id", "anonymous_id", "first_name", "last_name",
    "gender", "language", "signed_up_at", "properties", "traits_updated_at", "last_seen_at",
    "created_at", "updated_at", "unsubscribed_at", "bounced_at",
)  # fmt: skip
RESPONSE_COLUMNS = (
    "id", "organization_id", "survey_id", "contact_id", "score", "comment", "language",
    "created_at", "updated_at", "commented_at", "status",
)  # fmt: skip
TAG_LINK_COLUMNS = ("id", "response_id", "tag_id")


# --------------------------------------------------------------------------- databases


@dataclass
class Filled:
    """A filled database and how to reach it."""

    kind: str  # "sqlite" or "postgres"
    data_dir: Path
    url: str  # DATABASE_URL
    info: dict[str, Any]  # what fill() stored: ids, end, rows, seconds, ...
    kept: bool  # --reuse: not dropped afterwards
    reused: bool = False  # filled by an earlier run

    @property
    def pg_name(self) -> str:
        return self.url.rsplit("/", 1)[1]

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "npsloop.sqlite3"

    @property
    def env(self) -> dict[str, str]:
        """The environment of a Django process on this database."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "JOBS_URL", "DJANGO_SETTINGS_MODULE", "BASE_URL"}
        }
        return env | {
            "NPSLOOP_DATA_DIR": str(self.data_dir),
            "DATABASE_URL": self.url,
            "JOBS_URL": f"sqlite:///{self.data_dir / 'jobs.sqlite3'}",
            "DJANGO_SETTINGS_MODULE": "npsloop.settings",
            "DEBUG": "0",
            "PYTHONUNBUFFERED": "1",
        }

    def connect(self):
        """A plain DB-API connection (autocommit on PostgreSQL)."""
        if self.kind == "postgres":
            import psycopg

            return psycopg.connect(self.url, autocommit=True)
        return sqlite3.connect(self.sqlite_path, timeout=30)

    def drop(self) -> None:
        if self.kind == "postgres":
            pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        shutil.rmtree(self.data_dir, ignore_errors=True)


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql)


def pg_exists(name: str = PG_NAME) -> bool:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
        return bool(
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        )


def describe_postgres() -> str:
    import psycopg

    names = ("shared_buffers", "work_mem", "jit", "max_parallel_workers_per_gather")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        shown = ", ".join(f"{n}={conn.execute(f'SHOW {n}').fetchone()[0]}" for n in names)
    return f"PostgreSQL {version} at {PG_HOST_URL} ({shown})"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _stored_info(filled: Filled) -> dict[str, Any] | None:
    """The fill's description kept in the database (table bench_fill), if any."""
    try:
        conn = filled.connect()
    except Exception:
        return None
    try:
        row = conn.execute("SELECT value FROM bench_fill WHERE key = 'info'").fetchone()
        return json.loads(row[0]) if row else None
    except Exception:
        return None
    finally:
        conn.close()


def _matches(info: dict[str, Any] | None, rows: int, seed: int) -> bool:
    return bool(info) and (info.get("version"), info.get("rows"), info.get("seed")) == (
        VERSION,
        rows,
        seed,
    )


def prepare(kind: str, rows: int, *, reuse: bool = False, seed: int = SEED) -> Filled:
    """A filled database: a kept one with the same fill (reuse), or a fresh one."""
    if kind == "postgres":
        # A fresh fill gets a database of its own: a kept one (or another run's) stays.
        url = f"{PG_HOST_URL}/{PG_NAME if reuse else f'npsloop_bench_fill_{os.getpid()}'}"
        data_dir = (
            KEEP_DIR / "postgres"
            if reuse
            else Path(tempfile.mkdtemp(prefix="npsloop-bench-postgres-"))
        )
    else:
        data_dir = (
            KEEP_DIR / f"sqlite-{rows}"
            if reuse
            else Path(tempfile.mkdtemp(prefix="npsloop-bench-sqlite-"))
        )
        url = f"sqlite:///{data_dir / 'npsloop.sqlite3'}"
    filled = Filled(kind, data_dir, url, {}, kept=reuse)
    if reuse and (kind == "sqlite" or pg_exists()):
        info = _stored_info(filled) if kind == "postgres" or filled.sqlite_path.exists() else None
        if _matches(info, rows, seed):
            filled.info, filled.reused = info, True
            say(f"{kind}: reusing the kept fill ({rows:,} responses, {data_dir})")
            return filled
    try:
        fill(filled, rows, seed)
    except BaseException:
        filled.drop()
        raise
    return filled


def fill(filled: Filled, rows: int, seed: int) -> None:
    """Create, migrate and fill the database; store the description in bench_fill."""
    kind = filled.kind
    shutil.rmtree(filled.data_dir, ignore_errors=True)
    filled.data_dir.mkdir(parents=True)
    if kind == "postgres":
        pg_admin(f'DROP DATABASE IF EXISTS "{filled.pg_name}" WITH (FORCE)')
        pg_admin(f'CREATE DATABASE "{filled.pg_name}"')
    began = time.monotonic()
    say(f"{kind}: migrating a fresh database")
    run_django([PY, "-m", "npsloop.cli", "migrate"], filled.env)
    out = run_django([PY, "-c", SETUP_SNIPPET], filled.env)
    setup = Setup(**json.loads(next(x[6:] for x in out.splitlines() if x.startswith("SETUP="))))
    migrated = time.monotonic()
    end = dt.datetime.now(dt.UTC).replace(microsecond=0)
    gen = Generator(rows=rows, end=end, setup=setup, seed=seed)
    say(f"{kind}: inserting {gen.contacts:,} contacts and {rows:,} responses")
    conn = filled.connect()
    try:
        counts = (_fill_postgres if kind == "postgres" else _fill_sqlite)(conn, gen)
        inserted = time.monotonic()
        say(f"{kind}: inserted in {inserted - migrated:.0f} s; analysing")
        if kind == "postgres":
            # What autovacuum does soon after a bulk load: statistics and the visibility map.
            conn.execute("VACUUM (ANALYZE) responses_response")
            conn.execute("VACUUM (ANALYZE) contacts_contact")
            conn.execute("VACUUM (ANALYZE) responses_response_tags")
        # SQLite: npsloop never runs ANALYZE, so neither do we (no sqlite_stat1).
        info = {
            "version": VERSION,
            "rows": rows,
            "seed": seed,
            "org": setup.org,
            "user": setup.user,
            "surveys": setup.surveys,
            "tags": setup.tags,
            "zone": ZONE,
            "start": gen.start.isoformat(),
            "end": end.isoformat(),
            "counts": counts,
            "fill_seconds": {
                "migrate": round(migrated - began, 1),
                "insert": round(inserted - migrated, 1),
                "total": round(time.monotonic() - began, 1),
            },
            "filled_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        conn.execute("CREATE TABLE bench_fill (key varchar(20) PRIMARY KEY, value text)")
        conn.execute(
            "INSERT INTO bench_fill (key, value) VALUES ('info', %s)".replace(
                "%s", "?" if kind == "sqlite" else "%s"
            ),
            (json.dumps(info),),
        )
        conn.commit()
    finally:
        conn.close()
    filled.info = info
    say(
        f"{kind}: filled in {info['fill_seconds']['total']:.0f} s (migrate "
        f"{info['fill_seconds']['migrate']:.0f} s, insert {info['fill_seconds']['insert']:.0f} s)"
    )


def run_django(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv[:4])} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _fill_sqlite(conn: sqlite3.Connection, gen: Generator) -> dict[str, int]:
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-200000")
    # Indexes are built once at the end: far faster than keeping them up to date.
    tables = ("contacts_contact", "responses_response", "responses_response_tags")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN {tables!r}"
    ).fetchall()
    for name, _sql in indexes:
        conn.execute(f'DROP INDEX "{name}"')

    def values(row: tuple) -> tuple:
        return tuple(django_datetime(v) if isinstance(v, dt.datetime) else v for v in row)

    def insert(table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        marks = ", ".join("?" * len(columns))
        conn.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", map(values, rows)
        )

    counts = {"contacts": 0, "responses": 0, "response_tags": 0}
    conn.execute("BEGIN")
    for chunk in gen.contact_rows():
        insert("contacts_contact", CONTACT_COLUMNS, chunk)
        counts["contacts"] += len(chunk)
    for responses, links in gen.response_rows():
        insert("responses_response", RESPONSE_COLUMNS, responses)
        insert("responses_response_tags", TAG_LINK_COLUMNS, links)
        counts["responses"] += len(responses)
        counts["response_tags"] += len(links)
    for _name, sql in indexes:
        conn.execute(sql)
    conn.commit()
    conn.execute("PRAGMA synchronous=NORMAL")
    return counts


def _fill_postgres(conn, gen: Generator) -> dict[str, int]:
    # Bulk load: no foreign key triggers per row (the data is consistent by construction),
    # secondary indexes built at the end.
    tables = ("contacts_contact", "responses_response", "responses_response_tags")
    conn.autocommit = False
    conn.execute("SET session_replication_role = replica")
    conn.execute("SET maintenance_work_mem = '256MB'")
    indexes = conn.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "WHERE t.relname = ANY(%s) AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
        (list(tables),),
    ).fetchall()
    for name, _sql in indexes:
        conn.execute(f'DROP INDEX "{name}"')

    def copy(table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp,
        ):
            for row in rows:
                cp.write_row(row)

    counts = {"contacts": 0, "responses": 0, "response_tags": 0}
    for chunk in gen.contact_rows():
        copy("contacts_contact", CONTACT_COLUMNS, chunk)
        counts["contacts"] += len(chunk)
    for responses, links in gen.response_rows():
        copy("responses_response", RESPONSE_COLUMNS, responses)
        copy("responses_response_tags", TAG_LINK_COLUMNS, links)
        counts["responses"] += len(responses)
        counts["response_tags"] += len(links)
    for _name, sql in indexes:
        conn.execute(sql)
    for table in tables:
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT coalesce(max(id), 1) FROM {table}))"
        )
    conn.execute("SET session_replication_role = DEFAULT")
    conn.commit()
    conn.autocommit = True
    return counts


# ------------------------------------------------------------------ shared by the benchmarks


def machine() -> str:
    return (
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, load average at the "
        f"start {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def run_measurements(
    script: str, kinds: list[str], rows: int, reuse: bool, child_args: list[str]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """For each database: fill it (or reuse it), run `script measure ...` in a child
    process on it (Django settings are per process), drop it unless kept. Returns the
    children's JSON results by database and lines describing the databases."""
    results: dict[str, dict[str, Any]] = {}
    described: list[str] = []
    for kind in kinds:
        filled = prepare(kind, rows, reuse=reuse)
        try:
            info = filled.info
            counts, took = info["counts"], info["fill_seconds"]
            described.append(
                f"{kind}: {counts['responses']:,} responses, {counts['contacts']:,} contacts, "
                f"{counts['response_tags']:,} tag links; filled in {took['total']:.0f} s "
                f"(insert {took['insert']:.0f} s"
                + (", reused from an earlier run" if filled.reused else "")
                + f"); data {info['start'][:10]} .. {info['end'][:10]}"
            )
            env = filled.env | {"BENCH_FILL_INFO": json.dumps(info), "BENCH_DB_KIND": kind}
            argv = [PY, script, "measure", *child_args]
            say(f"{kind}: measuring")
            done = subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            if done.returncode:
                raise RuntimeError(f"{Path(script).name} measure failed on {kind}")
            results[kind] = json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            if not filled.kept:
                filled.drop()
    return results, described


def fill_parser(description: str) -> argparse.ArgumentParser:
    """The options of every benchmark that reads the fill: --db, --rows, --reuse."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rows", type=int, default=1_000_000, help="responses to fill")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the filled databases and use them again next time (bench/fill.py --clean)",
    )
    return parser


def rounds_parser(description: str) -> argparse.ArgumentParser:
    """fill_parser plus timed rounds (bench/inbox.py, bench/insights.py)."""
    parser = fill_parser(description)
    parser.add_argument("--repeat", type=int, default=20, help="timed rounds per case")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds per case")
    parser.add_argument(
        "--budget", type=float, default=30, help="seconds per case before fewer rounds"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("command", nargs="?", choices=["measure"], help=argparse.SUPPRESS)
    return parser


def rounds_main(
    script: str,
    args: argparse.Namespace,
    measure: Callable[[argparse.Namespace], Any],
    report: Callable[[dict, list[str], argparse.Namespace], Any],
) -> int:
    """main() of a rounds_parser benchmark: `measure` in a child per database (the
    `measure` command), then `report` on what the children returned."""
    if args.command == "measure":
        print(json.dumps(measure(args)))
        return 0
    signal.signal(signal.SIGTERM, interrupt)  # clean up on SIGTERM as on Ctrl-C
    child = ["--repeat", str(args.repeat), "--warmup", str(args.warmup)]
    child += ["--budget", str(args.budget)]
    try:
        results, described = run_measurements(
            str(Path(script).resolve()), kinds_of(args.db), args.rows, args.reuse, child
        )
    except KeyboardInterrupt:
        print("\ninterrupted (the databases were dropped unless --reuse)", file=sys.stderr)
        return 130
    report(results, described, args)
    if args.json:
        args.json.write_text(json.dumps({"described": described, "results": results}, indent=2))
    return 0


def interrupt(_signum, _frame):
    raise KeyboardInterrupt


def child_info() -> tuple[str, dict[str, Any]]:
    """In a `measure` child: (database kind, the fill's description)."""
    return os.environ["BENCH_DB_KIND"], json.loads(os.environ["BENCH_FILL_INFO"])


def sql_for(kind: str, sql: str) -> str:
    """SQL written with %s / %(name)s placeholders, for the database's own driver."""
    if kind == "sqlite":
        return re.sub(r"%\((\w+)\)s", r":\1", sql).replace("%s", "?")
    return sql


def db_value(kind: str, value: Any) -> Any:
    """A parameter as Django passes it: SQLite compares datetimes as UTC text."""
    if kind == "sqlite" and isinstance(value, dt.datetime):
        return django_datetime(value)
    return value


def percentile(samples: list[float], p: float) -> float:
    """Nearest rank: with 20 samples the 95th percentile is the second largest."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def time_pair(
    app, baseline, *, repeat: int, warmup: int, budget: float
) -> tuple[list[float], list[float]]:
    """Milliseconds of `app()` and `baseline()`, interleaved (the order alternates so
    that neither always runs on the other's warm caches). After `warmup` rounds of
    both (at least one; fewer when they take over a quarter of the budget), `repeat`
    timed rounds, fewer (at least 5) when a round takes so long that they would exceed
    `budget` seconds."""
    clock = time.perf_counter
    one_round = warmed = 0.0
    for _ in range(max(1, warmup)):
        began = clock()
        app()
        baseline()
        one_round = clock() - began
        warmed += one_round
        if warmed > budget / 4:  # a slow case: one or two rounds warm it up
            break
    rounds = repeat
    if one_round * repeat > budget:
        rounds = max(5, min(repeat, int(budget / max(one_round, 1e-9))))
    ours: list[float] = []
    theirs: list[float] = []
    for index in range(rounds):
        pair = ((app, ours), (baseline, theirs))
        for fn, samples in pair if index % 2 == 0 else pair[::-1]:
            began = clock()
            fn()
            samples.append((clock() - began) * 1000)
    return ours, theirs


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(samples),
        "p95": percentile(samples, 95),
        "n": len(samples),
    }


def table(header: list[str], rows: list[list[str]], left: int = 2) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i < left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def clean() -> None:
    """Drop what --reuse kept."""
    with contextlib.suppress(Exception):
        pg_admin(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')
    shutil.rmtree(KEEP_DIR, ignore_errors=True)
    say(f"dropped {PG_NAME} and removed {KEEP_DIR}")


def kinds_of(db: str) -> list[str]:
    return ["sqlite", "postgres"] if db == "both" else [db]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rows", type=int, default=1_000_000, help="responses")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the databases for the benchmarks' --reuse"
    )
    parser.add_argument("--clean", action="store_true", help="drop what --reuse kept, and stop")
    args = parser.parse_args(argv)
    if args.clean:
        clean()
        return 0
    for kind in kinds_of(args.db):
        filled = prepare(kind, args.rows, reuse=args.reuse)
        try:
            info = filled.info
            print(
                f"{kind}: {info['counts']['responses']:,} responses, "
                f"{info['counts']['contacts']:,} contacts, "
                f"{info['counts']['response_tags']:,} tag links, "
                f"filled in {info['fill_seconds']['total']:.0f} s "
                f"({'reused' if filled.reused else 'fresh'}; data up to {info['end']})"
            )
        finally:
            if not filled.kept:
                filled.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
