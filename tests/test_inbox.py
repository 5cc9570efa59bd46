"""The inbox pages: list with filters in the URL, detail, bulk actions, saved filters."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from npsloop.responses.models import Response, ResponseEvent, SavedFilter

pytestmark = pytest.mark.django_db


@pytest.fixture
def responses(org_a, survey, contact):
    now = timezone.now()
    return [
        Response.objects.create(
            organization=org_a.organization,
            survey=survey,
            contact=contact,
            score=score,
            comment=comment,
            language="de",
            created_at=now - dt.timedelta(hours=i),
        )
        for i, (score, comment) in enumerate(
            [(2, "Too slow <script>alert(1)</script>"), (9, "Great"), (7, ""), (10, "Love it")]
        )
    ]


def _listed(page: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'name="ids" value="(\d+)"', page)]


def test_inbox_lists_newest_first_and_filters_by_url(member_client, responses):
    page = member_client.get(reverse("inbox")).content.decode()
    assert _listed(page) == [r.pk for r in responses]
    assert "Too slow &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    detractors = member_client.get(reverse("inbox") + "?category=detractor").content.decode()
    assert _listed(detractors) == [responses[0].pk]
    with_comment = member_client.get(reverse("inbox") + "?comment=with&score_min=8")
    assert _listed(with_comment.content.decode()) == [responses[1].pk, responses[3].pk]


def test_bad_filter_values_are_explained(member_client, responses):
    page = member_client.get(reverse("inbox") + "?score_min=eleven&category=promoter")
    body = page.content.decode()
    assert page.status_code == 200
    assert "eleven is not a number" in body
    assert _listed(body) == [responses[1].pk, responses[3].pk]


def test_cursor_pagination_links(member_client, org_a, survey):
    now = timezone.now()
    Response.objects.bulk_create(
        Response(
            organization=org_a.organization,
            survey=survey,
            score=i % 11,
            created_at=now - dt.timedelta(minutes=i),
        )
        for i in range(330)  # 60 promoters: more than one page of 50
    )
    first = member_client.get(reverse("inbox") + "?category=promoter").content.decode()
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "category=promoter" in next_url and "cursor=" in next_url
    second = member_client.get(next_url).content.decode()
    assert set(_listed(first)).isdisjoint(_listed(second))
    broken = member_client.get(reverse("inbox") + "?cursor=garbage", follow=True)
    assert "broken" in broken.content.decode()
    # Hand-edited cursors with numbers no database holds: the same message, not a 500.
    import base64

    for raw in ["2026-01-01T00:00:00+00:00|99999999999999999999", "0001-01-01T00:00:00+00:00|1"]:
        cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        edited = member_client.get(reverse("inbox") + f"?cursor={cursor}", follow=True)
        assert edited.status_code == 200 and "broken" in edited.content.decode()


def test_inbox_page_queries_do_not_grow_with_rows(
    member_client, org_a, survey, contact, django_assert_max_num_queries
):
    from npsloop.responses.workflow import add_tag

    now = timezone.now()
    Response.objects.bulk_create(
        Response(
            organization=org_a.organization,
            survey=survey,
            contact=contact,
            score=5,
            comment="x",
            created_at=now - dt.timedelta(minutes=i),
        )
        for i in range(60)
    )
    add_tag(responses=Response.objects.all(), name="bulk", actor=org_a.user)
    with django_assert_max_num_queries(14):
        page = member_client.get(reverse("inbox"))
    assert len(_listed(page.content.decode())) == 50


def test_detail_actions_and_timeline(member_client, org_a, responses):
    target = responses[0]
    url = reverse("inbox_act", args=[target.pk])
    member_client.post(url, {"action": "tag", "tag": "  billing   issue "})
    member_client.post(url, {"action": "closed"})
    member_client.post(url, {"action": "assign", "assignee": str(org_a.user.pk)})
    member_client.post(url, {"action": "note", "text": "Call them <b>today</b>"})
    target.refresh_from_db()
    assert [t.name for t in target.tags.all()] == ["billing issue"]
    assert (target.status, target.assignee) == ("closed", org_a.user)
    assert list(ResponseEvent.objects.filter(response=target).values_list("kind", flat=True)) == [
        "tagged",
        "closed",
        "assigned",
    ]
    page = member_client.get(reverse("inbox_detail", args=[target.pk])).content.decode()
    assert "Call them &lt;b&gt;today&lt;/b&gt;" in page
    member_client.post(url, {"action": "untag", "tag": "billing issue"})
    assert not target.tags.exists()
    bad = member_client.post(url, {"action": "tag", "tag": "x" * 51}, follow=True)
    assert "under 50 characters" in bad.content.decode()
    empty = member_client.post(url, {"action": "note", "text": "  "}, follow=True)
    assert "empty" in empty.content.decode()


def test_assigning_someone_outside_the_organization_is_refused(member_client, org_b, responses):
    url = reverse("inbox_act", args=[responses[0].pk])
    page = member_client.post(
        url, {"action": "assign", "assignee": str(org_b.user.pk)}, follow=True
    )
    assert "member of your organization" in page.content.decode()
    responses[0].refresh_from_db()
    assert responses[0].assignee is None


def test_bulk_on_selection_and_on_all_filtered(member_client, responses):
    member_client.post(
        reverse("inbox_bulk"),
        {"action": "tag", "tag": "urgent", "ids": [responses[0].pk, responses[2].pk], "query": ""},
    )
    assert set(Response.objects.filter(tags__name="urgent").values_list("pk", flat=True)) == {
        responses[0].pk,
        responses[2].pk,
    }
    member_client.post(
        reverse("inbox_bulk"), {"action": "closed", "scope": "all", "query": "category=promoter"}
    )
    assert set(Response.objects.filter(status="closed").values_list("pk", flat=True)) == {
        responses[1].pk,
        responses[3].pk,
    }
    none = member_client.post(reverse("inbox_bulk"), {"action": "closed", "query": ""}, follow=True)
    assert "Select responses first" in none.content.decode()


def test_another_organization_cannot_touch_our_responses(client, org_b, responses):
    client.force_login(org_b.user)
    target = responses[0]
    assert client.get(reverse("inbox_detail", args=[target.pk])).status_code == 404
    assert (
        client.post(reverse("inbox_act", args=[target.pk]), {"action": "closed"}).status_code == 404
    )
    client.post(reverse("inbox_bulk"), {"action": "closed", "ids": [target.pk], "query": ""})
    client.post(reverse("inbox_bulk"), {"action": "closed", "scope": "all", "query": ""})
    target.refresh_from_db()
    assert target.status == "open"
    assert _listed(client.get(reverse("inbox")).content.decode()) == []


def test_saved_filters(member_client, org_a, org_b, responses):
    member_client.post(
        reverse("saved_filter_create"),
        {"name": "Angry", "query": "comment=with&category=detractor"},
    )
    saved = SavedFilter.objects.get()
    assert (saved.organization, saved.query) == (
        org_a.organization,
        "category=detractor&comment=with",
    )
    page = member_client.get(reverse("inbox")).content.decode()
    assert "?category=detractor&amp;comment=with" in page and "Angry" in page
    nameless = member_client.post(
        reverse("saved_filter_create"), {"name": " ", "query": ""}, follow=True
    )
    assert "name" in nameless.content.decode()
    from django.test import Client

    other = Client()
    other.force_login(org_b.user)
    other.post(reverse("saved_filter_delete", args=[saved.pk]))
    assert SavedFilter.objects.filter(pk=saved.pk).exists()
    member_client.post(reverse("saved_filter_delete", args=[saved.pk]))
    assert not SavedFilter.objects.exists()


def test_member_pages_show_times_in_the_organizations_zone(member_client, org_a, survey):
    org_a.organization.time_zone = "Europe/Berlin"
    org_a.organization.save()
    Response.objects.create(
        organization=org_a.organization,
        survey=survey,
        score=9,
        created_at=dt.datetime(2026, 1, 1, 23, 30, tzinfo=dt.UTC),
    )
    page = member_client.get(reverse("inbox") + "?from=2026-01-02&to=2026-01-02")
    body = page.content.decode()
    assert len(_listed(body)) == 1
    assert "00:30" in body or "12:30 a.m." in body  # 2 January, 00:30 in Berlin
