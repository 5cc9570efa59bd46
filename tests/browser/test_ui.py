"""The product through a real browser: Debian's Chromium, the live server, the outbox."""

from __future__ import annotations

import re

import pytest
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import expect

from npsloop.accounts.models import Organization
from npsloop.contacts.models import Contact
from npsloop.invitations.models import Invitation
from npsloop.invitations.services import schedule_invitation
from npsloop.mail.models import OutboundEmail
from npsloop.mail.selectors import body_of
from npsloop.responses.models import Response
from npsloop.surveys.models import Survey
from tests.conftest import PASSWORD, rating_links

PHONE = {"width": 390, "height": 844}

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _invite(survey, contact, django_capture_on_commit_callbacks) -> Invitation:
    with django_capture_on_commit_callbacks(execute=True):
        return schedule_invitation(survey=survey, contact=contact, source="manual")


def _email_html(invitation: Invitation) -> str:
    record = OutboundEmail.objects.get(ref=f"invitation:{invitation.pk}")
    assert record.status == OutboundEmail.Status.OUTBOX
    return body_of(record, "html")


def _unsubscribe_link(html: str) -> str:
    return re.search(r'href="([^"]+/u/[^"]+/)"', html).group(1)


def _send(page, button) -> None:
    """Press the rating page's Send button; the POST must redirect to the thank-you page."""
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        button.click()
    sent = posted.value
    assert sent.status == 302, (
        f"Send was refused with {sent.status} "
        f"(the POST carried Origin: {sent.request.header_value('origin')})"
    )


def _nav(page, name: str):
    return page.get_by_role("navigation").get_by_role("link", name=name, exact=True)


def test_the_whole_loop_through_the_ui(
    live_server, settings, outbox_mode, person_browser, watch, screenshot
):
    settings.BASE_URL = live_server.url
    page = watch.new_context(person_browser).new_page()
    assert page.evaluate("navigator.webdriver") is False

    # Sign up: the new organization lands on the survey form.
    page.goto(live_server.url + "/signup/")
    page.get_by_label("Company or team").fill("Acme Browser")
    page.get_by_label("Email").fill("owner@acme-browser.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(live_server.url + "/surveys/new/")
    expect(page.get_by_role("heading", name="New survey")).to_be_visible()
    organization = Organization.objects.get(name="Acme Browser")

    # Save the survey with its defaults: the survey page shows the key once.
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#survey-key")).to_have_text(re.compile(r"^npl_svy_"))
    survey = Survey.objects.get(organization=organization)
    assert (survey.name, survey.company_name, survey.status) == (
        "NPS survey",
        "Acme Browser",
        "active",
    )
    assert sorted(survey.texts.values_list("language", flat=True)) == ["de", "en"]

    # Add a contact.
    _nav(page, "Contacts").click()
    page.get_by_role("link", name="Add contact").click()
    form = page.locator("main")
    form.get_by_label("Email").fill("grace@example.com")
    form.get_by_label("First name").fill("Grace")
    form.get_by_label("Language").select_option(label="English")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Grace", exact=True)).to_be_visible()
    contact = Contact.objects.get(organization=organization)
    assert (contact.email, contact.first_name, contact.language) == (
        "grace@example.com",
        "Grace",
        "en",
    )
    expect(page).to_have_url(f"{live_server.url}/contacts/{contact.pk}/")

    # Invite her now (no send time): the email lands in the outbox at once.
    main = page.locator("main")
    main.get_by_label("Survey").select_option(label="NPS survey")
    main.get_by_role("button", name="Invite").click()
    expect(page.get_by_role("status")).to_contain_text("The invitation is scheduled.")
    expect(main.locator(".badge", has_text="Sent")).to_be_visible()
    invitation = Invitation.objects.get(contact=contact)
    assert (invitation.state, invitation.language) == (Invitation.State.SENT, "en")
    record = OutboundEmail.objects.get(ref=f"invitation:{invitation.pk}")
    assert (record.status, record.to) == (OutboundEmail.Status.OUTBOX, "grace@example.com")

    # The outbox shows the email as the customer would see it.
    _nav(page, "Outbox").click()
    page.get_by_role("link", name="A quick question about Acme Browser").click()
    expect(page.get_by_role("heading", name="A quick question about Acme Browser")).to_be_visible()
    email = page.frame_locator("iframe.email")
    expect(email.get_by_text("Hi Grace,")).to_be_visible()
    expect(email.get_by_text("How likely are you to recommend Acme Browser")).to_be_visible()
    screenshot(page, "03-email-in-outbox")

    # Click 9 in the email: the rating page opens in a new, unsandboxed page.
    with page.expect_popup() as opened:
        email.get_by_role("link", name="9", exact=True).click()
    rating = opened.value
    rating.wait_for_load_state()
    assert rating.url.startswith(live_server.url + "/r/")
    expect(rating.locator("input[name=score][value='9']")).to_be_checked()

    # A person sees the page: its script records the score before any comment.
    expect(rating.get_by_role("status")).to_contain_text("Your rating is saved")
    response = Response.objects.get()
    assert (response.score, response.comment, response.invitation_id) == (9, "", invitation.pk)
    rating.set_viewport_size(PHONE)
    screenshot(rating, "02-rating-page-phone")

    # Then the comment.
    rating.get_by_label("What is the most important reason for your score?").fill(
        "Fast support, <b>thanks</b>!"
    )
    _send(rating, rating.get_by_role("button", name="Send"))
    expect(rating.get_by_role("heading", name="Thank you for your feedback!")).to_be_visible()
    response.refresh_from_db()
    assert (response.score, response.comment, response.language) == (
        9,
        "Fast support, <b>thanks</b>!",
        "en",
    )
    assert Response.objects.count() == 1
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.RESPONDED
    rating.close()

    # Back in the dashboard: NPS 100 and the comment, escaped.
    _nav(page, "Dashboard").click()
    expect(page.locator("#nps")).to_have_text("100")
    expect(page.locator("#responses")).to_have_text("1")
    screenshot(page, "01-dashboard-with-data")
    page.get_by_role("link", name="NPS survey").click()
    expect(page.get_by_role("heading", name="NPS survey")).to_be_visible()
    expect(page.locator("#nps")).to_have_text("100")
    latest = page.locator("#latest")
    expect(latest).to_contain_text("Fast support, <b>thanks</b>!")
    expect(latest.locator("b")).to_have_count(0)
    expect(latest.get_by_role("link", name="Grace")).to_be_visible()

    watch.assert_clean()


def test_a_link_scanner_records_nothing_and_unsubscribes_nobody(
    live_server,
    settings,
    outbox_mode,
    survey,
    contact,
    browser,
    watch,
    django_capture_on_commit_callbacks,
):
    settings.BASE_URL = live_server.url
    invitation = _invite(survey, contact, django_capture_on_commit_callbacks)
    html = _email_html(invitation)
    links = rating_links(html)
    assert sorted(links) == list(range(11))
    assert all(url.startswith(live_server.url + "/r/") for url in links.values())

    scanner = watch.new_context(browser)
    posts = []
    scanner.on("request", lambda r: posts.append(r.url) if r.method != "GET" else None)
    page = scanner.new_page()
    assert page.evaluate("navigator.webdriver") is True

    for score, url in links.items():
        response = page.goto(url)
        assert response.status == 200, (score, response.status)
        assert response.headers["x-robots-tag"].startswith("noindex")
        expect(page.locator(f"input[name=score][value='{score}']")).to_be_checked()
        expect(page.locator("#rate-status")).to_be_empty()

    response = page.goto(_unsubscribe_link(html))
    assert response.status == 200
    with translation.override(invitation.language):
        unsubscribe = gettext("Unsubscribe")
    expect(page.get_by_role("heading", name=unsubscribe)).to_be_visible()
    expect(page.get_by_role("button", name=unsubscribe)).to_be_visible()
    page.wait_for_load_state("networkidle")

    assert posts == []
    assert not Response.objects.exists()
    contact.refresh_from_db()
    assert contact.unsubscribed_at is None
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.SENT
    watch.assert_clean()


def test_rating_without_javascript_on_a_phone(
    live_server,
    settings,
    outbox_mode,
    survey,
    contact,
    browser,
    watch,
    django_capture_on_commit_callbacks,
):
    settings.BASE_URL = live_server.url
    invitation = _invite(survey, contact, django_capture_on_commit_callbacks)
    links = rating_links(_email_html(invitation))

    page = watch.new_context(browser, java_script_enabled=False, viewport=PHONE).new_page()
    page.goto(links[3])
    score_3 = page.locator("input[name=score][value='3']")
    score_4 = page.locator("input[name=score][value='4']")
    expect(score_3).to_be_checked()
    # The contact reads German; the page says so and tells to press "Send".
    expect(page.locator(".survey-card")).to_have_attribute("lang", "de")
    expect(page.get_by_text("Wie wahrscheinlich ist es")).to_be_visible()
    # (Chromium with scripts disabled by Playwright still hides <noscript>, so the
    # "press Send" hint is checked in the markup only.)
    with translation.override("de"):
        press_send = gettext("Press “Send” to save your rating.")
    expect(page.locator("noscript")).to_have_count(1)
    assert press_send in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert not Response.objects.exists()  # without JavaScript only "Send" records

    page.locator("label:has(input[name=score][value='4'])").click()
    expect(score_4).to_be_checked()
    expect(score_3).not_to_be_checked()
    page.get_by_label("Was ist der wichtigste Grund für Ihre Bewertung?").fill(
        "Gut, aber die App ist langsam."
    )
    _send(page, page.locator("#rate-form button[type=submit]"))
    expect(page.get_by_role("heading", name="Vielen Dank für Ihr Feedback!")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    response = Response.objects.get()
    assert (response.score, response.comment, response.language) == (
        4,
        "Gut, aber die App ist langsam.",
        "de",
    )
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.RESPONDED
    watch.assert_clean()


def test_the_dashboard_in_german(live_server, org_a, browser, watch):
    page = watch.new_context(browser).new_page()
    page.goto(live_server.url + "/login/")
    page.get_by_label("Email").fill(org_a.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(live_server.url + "/dashboard/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(_nav(page, "Dashboard")).to_be_visible()

    footer = page.locator("footer")
    footer.get_by_label("Language").select_option("de")
    footer.get_by_role("button").click()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page).to_have_url(live_server.url + "/dashboard/")

    with translation.override("de"):
        german = {word: gettext(word) for word in ("Dashboard", "Surveys", "Contacts")}
    for english, word in german.items():
        if word != english:  # only words the German catalogue translates
            expect(_nav(page, word)).to_be_visible()

    # The choice sticks: the next page is German too.
    _nav(page, german["Surveys"]).click()
    expect(page).to_have_url(live_server.url + "/surveys/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("footer select[name=language]")).to_have_value("de")
    watch.assert_clean()
