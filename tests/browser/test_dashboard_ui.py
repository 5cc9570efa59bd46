"""The dashboard through a real browser, with the demo data: key figures, SVG charts with
their tables, breakdown tabs, saved filters, CSV download, the digest toggle; light and
dark mode; no console errors and no CSP violations."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from npsloop.accounts.models import Membership
from npsloop.demo import load_demo
from npsloop.responses.models import SavedFilter

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "demo@example.com"
PASSWORD = "demo-password-1"


def _login(page, live_server) -> None:
    page.goto(live_server.url + "/login/")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(live_server.url + "/dashboard/")


def test_the_dashboard_with_demo_data(live_server, browser, watch, screenshot):
    load_demo(email=EMAIL, password=PASSWORD, contacts=200)
    membership = Membership.objects.get(user__email=EMAIL)
    SavedFilter.objects.create(
        organization=membership.organization, name="Detractors", query="category=detractor"
    )
    page = watch.new_context(browser, viewport={"width": 1280, "height": 900}).new_page()
    _login(page, live_server)

    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    expect(page.locator("#nps")).to_have_text(re.compile(r"^[−-]?\d+$"))
    assert int(page.locator("#responses").inner_text()) > 0
    expect(page.locator("#nps-ci")).to_contain_text("95 % confidence")

    # Each chart is an image with a name, drawn by the server, and has its table.
    for chart in ("trend-chart", "distribution-chart", "breakdown-chart"):
        svg = page.locator(f"svg#{chart}")
        expect(svg).to_have_attribute("role", "img")
        expect(svg.locator("title").first).not_to_be_empty()
    expect(page.get_by_role("img", name="Responses per score, 0 to 10")).to_be_visible()
    assert page.locator("#trend-chart .chart-dot").count() > 3
    expect(page.locator("#distribution-chart rect.chart-bar")).to_have_count(11)
    expect(page.locator("#distribution-table")).to_be_hidden()
    page.locator("#distribution summary").click()
    expect(page.locator("#distribution-table tbody tr")).to_have_count(11)
    # A survey in the breakdown opens its page.
    expect(
        page.locator("#breakdown-table").get_by_role("link", name="Customer NPS")
    ).to_be_visible()
    screenshot(page, "20-dashboard")

    # Break down by a contact property: the tab keeps the filter.
    page.locator("#breakdown").get_by_role("link", name="plan", exact=True).click()
    expect(page.get_by_role("heading", name="NPS by plan")).to_be_visible()
    expect(page.locator("#breakdown-table tbody tr")).to_have_count(3)
    assert "breakdown=prop.plan" in page.url
    page.get_by_label("Period", exact=True).select_option("month")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#trend .tabs a[aria-current]")).to_have_text("Month")
    assert "breakdown=prop.plan" in page.url and "period=month" in page.url

    # A saved filter: only detractors.
    page.get_by_label("Saved filter").select_option(label="Detractors")
    page.get_by_role("button", name="Show").click()
    assert "category=detractor" in page.url and "period=month" in page.url
    expect(page.locator("#shares .promoter strong")).to_have_text("0")

    # The CSV of the breakdown downloads with a proper name.
    with page.expect_download() as download:
        page.locator("#breakdown").get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    assert "breakdown" in download.value.suggested_filename

    # Opt in to the digest.
    page.get_by_label("Email me every Monday").check()
    page.locator("#digest").get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("weekly digest")
    membership.refresh_from_db()
    assert membership.weekly_digest

    # Dark mode: the same page, readable (text colour follows the theme).
    dark = watch.new_context(
        browser, color_scheme="dark", viewport={"width": 1280, "height": 900}
    ).new_page()
    _login(dark, live_server)
    axis = dark.locator("#trend-chart .chart-axis").first
    fill = axis.evaluate("e => getComputedStyle(e).fill")
    body = dark.evaluate("getComputedStyle(document.body).backgroundColor")
    assert fill != body
    screenshot(dark, "21-dashboard-dark")
    watch.assert_clean()
