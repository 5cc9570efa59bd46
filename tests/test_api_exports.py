"""Bulk export of responses (CSV, JSON Lines, XLSX), by API and from the inbox."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from django.http import StreamingHttpResponse

from npsloop.contacts.services import upsert_contact
from npsloop.responses import workflow
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
