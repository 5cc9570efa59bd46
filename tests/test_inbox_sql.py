"""The inbox's hand-written page query (selectors.inbox_page, filters.where_sql) returns
exactly what compile_filter and cursor pagination over the ORM return: same rows, same
order, same shown values, scoped to the organization, in one query per page."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.urls import reverse

from npsloop.contacts.models import Contact
from npsloop.responses.filters import compile_filter, parse
from npsloop.responses.models import Response, Tag
from npsloop.responses.pagination import decode, encode
from npsloop.responses.selectors import inbox_page
from npsloop.surveys.services import create_survey

pytestmark = pytest.mark.django_db

PROPERTIES = [
    {"plan": "Pro", "seats": 5, "beta": True},
    {"plan": "pro", "seats": "5", "beta": "true"},
    {"plan": "free", "nested": {"a": 1}, "0": "zero", "n": None},
    {"plan": "enterprise", "x y": "spaced", "a.b": "dotted", "seats": 5.0},
    {"note": 'say "hi" ü', "plan": ["pro"]},
]
COMMENTS = [
    "The invoice was wrong",
    "INVOICE again",
    "100% happy",
    "under_score and back\\slash",
    "Ärger mit der Rechnung",
    "Straße",
    "",
    "<script>alert(1)</script> Invoice",
]
TAGS = ["Zeta", "bug", "a,b", "<b>bold</b>", "Billing", "ähm"]  # ids not in name order


def _org(org, survey, zone: str, seed: int) -> list[Response]:
    """Responses of every kind: with and without contact, assignee and tags, ties in time,
    times around midnight in the organization's zone."""
    org.time_zone = zone
    org.save()
    other, _ = create_survey(organization=org, name="Other & <Survey>")
    contacts = [
        Contact.objects.create(
            organization=org,
            email=f"c{i}-{seed}@example.com",
            first_name=["Anna", "", "<i>Bo</i>", "Cy", ""][i],
            last_name=["Schmidt", "Lee", "", "", ""][i],
            properties=props,
        )
        for i, props in enumerate(PROPERTIES)
    ]
    tags = [Tag.objects.create(organization=org, name=name) for name in TAGS]
    base = dt.datetime(2026, 3, 28, 23, 30, tzinfo=dt.UTC)  # 00:30 on the 29th in Berlin
    rows = []
    for i in range(40):
        # Every third pair shares its moment: the cursor must break ties by id.
        moment = base - dt.timedelta(minutes=45 * (i - i % 3 // 2))
        rows.append(
            Response.objects.create(
                organization=org,
                survey=survey if i % 3 else other,
                contact=None if i % 7 == 3 else contacts[i % len(contacts)],
                score=(i * 7 + seed) % 11,
                comment=COMMENTS[i % len(COMMENTS)],
                language=["en", "de", ""][i % 3],
                status="closed" if i % 5 == 0 else "open",
                assignee=org.memberships.first().user if i % 4 == 1 else None,
                created_at=moment,
            )
        )
    for i, response in enumerate(rows):
        response.tags.set(tags[j] for j in range(len(tags)) if (i + j) % 3 == 0)
    return rows


@pytest.fixture
def orgs(org_a, org_b, survey):
    other_survey, _ = create_survey(organization=org_b.organization, name="Customer NPS")
    _org(org_b.organization, other_survey, "America/New_York", 3)
    return org_a, _org(org_a.organization, survey, "Europe/Berlin", 0)


QUERIES = [
    "",
    "category=detractor",
    "category=promoter&category=passive",
    "score_min=3&score_max=8",
    "from=2026-03-28&to=2026-03-28",
    "from=2026-03-29",
    "to=2026-03-27",
    "comment=with",
    "comment=without",
    "q=invoice",
    "q=100%25",
    "q=under_",
    "q=back%5Cslash",
    "q=ärger",
    "q=STRASSE",
    "q=straße",
    "q=%3Cscript",
    "prop.plan=pro",
    "prop.plan=Pro",
    "prop.seats=5",
    "prop.seats=5.0",
    "prop.beta=true",
    "prop.beta=1",
    "prop.0=zero",
    "prop.n=None",
    "prop.nested=%7B%22a%22%3A+1%7D",
    "prop.x+y=spaced",
    "prop.a.b=dotted",
    "prop.plan=pro&prop.seats=5",
    "prop.note=say+%22hi%22+%C3%BC",
    "prop.plan=%5B%22pro%22%5D",
    "prop.missing=x",
    "tag=Billing",
    "tag=a,b&tag=%3Cb%3Ebold%3C/b%3E",
    "status=closed",
    "status=open&lang=de",
    "lang=en&lang=de",
    "assignee=none",
    "category=detractor&comment=with&from=2026-03-27&q=invoice&status=open",
]


def _orm_ids(org, flt) -> list[int]:
    return list(
        compile_filter(org, flt).order_by("-created_at", "-id").values_list("pk", flat=True)
    )


def _all_pages(org, flt, size: int) -> list:
    items, cursor = [], None
    for _ in range(100):
        page = inbox_page(org, flt, cursor=cursor, size=size)
        items += page.items
        cursor = page.next_cursor
        if not cursor:
            return items
    raise AssertionError("the cursor never ended")


@pytest.mark.parametrize("query", QUERIES)
def test_same_rows_and_order_as_the_orm_on_every_page(orgs, query):
    member, rows = orgs
    org = member.organization
    flt = parse(query)
    assert not flt.errors
    expected = _orm_ids(org, flt)
    for size in (1, 4, 50):
        assert [item.pk for item in _all_pages(org, flt, size)] == expected, size


def test_the_matrix_is_not_trivial(orgs):
    """Most filters keep some rows and drop some, so the comparison above can fail (some
    match nothing on one database only: SQLite's LIKE folds ASCII only, JSON differs)."""
    member, rows = orgs
    counts = [len(_orm_ids(member.organization, parse(q))) for q in QUERIES]
    assert sum(0 < n < len(rows) for n in counts) >= 27
    assert len(set(counts)) > 10


def test_assignee_filter_matches_the_orm(orgs):
    member, rows = orgs
    flt = parse(f"assignee={member.user.pk}")
    ids = [item.pk for item in _all_pages(member.organization, flt, 3)]
    assert ids == _orm_ids(member.organization, flt)
    assert ids and all(Response.objects.get(pk=pk).assignee_id == member.user.pk for pk in ids)


def test_items_show_what_the_models_hold(orgs):
    member, rows = orgs
    items = _all_pages(member.organization, parse(""), 50)
    assert len(items) == len(rows)
    for item in items:
        r = Response.objects.select_related("contact", "survey", "assignee").get(pk=item.pk)
        assert (item.score, item.comment, item.language, item.status) == (
            r.score,
            r.comment,
            r.language,
            r.status,
        )
        assert item.created_at == r.created_at and item.created_at.tzinfo is not None
        assert item.category == r.category
        assert item.survey_name == r.survey.name
        assert item.contact_id == r.contact_id
        if r.contact:
            assert (item.contact_name, item.contact_email) == (r.contact.full_name, r.contact.email)
        assert item.assignee_id == r.assignee_id
        assert item.assignee_email == (r.assignee.email if r.assignee else None)
        assert list(item.tags) == [t.name for t in r.tags.all()]


def test_other_organizations_rows_never_show(orgs, org_b):
    member, rows = orgs
    ours = {r.pk for r in rows}
    theirs = set(
        Response.objects.filter(organization=org_b.organization).values_list("pk", flat=True)
    )
    assert theirs and not ours & theirs
    for query in QUERIES:
        flt = parse(query)
        assert {i.pk for i in _all_pages(member.organization, flt, 50)} <= ours
        assert {i.pk for i in _all_pages(org_b.organization, flt, 50)} <= theirs


def test_a_cursor_from_another_filter_or_page_size_still_pages_correctly(orgs):
    member, rows = orgs
    org, flt = member.organization, parse("")
    expected = _orm_ids(org, flt)
    for pk in expected[::5]:
        r = Response.objects.get(pk=pk)
        after = inbox_page(org, flt, cursor=encode(r.created_at, r.pk), size=50).items
        assert [i.pk for i in after] == expected[expected.index(pk) + 1 :]


def test_one_query_per_page(orgs, django_assert_num_queries):
    member, rows = orgs
    flt = parse("tag=Billing&comment=with")
    with django_assert_num_queries(1):
        page = inbox_page(member.organization, flt, cursor=None, size=3)
    with django_assert_num_queries(1):
        inbox_page(member.organization, flt, cursor=page.next_cursor, size=3)
    assert decode(page.next_cursor)[1] == page.items[-1].pk


def test_inbox_escapes_names_tags_and_comments(member_client, orgs):
    html = member_client.get(reverse("inbox")).content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    assert "&lt;i&gt;Bo&lt;/i&gt;" in html and "<i>Bo</i>" not in html
    assert "Other &amp; &lt;Survey&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "a,b" in html and "c1-0@example.com" not in html  # Lee has a name to show
    assert "Lee" in html and "anonymous" in html


def test_every_combination_of_two_filters_matches_the_orm(orgs):
    member, rows = orgs
    org = member.organization
    singles = ["category=detractor", "from=2026-03-28", "comment=with", "q=invoice"]
    singles += ["prop.plan=pro", "tag=bug", "status=open", "lang=de", "assignee=none"]
    for a, b in itertools.combinations(singles, 2):
        flt = parse(f"{a}&{b}")
        assert [i.pk for i in _all_pages(org, flt, 7)] == _orm_ids(org, flt), (a, b)


def test_postgresql_gets_the_search_statistics_and_the_properties_index():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has neither")
    with connection.cursor() as cur:
        cur.execute(
            "SELECT stxname FROM pg_statistic_ext WHERE stxname = %s",
            ["responses_response_upper_comment"],
        )
        assert cur.fetchone()
        cur.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", ["contacts_properties_gin"]
        )
        assert "jsonb_path_ops" in cur.fetchone()[0]
