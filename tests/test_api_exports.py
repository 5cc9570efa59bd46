"""Bulk export of responses (CSV, JSON Lines, XLSX), by API and from the inbox."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone

from npsloop.contacts.services import upsert_contact
from npsloop.responses import workflow
from npsloop.responses.models import Response
from tests.test_api_support import (  # noqa: F401  (fixtures)
    api_b_fixture,
    api_fixture,
    assert_error,
    respond,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_responses(org_a, survey, contact):
    other, _ = upsert_contact(
        organization=org_a.organization, email="b@example.com", properties={"plan": "pro"}
    )
    low = respond(survey, contact, 2, '=HYPERLINK("x"), "quoted"; ünïcode')
    high = respond(survey, other, 10)
    workflow.add_tag(responses=type(low).objects.filter(pk=low.pk), name="bug", actor=None)
    return low, high


def _body(response) -> bytes:
    if isinstance(response, StreamingHttpResponse):
        return b"".join(response.streaming_content)
    return b"".join(response.streaming_content) if response.streaming else response.content


def _csv_rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(_body(response).decode("utf-8-sig"))))


def test_csv_export_streams_with_filters(api, two_responses):
    low, high = two_responses
    answer = api.get("/responses/export", {"format": "csv"})
    assert answer.status_code == 200
    assert answer.streaming
    assert answer["Content-Type"].startswith("text/csv")
    assert "attachment" in answer["Content-Disposition"]
    text = _body(answer).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["id"]) for r in rows] == [high.pk, low.pk]
    assert rows[1]["comment"] == "'" + low.comment  # no formula runs in a spreadsheet
    assert rows[1]["tags"] == "bug"
    assert rows[1]["email"] == "anna.schmidt@example.com"
    assert json.loads(rows[0]["properties"]) == {"plan": "pro"}
    only = api.get("/responses/export", {"format": "csv", "category": "promoter"})
    assert len(list(csv.DictReader(io.StringIO(_body(only).decode("utf-8-sig"))))) == 1
    assert_error(api.get("/responses/export", {"colour": "red"}), 400, "invalid_filter")
    assert_error(api.get("/responses/export", {"format": "pdf"}), 422, "validation_error")


def test_jsonl_export(api, two_responses):
    low, high = two_responses
    answer = api.get("/responses/export", {"format": "jsonl", "score_max": "5"})
    assert answer.status_code == 200 and answer.streaming
    lines = _body(answer).decode().splitlines()
    items = [json.loads(line) for line in lines]
    assert [i["id"] for i in items] == [low.pk]
    assert items[0]["comment"] == low.comment
    assert items[0]["tags"] == ["bug"] and items[0]["category"] == "detractor"


def test_xlsx_export_opens_in_openpyxl(api, two_responses):
    low, high = two_responses
    answer = api.get("/responses/export", {"format": "xlsx"})
    assert answer.status_code == 200 and answer.streaming
    data = _body(answer)
    assert zipfile.is_zipfile(io.BytesIO(data))
    openpyxl = pytest.importorskip("openpyxl")
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    assert header[:6] == ["id", "created_at", "updated_at", "survey_id", "survey", "score"]
    by_id = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert set(by_id) == {low.pk, high.pk}
    assert by_id[low.pk]["comment"] == low.comment  # a string cell, not a formula
    assert by_id[high.pk]["score"] == 10


def test_export_is_scoped_to_the_organization(api_b, two_responses):
    text = _body(api_b.get("/responses/export", {"format": "csv"})).decode("utf-8-sig")
    assert len(list(csv.DictReader(io.StringIO(text)))) == 0


def test_inbox_export_button(member_client, two_responses):
    low, high = two_responses
    inbox = member_client.get("/inbox/", {"category": "detractor"})
    assert b"/inbox/export?format=xlsx&amp;category=detractor" in inbox.content
    answer = member_client.get("/inbox/export", {"format": "jsonl", "category": "detractor"})
    assert answer.status_code == 200
    assert [json.loads(line)["id"] for line in _body(answer).decode().splitlines()] == [low.pk]
    assert member_client.get("/inbox/export", {"format": "xlsx"}).status_code == 200


def test_inbox_export_needs_a_member(client, two_responses):
    answer = client.get("/inbox/export")
    assert answer.status_code == 302 and "/login/" in answer["Location"]


def test_a_large_export_comes_in_pieces_with_every_row_once(api, org_a, survey, contact):
    """More rows than one database fetch: every row once, newest first, with its tags and
    person, whichever piece it is in; values as the models hold them."""
    from npsloop.api import export_lines

    organization = org_a.organization
    start = timezone.now() - dt.timedelta(days=10)
    total = export_lines.CHUNK * 2 + 7
    Response.objects.bulk_create(
        Response(
            organization=organization,
            survey=survey,
            contact=contact if i % 3 else None,  # some without a person
            score=i % 11,
            comment=f"comment {i}" if i % 2 else "",
            created_at=start + dt.timedelta(seconds=i),
            updated_at=start + dt.timedelta(seconds=i, microseconds=i % 7),
        )
        for i in range(total)
    )
    last = Response.objects.filter(organization=organization).order_by("created_at").first()
    workflow.add_tag(responses=Response.objects.filter(pk=last.pk), name="zeta", actor=None)
    workflow.add_tag(responses=Response.objects.filter(pk=last.pk), name="alpha", actor=None)

    answer = api.get("/responses/export", {"format": "jsonl"})
    pieces = list(answer.streaming_content)
    assert len(pieces) >= 3  # one per fetch, not one per row and not one in all
    items = [json.loads(line) for line in b"".join(pieces).decode().splitlines()]
    models = list(
        Response.objects.filter(organization=organization)
        .select_related("contact", "survey")
        .order_by("-created_at", "-id")
    )
    assert [i["id"] for i in items] == [m.pk for m in models]
    for item, model in zip(items, models, strict=True):
        assert item["created_at"] == model.created_at.isoformat()
        assert item["updated_at"] == model.updated_at.isoformat()
        assert item["score"] == model.score and item["category"] == model.category
        assert item["comment"] == model.comment and item["survey"] == survey.name
        assert item["person_id"] == model.contact_id
        assert item["email"] == (model.contact.email if model.contact else "")
        assert item["name"] == (model.contact.full_name if model.contact else "")
    assert items[-1]["tags"] == ["alpha", "zeta"]  # the oldest, in the last piece

    rows = _csv_rows(api.get("/responses/export"))
    assert [int(r["id"]) for r in rows] == [m.pk for m in models]
    assert rows[-1]["tags"] == "alpha, zeta"
    assert rows[-1]["created_at"] == models[-1].created_at.isoformat()


def test_export_keeps_odd_values_intact(api, org_a, survey):
    """Huge integers and non-ASCII text in properties, a name that looks like a formula,
    a response whose person was erased."""
    person, _ = upsert_contact(
        organization=org_a.organization,
        email="odd@example.com",
        first_name="=cmd",
        properties={"big": 2**70, "städte": ["Zürich", "東京"], "nested": {"b": 1, "a": None}},
    )
    kept = respond(survey, person, 7, "ok")
    lines = _body(api.get("/responses/export", {"format": "jsonl"})).decode().splitlines()
    item = json.loads(lines[0])
    assert item["id"] == kept.pk
    assert item["properties"] == {
        "big": 2**70,
        "städte": ["Zürich", "東京"],
        "nested": {"b": 1, "a": None},
    }
    rows = _csv_rows(api.get("/responses/export"))
    assert rows[0]["name"] == "'=cmd"
    assert json.loads(rows[0]["properties"])["big"] == 2**70
    assert json.loads(rows[0]["properties"]) == item["properties"]


@pytest.mark.django_db(transaction=True)
def test_the_export_streams_while_the_query_runs_and_a_client_may_go_away(
    org_a, survey, contact, monkeypatch
):
    """The first lines come while the database is still reading (PostgreSQL: a COPY in a
    transaction, seen running from another connection); a client that goes away (the
    generator closed) cancels it and leaves the connection clean. SQLite reads without a
    transaction, which would begin IMMEDIATE and lock out every writer."""
    from django.db import connection

    from npsloop.api import export_lines
    from npsloop.responses.filters import ResponseFilter, where_sql

    monkeypatch.setattr(export_lines, "CHUNK", 2)
    monkeypatch.setattr(export_lines, "PIECE_BYTES", 1)
    start = timezone.now() - dt.timedelta(days=1)
    # 8 MB of comments: more than the socket holds, so PostgreSQL is still sending.
    Response.objects.bulk_create(
        Response(
            organization=org_a.organization, survey=survey, contact=contact, score=i % 11,
            comment="x" * 4000, created_at=start + dt.timedelta(seconds=i),
        )
        for i in range(2000)
    )  # fmt: skip
    assert connection.get_autocommit()
    where, params = where_sql(org_a.organization, ResponseFilter())
    pieces = export_lines.lines("jsonl", where, params)
    try:
        first = next(pieces)
        assert (
            json.loads(first.splitlines()[0])["created_at"]
            == (start + dt.timedelta(seconds=1999)).isoformat()
        )  # the newest
        assert connection.in_atomic_block == (connection.vendor == "postgresql")
        if connection.vendor == "sqlite":
            respond(survey, contact, 7)  # a write while the download runs
        else:
            import psycopg

            backend = connection.connection.info.backend_pid
            params = connection.get_connection_params()
            keys = ("host", "port", "user", "password", "dbname")
            with psycopg.connect(**{k: params[k] for k in keys if params.get(k)}) as other:
                running = other.execute(
                    "SELECT state, left(query, 4) FROM pg_stat_activity WHERE pid = %s",
                    [backend],
                ).fetchone()
            assert running == ("active", "COPY")
    finally:
        pieces.close()  # the client went away
    assert not connection.in_atomic_block and connection.get_autocommit()
    expected = 2001 if connection.vendor == "sqlite" else 2000
    assert Response.objects.filter(organization=org_a.organization).count() == expected


@pytest.mark.parametrize(
    "query, which",
    [
        ({"q": "quoted"}, "low"),
        ({"prop.plan": "pro"}, "high"),
        ({"tag": "bug"}, "low"),
        ({"q": "ünïcode", "category": "detractor", "survey": "{survey}"}, "low"),
        ({"q": "100%_"}, None),  # LIKE's special characters are plain text
        ({"since": "{high_at}"}, "high"),
        ({"until": "{high_at}"}, "low"),
        ({"updated_since": "2999-01-01T00:00:00Z"}, None),
    ],
)
def test_export_filters_on_both_databases(api, two_responses, survey, query, which):
    """The filters through the export's own SQL (COPY on PostgreSQL): text search,
    properties, tags, combinations, since / until / updated_since."""
    low, high = two_responses
    high_at = high.created_at.isoformat()
    params = {k: v.format(survey=survey.pk, high_at=high_at) for k, v in query.items()}
    params["format"] = "jsonl"
    answer = api.get("/responses/export", params)
    assert answer.status_code == 200
    ids = [json.loads(line)["id"] for line in _body(answer).decode().splitlines()]
    assert ids == ([] if which is None else [{"low": low, "high": high}[which].pk])
