"""The dashboard page, the survey page, the CSV export and the SVG charts."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from npsloop.contacts.models import Contact
from npsloop.insights import charts
from npsloop.insights.exports import safe_cell
from npsloop.responses.models import Response, SavedFilter
from npsloop.surveys.services import create_survey


def _respond(survey, score, *, days_ago=0, comment="", contact=None, language="en"):
    return Response.objects.create(
        organization=survey.organization,
        survey=survey,
        contact=contact,
        score=score,
        comment=comment,
        language=language,
        created_at=timezone.now() - dt.timedelta(days=days_ago, minutes=5),
    )


def _rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.fixture
def data(org_a, survey):
    org = org_a.organization
    pro = Contact.objects.create(organization=org, email="p@x.test", properties={"plan": "pro"})
    for score in (10, 10, 9, 7, 3):
        _respond(survey, score, days_ago=3, contact=pro, comment=f"comment {score}")
    _respond(survey, 0, days_ago=120, comment="long ago")  # outside the last 90 days
    return survey


def test_the_dashboard_shows_the_last_90_days_by_week(member_client, data):
    page = member_client.get(reverse("dashboard"))
    assert page.status_code == 200
    html = page.content.decode()
    # 3 promoters, 1 passive, 1 detractor of 5 → 40; the 0 from 120 days ago is left out.
    assert re.search(r'id="nps">40<', html)
    assert re.search(r'id="responses">5<', html)
    assert "the last 90 days" in html
    trend = page.context["trend"]
    assert trend.period == "week" and trend.rolling == 1
    assert page.context["ranged"].date_to - page.context["ranged"].date_from == dt.timedelta(89)
    assert sum(p.summary.total for p in trend.points) == 5
    # Charts as SVG images with a name, and a table with the same numbers.
    for chart in ("trend-chart", "distribution-chart", "breakdown-chart"):
        assert f'<svg class="chart" id="{chart}" role="img"' in html
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in html
    assert 'id="trend-table"' in html and 'id="distribution-table"' in html
    assert 'id="breakdown-table"' in html
    assert "style=" not in html  # strict CSP: no inline styles
    assert "<script" not in html
    # The survey in the breakdown links to its page; the latest comments are there.
    assert reverse("survey_detail", args=[data.pk]) in html
    assert "comment 3" in html


def test_links_keep_the_filter(member_client, data):
    html = member_client.get(reverse("dashboard") + "?category=promoter&q=comment").content.decode()
    links = re.findall(r'href="(/dashboard/\?[^"]*breakdown=language[^"]*)"', html)
    assert links
    query = parse_qs(urlsplit(links[0].replace("&amp;", "&")).query)
    assert query["category"] == ["promoter"] and query["q"] == ["comment"]
    # The filter the form has no field for stays, as hidden inputs.
    assert '<input type="hidden" name="category" value="promoter">' in html
    inbox = re.search(r'href="(/inbox/\?[^"]*)">Open these responses', html).group(1)
    inbox_query = parse_qs(urlsplit(inbox.replace("&amp;", "&")).query)
    assert inbox_query["category"] == ["promoter"] and "from" in inbox_query


def test_period_rolling_and_breakdown_parameters(member_client, data, org_a):
    url = reverse("dashboard") + "?period=day&rolling=3&breakdown=prop.plan"
    page = member_client.get(url)
    assert page.context["trend"].period == "day" and page.context["trend"].rolling == 3
    assert len(page.context["trend"].points) == 90
    groups = page.context["breakdown"].groups
    assert [(g.label, g.summary.total, g.too_few) for g in groups] == [("pro", 5, True)]
    html = page.content.decode()
    assert "too few to judge" in html and "NPS by plan" in html
    bad = member_client.get(reverse("dashboard") + "?period=decade&breakdown=prop.x%27y")
    assert bad.status_code == 200
    assert "Choose day, week, month or quarter." in bad.content.decode()


def test_a_saved_filter_opens_on_the_dashboard(member_client, data, org_a):
    saved = SavedFilter.objects.create(
        organization=org_a.organization, name="Unhappy", query="category=detractor"
    )
    response = member_client.get(reverse("dashboard") + f"?saved={saved.pk}&period=month")
    assert response.status_code == 302
    assert response.url == reverse("dashboard") + "?category=detractor&period=month"
    page = member_client.get(response.url)
    assert page.context["summary"].total == 1
    assert "Unhappy" in page.content.decode()


def test_another_organizations_data_never_shows(client, data, org_b):
    other_survey, _key = create_survey(organization=org_b.organization, name="Globex NPS")
    _respond(other_survey, 10, days_ago=1, comment="globex only")
    client.force_login(org_b.user)
    page = client.get(reverse("dashboard"))
    html = page.content.decode()
    assert page.context["summary"].total == 1
    assert "comment 10" not in html and "Customer NPS" not in html
    rows = _rows(client.get(reverse("dashboard_export") + "?table=breakdown"))
    assert [r[0] for r in rows[1:]] == ["Globex NPS"]
    saved = SavedFilter.objects.create(
        organization=data.organization, name="Theirs", query="category=detractor"
    )
    response = client.get(reverse("dashboard") + f"?saved={saved.pk}")
    assert response.status_code == 200  # not theirs: ignored, not followed


def test_dashboard_queries_are_bounded(member_client, data, django_assert_max_num_queries):
    for n in range(40):
        _respond(data, n % 11, days_ago=n % 80, comment=f"c{n}")
    with django_assert_max_num_queries(16):
        member_client.get(reverse("dashboard") + "?breakdown=prop.plan&rolling=4")
    with django_assert_max_num_queries(16):
        member_client.get(reverse("dashboard") + "?period=day&breakdown=survey")


def test_the_survey_page_uses_the_same_partials(member_client, data):
    page = member_client.get(reverse("survey_detail", args=[data.pk]) + "?period=month")
    assert page.status_code == 200
    html = page.content.decode()
    assert re.search(r'id="nps">40<', html)
    assert page.context["trend"].period == "month"
    assert page.context["breakdown"].by == "language"
    assert 'id="trend-chart"' in html and 'id="latest"' in html


# --- CSV ------------------------------------------------------------------------------


def test_csv_of_the_distribution_and_trend(member_client, data):
    query = "from=2020-01-01&to=2020-01-31&period=week"
    response = member_client.get(reverse("dashboard_export") + f"?{query}&table=distribution")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="npsloop-acme-distribution-2020-01-01-2020-01-31.csv"'
    )
    rows = _rows(response)
    assert rows[0] == ["score", "category", "responses", "share_percent"]
    assert len(rows) == 12 and all(r[2] == "0" and r[3] == "" for r in rows[1:])

    today = timezone.now().date()
    response = member_client.get(reverse("dashboard_export") + "?table=distribution")
    rows = _rows(response)
    assert [r[2] for r in rows[1:]] == ["0", "0", "0", "1", "0", "0", "0", "1", "0", "1", "2"]
    assert rows[11][3] == "40.0"  # two 10s of five

    response = member_client.get(reverse("dashboard_export") + f"?{query}&table=trend")
    rows = _rows(response)
    assert rows[0][:5] == ["period", "start", "end", "partial", "responses"]
    assert [r[1] for r in rows[1:]] == [
        "2019-12-30",
        "2020-01-06",
        "2020-01-13",
        "2020-01-20",
        "2020-01-27",
    ]
    assert rows[1][3] == "yes" and rows[2][3] == "no"
    assert today  # the default range ends today


def test_csv_of_a_breakdown_with_confidence(member_client, data):
    response = member_client.get(reverse("dashboard_export") + "?table=breakdown")
    rows = _rows(response)
    assert rows[0] == [
        "group",
        "value",
        "responses",
        "promoters",
        "passives",
        "detractors",
        "nps",
        "ci_low",
        "ci_high",
        "too_few_to_judge",
    ]
    # 3 promoters, 1 detractor of 5: p = .6, d = .2, var = (.8 − .16) / 5 = .128,
    # 1.96 · √.128 · 100 = 70.12 → 40 ± 70.12.
    assert rows[1] == [
        "Customer NPS",
        str(data.pk),
        "5",
        "3",
        "1",
        "1",
        "40.0",
        "-30.12",
        "100.0",
        "yes",
    ]


def test_csv_cells_cannot_run_as_formulas(member_client, org_a):
    org = org_a.organization
    evil, _key = create_survey(organization=org, name='=HYPERLINK("http://evil.test","x")')
    for value in ("@SUM(A1)", "+1", "-2", "\tTab"):
        contact = Contact.objects.create(
            organization=org, email=f"{len(value)}{ord(value[0])}@x.test", properties={"v": value}
        )
        _respond(evil, 0, days_ago=1, contact=contact)
    rows = _rows(member_client.get(reverse("dashboard_export") + "?table=breakdown"))
    assert rows[1][0] == '\'=HYPERLINK("http://evil.test","x")'
    assert rows[1][6] == "-100.0"  # a negative NPS is a number, not a formula
    rows = _rows(
        member_client.get(reverse("dashboard_export") + "?table=breakdown&breakdown=prop.v")
    )
    assert {r[0] for r in rows[1:]} == {"'+1", "'-2", "'@SUM(A1)", "'\tTab"}
    assert safe_cell(-12.5) == -12.5 and safe_cell("-12.5") == "'-12.5"
    assert safe_cell(None) == "" and safe_cell(True) == "yes"


def test_csv_needs_a_known_table_and_a_member(member_client, data):
    assert member_client.get(reverse("dashboard_export") + "?table=users").status_code == 400
    assert Client().get(reverse("dashboard_export") + "?table=trend").status_code == 302


# --- Charts ---------------------------------------------------------------------------


def test_charts_escape_text_and_leave_gaps():
    points = [
        charts.TrendPoint(label="<b>1</b>", tooltip="a & b", nps=10.0, low=0.0, high=20.0, count=2),
        charts.TrendPoint(label="2", tooltip="empty", nps=None, count=0),
        charts.TrendPoint(label="3", tooltip="x", nps=30.0, low=20.0, high=40.0, count=1),
        charts.TrendPoint(label="4", tooltip="y", nps=-20.0, low=-40.0, high=0.0, count=1),
    ]
    svg = charts.trend_chart(
        points, chart_id="t", title="<script>", desc='"quoted"', nps_label="NPS", count_label="N"
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "&lt;b&gt;1&lt;/b&gt;" in svg and "a &amp; b" in svg and "&quot;quoted&quot;" in svg
    # A gap: the first point stands alone (a dot), the last two are joined by a line.
    assert svg.count("<polyline") == 1 and svg.count('class="chart-dot"') == 3
    assert svg.count('class="chart-count"') == 3  # no bar for the empty period
    assert "style=" not in svg
    assert charts.nice_range([12.0, 47.0]) == (0, 50, 10)
    assert charts.nice_range([-80.0, 90.0]) == (-100, 100, 50)
    assert charts.nice_range([]) == (-100, 100, 50)


def test_bar_and_breakdown_charts():
    bars = [charts.Bar(label=str(i), value=i, css="promoter") for i in range(3)]
    svg = charts.bar_chart(bars, chart_id="b", title="T", desc="D", width=380)
    assert 'viewBox="0 0 380 196"' in svg and svg.count('class="chart-bar"') == 3
    rows = [
        charts.Row(label="x" * 40, nps=50.0, low=20.0, high=80.0, tooltip="big"),
        charts.Row(label="<few>", nps=-20.0, low=-100.0, high=60.0, tooltip="few", muted=True),
        charts.Row(label="none", nps=None, low=None, high=None, tooltip="-"),
    ]
    svg = charts.breakdown_chart(rows, chart_id="g", title="T", desc="D")
    assert "x" * 21 + "…" in svg and "&lt;few&gt;" in svg
    assert "chart-hbar chart-few down" in svg and "chart-hbar up" in svg
    assert svg.count("<rect") == 2


def test_escaped_comments_on_the_dashboard(member_client, survey):
    _respond(survey, 2, comment="<img src=x onerror=alert(1)>")
    html = member_client.get(reverse("dashboard")).content.decode()
    assert escape("<img src=x onerror=alert(1)>") in html and "<img src=x" not in html
