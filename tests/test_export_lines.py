"""The CSV and JSON Lines that the database writes (export_lines) hold what the ORM reads
(exports.rows, the XLSX export's rows), value for value, on whichever database runs the
suite: odd text, formulas, quotes and line breaks, times, tags, people and properties."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npsloop.api import export_lines, exports
from npsloop.contacts.models import Contact
from npsloop.responses import workflow
from npsloop.responses.filters import ResponseFilter, where_sql
from npsloop.responses.models import Response
from npsloop.surveys.services import create_survey

pytestmark = pytest.mark.django_db

FORMULA = ("=", "+", "-", "@", "\t", "\r")
ODD_TEXTS = [
    "",
    "plain",
    '=HYPERLINK("http://x")',
    "+49 30 1234",
    "-minus",
    "@sum",
    "\tafter a tab",
    "\rafter a CR",
    'say "hi", then\nleave',
    "comma, and ; semicolon",
    "line\r\nbreaks\rand\nmore",
    "control \x01\x08\x0b\x0c\x1f\x7f chars",
    'back\\slash \\" and \\n',
    "ünïcödé 東京 😀 \u2028\u2029",
    "'already quoted",
]


def _export(org, fmt: str) -> bytes:
    where, params = where_sql(org, ResponseFilter())
    return b"".join(export_lines.lines(fmt, where, params))


def _reference(org) -> list[dict]:
    qs = Response.objects.filter(organization=org)
    return [
        {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in item.items()}
        for item in exports.rows(qs)
    ]


def _safe(text: str) -> str:
    return "'" + text if text.startswith(FORMULA) else text


def _expected_csv(item: dict) -> list[str]:
    person = item["person_id"]
    return [
        str(item["id"]),
        item["created_at"],
        item["updated_at"],
        str(item["survey_id"]),
        _safe(item["survey"]),
        str(item["score"]),
        item["category"],
        _safe(item["comment"]),
        item["commented_at"] or "",
        _safe(item["language"]),
        item["status"],  # open or closed: never a formula
        _safe(", ".join(item["tags"])),
        "" if person is None else str(person),
        _safe(item["email"]) if person is not None else "",
        _safe(item["name"]) if person is not None else "",
        "properties",  # compared as JSON
    ]


def _check(org) -> None:
    """Both formats against the reference, for every response of the organization."""
    expected = _reference(org)
    assert expected, "nothing to compare"

    body = _export(org, "jsonl")
    assert body.endswith(b"\n") and b"\r" not in body
    lines = body.decode().split("\n")[:-1]
    items = [json.loads(line) for line in lines]
    assert [list(item) for item in items] == [export_lines.COLUMNS] * len(items)
    assert items == expected

    text = _export(org, "csv").decode()
    assert text.startswith("\ufeff" + ",".join(export_lines.COLUMNS) + "\n")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    assert rows[0] == export_lines.COLUMNS
    assert len(rows) == len(expected) + 1
    for row, item in zip(rows[1:], expected, strict=True):
        assert row[:-1] == _expected_csv(item)[:-1]
        assert (json.loads(row[-1]) if row[-1] else {}) == item["properties"]


@pytest.fixture
def odd(org_a, org_b):
    """Responses whose every text column holds one of ODD_TEXTS, with and without a
    person, tags that sort by code point, times with and without microseconds."""
    org = org_a.organization
    start = timezone.now().replace(microsecond=0) - dt.timedelta(days=3)
    created = []
    for i, text in enumerate(ODD_TEXTS):
        survey, _key = create_survey(organization=org, name=text or "unnamed")
        person = None
        if i % 4:
            person = Contact.objects.create(
                organization=org,
                email=f"{text[:3]}+{i}@example.com",
                first_name=text if i % 2 else "",
                last_name="" if i % 3 else text,
                properties={"text": text, "n": i, "big": 2**70, "nested": {"z": [1, None]}}
                if i % 5
                else {},
            )
        moment = start + dt.timedelta(minutes=i, microseconds=[0, 120000, 5, 999999][i % 4])
        created.append(
            Response(
                organization=org,
                survey=survey,
                contact=person,
                score=i % 11,
                comment=text,
                commented_at=moment if i % 2 else None,
                language=text[:8],
                status=text[:8],
                created_at=moment,
                updated_at=moment + dt.timedelta(seconds=1),
            )
        )
    Response.objects.bulk_create(created)
    tagged = Response.objects.filter(organization=org).order_by("id")
    for name in ["zeta", "Zeta", "alpha", "Ärger", "=cmd", "a, b", '"quoted"']:
        workflow.add_tag(responses=tagged.filter(pk=tagged[1].pk), name=name, actor=None)
    workflow.add_tag(responses=tagged.filter(pk=tagged[2].pk), name="@only", actor=None)
    other, _key = create_survey(organization=org_b.organization, name="Other")
    Response.objects.create(
        organization=org_b.organization, survey=other, score=5, created_at=start,
        updated_at=start,
    )  # fmt: skip
    return org


def test_odd_values_are_written_as_the_orm_reads_them(odd):
    _check(odd)


def test_the_csv_bytes_of_a_plain_row(org_a, survey, contact):
    """Every text cell quoted (empty ones too), numbers and times bare, nothing for a
    missing value; the same bytes on both databases."""
    moment = dt.datetime(2026, 3, 1, 12, 0, 5, 120000, tzinfo=dt.UTC)
    kept = Response.objects.create(
        organization=org_a.organization,
        survey=survey,
        contact=contact,
        score=9,
        comment="",
        language="de",
        created_at=moment,
        updated_at=moment.replace(microsecond=0),
    )
    orphan = Response.objects.create(
        organization=org_a.organization, survey=survey, score=3, comment="=1+1",
        created_at=moment - dt.timedelta(days=1), updated_at=moment,
    )  # fmt: skip
    # updated_at is set on save: written here as it is meant.
    Response.objects.filter(pk=kept.pk).update(updated_at=moment.replace(microsecond=0))
    Response.objects.filter(pk=orphan.pk).update(updated_at=moment)
    assert _export(org_a.organization, "csv").decode().splitlines()[1:] == [
        f"{kept.pk},2026-03-01T12:00:05.120000+00:00,2026-03-01T12:00:05+00:00,{survey.pk},"
        f'"Customer NPS",9,promoter,"",,"de","open",,{contact.pk},'
        '"anna.schmidt@example.com","Anna Schmidt",',
        f"{orphan.pk},2026-02-28T12:00:05.120000+00:00,2026-03-01T12:00:05.120000+00:00,"
        f'{survey.pk},"Customer NPS",3,detractor,"\'=1+1",,"","open",,,,,',
    ]
    assert _export(org_a.organization, "jsonl").decode().splitlines()[1] == (
        f'{{"id":{orphan.pk},"created_at":"2026-02-28T12:00:05.120000+00:00",'
        f'"updated_at":"2026-03-01T12:00:05.120000+00:00","survey_id":{survey.pk},'
        '"survey":"Customer NPS","score":3,"category":"detractor","comment":"=1+1",'
        '"commented_at":null,"language":"","status":"open","tags":[],"person_id":null,'
        '"email":"","name":"","properties":{}}'
    )


# Text a database can hold: no NUL (PostgreSQL refuses it) and no lone surrogates.
_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(comment=_TEXT, first=_TEXT, tag=_TEXT, key=_TEXT)
def test_any_text_is_written_as_the_orm_reads_it(org_a, survey, comment, first, tag, key):
    org = org_a.organization
    Response.objects.filter(organization=org).delete()
    person, _ = Contact.objects.update_or_create(
        organization=org,
        email="h@example.com",
        defaults={"first_name": first, "last_name": "", "properties": {key: comment}},
    )
    response = Response.objects.create(
        organization=org, survey=survey, contact=person, score=7, comment=comment,
        created_at=timezone.now(), updated_at=timezone.now(),
    )  # fmt: skip
    try:
        name = workflow.clean_tag(tag)
    except ValidationError:  # nothing left of it to be a name
        name = ""
    if name:
        workflow.add_tag(responses=Response.objects.filter(pk=response.pk), name=name, actor=None)
    _check(org)


def test_names_and_tags_are_saved_without_control_characters(org_a, survey, contact):
    """NUL and the other control characters are dropped when a name or tag is saved
    (PostgreSQL refuses NUL; on SQLite it cut the export's CSV line short)."""
    from npsloop.contacts.services import upsert_contact

    person, _ = upsert_contact(
        organization=org_a.organization, email="nul@example.com", first_name="An\x00na\x1f",
        last_name="\tSchmidt\x7f", external_id="id\x00 7",
    )  # fmt: skip
    person.refresh_from_db()
    assert (person.first_name, person.last_name, person.external_id) == ("Anna", "Schmidt", "id 7")
    assert workflow.clean_tag("a\x00b\x1f  c\n") == "ab c"
    response = Response.objects.create(
        organization=org_a.organization, survey=survey, contact=person, score=9,
        created_at=timezone.now(), updated_at=timezone.now(),
    )  # fmt: skip
    workflow.add_tag(responses=Response.objects.filter(pk=response.pk), name="x\x00y", actor=None)
    _check(org_a.organization)


def test_names_and_tags_stored_with_nul_before_lose_it(org_a, survey):
    """The migrations that drop NUL from names and tags stored before (SQLite only)."""
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    from npsloop.responses.models import Tag

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL cannot store NUL")
    person = Contact.objects.create(
        organization=org_a.organization, email="old@example.com", first_name="Jo\x00e",
        last_name="D\x00", external_id="\x00x",
    )  # fmt: skip
    Tag.objects.create(organization=org_a.organization, name="ta\x00g")
    Tag.objects.create(organization=org_a.organization, name="du\x00p")
    Tag.objects.create(organization=org_a.organization, name="dup")  # left as it is
    for module in (
        "npsloop.contacts.migrations.0005_names_without_nul",
        "npsloop.responses.migrations.0005_tags_without_nul",
    ):
        # What a migration uses of its schema editor: the connection.
        importlib.import_module(module).strip_nul(apps, SimpleNamespace(connection=connection))
    person.refresh_from_db()
    assert (person.first_name, person.last_name, person.external_id) == ("Joe", "D", "x")
    names = set(Tag.objects.filter(organization=org_a.organization).values_list("name", flat=True))
    assert names == {"tag", "du\x00p", "dup"}
