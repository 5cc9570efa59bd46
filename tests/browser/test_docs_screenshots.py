"""The screenshots in docs/, taken by the browser and checked against what the docs say.

The Segment set-up of docs/segment.md, done through the UI; then the first scenario of
"The three scenarios, worked through" sent with Segment's own Python library, and the
decisions it leads to, on the Segment tab and on a contact's page. And the demo of
docs/getting-started.md: its dashboard and its inbox filtered to detractors with a comment.

Every run takes the screenshots; they are written to docs/images/ only with
NPSLOOP_DOC_SCREENSHOTS=1 (`make docs-screenshots`), else to test-artifacts/docs-images/
(git-ignored), so an ordinary run never rewrites committed files. For pictures that
stay the same from run to run, the clock starts at the scenario's dates, the names
and the survey key are fixed, and the server's address is the docs' example.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from segment.analytics import Client

from npsloop.accounts.services import create_organization
from npsloop.contacts.models import Contact
from npsloop.demo import load_demo
from npsloop.invitations.models import Decision, Invitation
from npsloop.surveys.models import Survey
from npsloop.surveys.services import create_survey
from npsloop.web.secrets import digest_of
from tests.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
WRITE_DOCS = os.environ.get("NPSLOOP_DOC_SCREENSHOTS") == "1"
# Narrower than a laptop, so the pictures read well at the width of a rendered Markdown page.
VIEWPORT = {"width": 1024, "height": 768}
# The dashboard and the inbox need the room of a laptop screen.
WIDE_VIEWPORT = {"width": 1280, "height": 800}
BASE_URL = "https://nps.example.com"  # the example address the docs use
EMAIL = "maria@acme.example"
PASSWORD = "documentation-pictures-1"
# A fixed survey key, so the shown prefix is the same in every picture (a test database only).
SURVEY_KEY = "npl_svy_d0c5d0c5d0c5_documentationOnlyNotASecretKeyForPictures0"
UTC = dt.UTC


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=UTC)


class Clock:
    """timezone.now() for the server and the test: set to a moment, it runs on from there."""

    def __init__(self, start: dt.datetime) -> None:
        self.set(start)

    def set(self, moment: dt.datetime) -> None:
        self._start, self._t0 = moment, time.monotonic()

    def __call__(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=time.monotonic() - self._t0)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    # Django and npsloop read the time as timezone.now() (auto_now_add too); the live
    # server runs in a thread of this process, so it sees the same clock.
    clock = Clock(at(2, 9))
    monkeypatch.setattr(timezone, "now", clock)
    return clock


@pytest.fixture
def doc_image():
    """Saves a picture of the page around the given elements as <name>.png."""
    target = DOCS_IMAGES if WRITE_DOCS else ARTIFACTS / "docs-images"
    target.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str, *selectors: str, margin: int = 8) -> Path:
        """The box spans the first element of each selector, plus the margin."""
        for selector in selectors:
            expect(page.locator(selector).first).to_be_visible()
        box = page.evaluate(
            """([selectors, margin]) => {
                const rects = selectors.map(s => document.querySelector(s).getBoundingClientRect());
                const left = Math.min(...rects.map(r => r.left)) + scrollX - margin;
                const top = Math.min(...rects.map(r => r.top)) + scrollY - margin;
                const right = Math.max(...rects.map(r => r.right)) + scrollX + margin;
                const bottom = Math.max(...rects.map(r => r.bottom)) + scrollY + margin;
                return {x: Math.max(left, 0), y: Math.max(top, 0),
                        width: right - Math.max(left, 0), height: bottom - Math.max(top, 0)};
            }""",
            [list(selectors), margin],
        )
        path = target / f"{name}.png"
        page.screenshot(
            path=str(path), clip=box, full_page=True, animations="disabled", caret="hide"
        )
        return path

    return take


def _rows(page: Page, table: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in row]
        for row in page.locator(f"{table} tbody tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.innerText))"
        )
    ]


def test_segment_set_up_and_the_first_scenario(
    live_server, settings, outbox_mode, clock, browser, watch, doc_image
):
    settings.BASE_URL = BASE_URL
    org = create_organization(name="Acme Cloud", email=EMAIL, password=PASSWORD).organization
    survey, _random_key = create_survey(organization=org, name="Customer NPS")
    Survey.objects.filter(pk=survey.pk).update(
        api_key_prefix="d0c5d0c5d0c5", api_key_digest=digest_of(SURVEY_KEY)
    )
    page = watch.new_context(browser, viewport=VIEWPORT, color_scheme="light").new_page()
    page.goto(live_server.url + "/login/")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(live_server.url + "/dashboard/")

    # In npsloop, step 1: the survey's Segment tab.
    page.get_by_role("navigation").get_by_role("link", name="Surveys", exact=True).click()
    page.get_by_role("link", name="Customer NPS").first.click()
    page.get_by_role("link", name="Segment", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/surveys/{survey.pk}/segment/")
    expect(page.locator("h1")).to_contain_text("Automation off")
    connection = page.locator("#connection")
    expect(connection.locator("#api-host")).to_have_text(f"{BASE_URL}/segment")
    expect(connection.locator("#webhook-url")).to_have_text(f"{BASE_URL}/segment/webhook")
    expect(connection.locator("#survey-key")).to_have_text("npl_svy_d0c5d0c5d0c5_…")
    expect(connection.get_by_role("button", name="Create a new key")).to_be_visible()
    doc_image(page, "segment-connection", "h1", "#connection")

    # Steps 2 and 3: the delays of the first scenario, automation on, Save.
    form = page.locator("#settings")
    form.get_by_label("minimum delay (days)").fill("3")
    form.get_by_label("maximum delay (days)").fill("14")
    form.get_by_label("minimum interval (weeks)").fill("26")
    form.get_by_label("survey contacts from Segment automatically").check()
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Segment settings saved.")
    expect(page.locator("h1")).to_contain_text("Automation on")
    survey.refresh_from_db()
    assert survey.segment_enabled
    assert (survey.min_delay_days, survey.max_delay_days, survey.min_interval_weeks) == (3, 14, 26)
    delays = page.locator("#delays")
    expect(delays).to_contain_text(
        "A customer is surveyed 3 days after their creation (the createdAt trait), "
        "or at once if that moment has passed."
    )
    expect(delays).to_contain_text(
        "Customers created more than 14 days before the identify call are not surveyed."
    )
    expect(delays).to_contain_text("A customer surveyed within the last 26 weeks is skipped.")
    expect(delays.locator(".scenarios > li").first.locator(".badge")).to_have_text("your settings")
    doc_image(page, "segment-settings", "#settings")
    doc_image(page, "segment-send-delays", "#delays")

    # Segment's side, played by its official library: scenario 1 of docs/segment.md.
    errors: list[Exception] = []
    segment = Client(
        write_key=SURVEY_KEY,
        host=live_server.url + "/segment",
        sync_mode=True,
        on_error=lambda error, _batch: errors.append(error),
        max_retries=0,
    )

    def identify(user_id: str, when: dt.datetime, **traits: str) -> None:
        clock.set(when)
        segment.identify(user_id, traits, timestamp=when)

    identify(
        "user-1001",
        at(2, 9, 5),
        email="anna.schmidt@example.com",
        firstName="Anna",
        lastName="Schmidt",
        createdAt="2026-03-02T09:00:00Z",
        plan="pro",
    )
    identify(
        "user-0874",
        at(2, 10),
        email="ben.okafor@example.com",
        firstName="Ben",
        lastName="Okafor",
        createdAt="2026-02-10T12:00:00Z",
        plan="team",
    )
    identify(
        "user-0990",
        at(2, 10, 1),
        email="dora.silva@example.com",
        firstName="Dora",
        lastName="Silva",
        createdAt="2026-02-20T09:00:00Z",
        plan="pro",
    )
    identify(
        "user-1002",
        at(2, 10, 2),
        email="carla.jensen@example.com",
        firstName="Carla",
        lastName="Jensen",
        plan="starter",
    )
    clock.set(at(3, 14, 20))
    segment.track("user-1001", "Report exported", timestamp=at(3, 14, 20))
    identify("user-1001", at(4, 8), email="anna.schmidt@example.com", plan="pro")
    assert errors == []

    # What the docs' table says: scheduled for 03-05 09:00, too old, at once, 03-05 10:02
    # (Carla counts as created when her call is processed), and Anna's second call skipped.
    anna, ben, dora, carla = (
        Contact.objects.get(external_id=u)
        for u in ("user-1001", "user-0874", "user-0990", "user-1002")
    )
    assert Invitation.objects.get(contact=anna).send_at == at(5, 9)
    assert not Invitation.objects.filter(contact=ben).exists()
    assert Invitation.objects.get(contact=dora).state == Invitation.State.SENT
    carla_at = Invitation.objects.get(contact=carla).send_at
    assert at(5, 10, 2) <= carla_at < at(5, 10, 3)
    annas = Decision.objects.filter(contact=anna).order_by("created_at")
    assert list(annas.values_list("reason", flat=True)) == ["scheduled", "already_scheduled"]
    assert Decision.objects.get(contact=ben).reason == "too_old"

    page.reload()
    counts = {row[0]: row[1:] for row in _rows(page, "#decisions")}
    assert counts["Survey scheduled"] == ["3", "3"]
    assert counts["Created longer ago than the maximum delay"] == ["1", "1"]
    assert counts["A survey is already scheduled"] == ["1", "1"]
    assert sum(int(recent) for recent, _total in counts.values()) == 5
    doc_image(page, "segment-decisions", "#decisions")

    events = _rows(page, "#events")
    assert [(e[1], e[2], e[5]) for e in events] == [
        ("identify", "user-1001", "A survey is already scheduled"),
        ("track", "user-1001", "—"),
        ("identify", "user-1002", "Survey scheduled"),
        ("identify", "user-0990", "Survey scheduled"),
        ("identify", "user-0874", "Created longer ago than the maximum delay"),
        ("identify", "user-1001", "Survey scheduled"),
    ]
    assert {e[4] for e in events} == {"processed"}
    assert events[-1][0] == "03/02/2026 9:05 a.m."
    doc_image(page, "segment-events", "#events")

    # The contact's page: its decisions and its Segment calls.
    page.locator("#events").get_by_role("link", name="user-1001").first.click()
    expect(page.get_by_role("heading", name="Anna Schmidt")).to_be_visible()
    decisions = _rows(page, "#decisions")
    assert [(d[2], d[3], d[4]) for d in decisions] == [
        ("Skipped", "A survey is already scheduled", "Segment"),
        ("Scheduled", "Survey scheduled", "Segment"),
    ]
    timeline = _rows(page, "#timeline")
    assert [(t[1], t[2]) for t in timeline] == [
        ("identify", "—"),
        ("track", "Report exported"),
        ("identify", "—"),
    ]
    profile = page.locator("main > .card").first
    for term, value in (
        ("Customer since", "03/02/2026 9 a.m."),  # createdAt
        ("Last seen", "03/03/2026 2:20 p.m."),  # the track call
        ("Segment userId", "user-1001"),
    ):
        expect(profile.locator(f"dt:text-is('{term}') + dd")).to_have_text(value)
    invitations = page.locator("main > .card").nth(2)
    expect(invitations.locator("h3")).to_have_text("Customer NPS · Scheduled")
    expect(invitations).to_contain_text("scheduled: 2026-03-05T09:00:00+00:00")
    doc_image(page, "contact-profile", "main > h1", "main > .card")
    doc_image(page, "contact-decisions", "main > .card:nth-of-type(3)", "#timeline")
    watch.assert_clean()


def test_the_demo_dashboard_and_a_filtered_inbox(
    live_server, settings, clock, browser, watch, doc_image
):
    # The demo of docs/getting-started.md, step 3, as `make demo` loads it.
    clock.set(at(4, 8))
    settings.BASE_URL = BASE_URL
    summary = load_demo(email="demo@example.com", password="demo-password")
    for line in (
        "400 contacts (10 unsubscribed, 5 bounced)",
        "351 invitations (8 scheduled)",
        "210 responses (103 with a comment), NPS +26",
    ):
        assert line in summary
    page = watch.new_context(browser, viewport=WIDE_VIEWPORT, color_scheme="light").new_page()
    page.goto(live_server.url + "/login/")
    page.get_by_label("Email").fill("demo@example.com")
    page.get_by_label("Password").fill("demo-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(live_server.url + "/dashboard/")

    # What the picture's alt text in docs/getting-started.md names.
    expect(page.locator("#range")).to_contain_text("the last 90 days")
    expect(page.locator("#nps")).to_have_text(re.compile(r"^[−-]?\d+$"))
    expect(page.locator("#nps-ci")).to_contain_text("95 % confidence")
    expect(page.locator("#nps-delta")).to_contain_text("vs the 90 days before")
    assert int(page.locator("#responses").inner_text()) > 0
    expect(page.locator("#response-rate")).to_have_text(re.compile(r"^\d+ %$"))
    expect(page.locator("#shares li")).to_have_count(3)
    expect(page.locator("#unsubscribes")).to_have_text(re.compile(r"^\d+$"))
    expect(page.locator("#trend .tabs a[aria-current]")).to_have_text("Week")
    assert page.locator("#trend-chart .chart-dot").count() > 3
    doc_image(page, "dashboard", "header.topbar", "#trend", margin=0)

    # The inbox, filtered to detractors with a comment.
    page.get_by_role("navigation").get_by_role("link", name="Inbox", exact=True).click()
    form = page.locator("#filter-form")
    form.get_by_label("Detractors").check()
    form.locator("#f-comment").select_option(label="With a comment")
    form.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"/inbox/\?.*category=detractor.*comment=with"))
    listed = page.locator("#responses li.response")
    expect(listed.first).to_be_visible()
    scores = [int(s) for s in listed.locator("a.score").all_inner_texts()]
    assert scores and all(0 <= s <= 6 for s in scores)
    expect(listed.locator(".comment")).to_have_count(len(scores))
    for button in ("Forward all filtered", "Share link"):
        expect(page.get_by_role("link", name=button, exact=True)).to_be_visible()
    doc_image(
        page, "inbox-filtered", "main h1", ".inbox-filters", "#responses li.response:nth-child(8)"
    )
    watch.assert_clean()


def test_every_picture_in_docs_images_is_shown_and_taken_here():
    """A renamed or dropped picture must not leave a broken link or a stale file behind."""
    docs = DOCS_IMAGES.parent
    shown = {
        name
        for page in docs.glob("*.md")
        for name in re.findall(r"\]\(images/([^)\s]+)\)", page.read_text(encoding="utf-8"))
    }
    present = {path.name for path in DOCS_IMAGES.iterdir()}
    assert shown == present
    source = Path(__file__).read_text(encoding="utf-8")
    assert all(f'"{name.removesuffix(".png")}"' in source for name in present)
