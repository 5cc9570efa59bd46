"""The feedback inbox through a real browser: filters in the URL, saved filters, reply and
forward by mailto, share links, bulk actions."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from npsloop.responses.models import Response, ShareLink
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAILTO_LIMIT = 2000
# What forward_all_mailtos puts around a comment split over two emails.
CONTINUED_TAIL = "\n(continued in the next email)"
CONTINUED_HEAD = "(continued)\n"


def _respond(survey, contact, score: int, comment: str = "", *, minutes_ago: int = 0, **extra):
    return Response.objects.create(
        organization=survey.organization,
        survey=survey,
        contact=contact,
        score=score,
        comment=comment,
        language=extra.pop("language", "en"),
        created_at=timezone.now() - dt.timedelta(minutes=minutes_ago),
        **extra,
    )


def _login(page, live_server, org_a) -> None:
    page.goto(live_server.url + "/login/")
    page.get_by_label("Email").fill(org_a.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(live_server.url + "/dashboard/")


def _open_inbox(page) -> None:
    page.get_by_role("navigation").get_by_role("link", name="Inbox", exact=True).click()
    expect(page.get_by_role("heading", name="Inbox", exact=True)).to_be_visible()


def _listed(page):
    return page.locator("#responses li.response")


def _item(page, comment: str):
    return _listed(page).filter(has_text=comment)


def _mailto_parts(href: str) -> tuple[str, dict[str, str]]:
    """Recipient and decoded header fields of a mailto link (RFC 6068: %20, never +)."""
    split = urlsplit(href)
    assert split.scheme == "mailto"
    assert split.fragment == "", f"an unencoded # cut the link: {href[:200]}"
    assert not re.search(r"[\s<>\"]", href), "characters left unencoded in the link"
    assert "+" not in split.query, "a + would read as a space in some email apps"
    fields = {}
    for pair in split.query.split("&"):
        name, _sep, value = pair.partition("=")
        fields[name] = unquote(value, errors="strict")
    # parse_qs reads the same fields (a + would have been a space).
    assert {k: v[0] for k, v in parse_qs(split.query).items()} == fields
    return unquote(split.path), fields


def _body(fields: dict[str, str]) -> str:
    body = fields["body"]
    assert "\n" not in body.replace("\r\n", ""), "line breaks in the body must be CRLF"
    return body.replace("\r\n", "\n")


def test_filter_in_the_url_bookmark_and_save_it(
    live_server, settings, org_a, survey, contact, browser, watch, screenshot
):
    settings.BASE_URL = live_server.url
    _respond(survey, contact, 3, "Slow app, crashes on login", minutes_ago=1)
    _respond(survey, contact, 0, "Support never answered", minutes_ago=2)
    _respond(survey, contact, 5, "", minutes_ago=3)
    _respond(survey, contact, 10, "Love the new dashboard", minutes_ago=4)
    _respond(survey, contact, 7, "Fine, a bit pricey", minutes_ago=5, language="de")
    context = watch.new_context(browser)
    page = context.new_page()
    _login(page, live_server, org_a)

    _open_inbox(page)
    expect(_listed(page)).to_have_count(5)
    screenshot(page, "10-inbox")

    form = page.locator("#filter-form")
    form.get_by_label("Detractors").check()
    form.locator("#f-comment").select_option(label="With a comment")
    form.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"/inbox/\?.*category=detractor"))
    query = parse_qs(urlsplit(page.url).query)
    assert query["category"] == ["detractor"]
    assert query["comment"] == ["with"]

    def shows_the_two_unhappy_comments(p) -> None:
        expect(_listed(p)).to_have_count(2)
        expect(_listed(p).locator(".comment")).to_have_text(
            ["Slow app, crashes on login", "Support never answered"]
        )
        expect(p.locator("#filter-form").get_by_label("Detractors")).to_be_checked()
        expect(p.locator("#f-comment")).to_have_value("with")

    shows_the_two_unhappy_comments(page)

    # Bookmarkable: the same URL in another page gives the same list.
    again = context.new_page()
    again.goto(page.url)
    shows_the_two_unhappy_comments(again)
    again.close()

    # Save it: it appears under Saved filters and opens the same list.
    page.get_by_label("Save this filter as").fill("Unhappy, with words")
    page.get_by_role("button", name="Save filter").click()
    expect(page.get_by_role("status")).to_contain_text("Filter saved.")
    saved = page.locator("ul.saved").get_by_role("link", name="Unhappy, with words")
    expect(saved).to_be_visible()

    page.locator("#filter-form").get_by_role("link", name="Clear").click()
    expect(_listed(page)).to_have_count(5)
    page.locator("ul.saved").get_by_role("link", name="Unhappy, with words").click()
    expect(page).to_have_url(live_server.url + "/inbox/?category=detractor&comment=with")
    shows_the_two_unhappy_comments(page)
    watch.assert_clean()


def test_reply_in_the_email_app_quotes_the_feedback_exactly(
    live_server, settings, org_a, survey, contact, browser, watch
):
    settings.BASE_URL = live_server.url
    comment = (
        "Preis & Leistung? Naja… #1 Problem: 100% Ärger mit Größe/Übergröße.\n"
        "Zweite Zeile: <script>alert('x')</script> a+b=c"
    )
    response = _respond(survey, contact, 4, comment)
    page = watch.new_context(browser).new_page()
    _login(page, live_server, org_a)

    _open_inbox(page)
    _item(page, "Preis & Leistung?").get_by_role("link", name="Open").click()
    expect(page).to_have_url(f"{live_server.url}/inbox/{response.pk}/")
    quoted = page.locator("blockquote.comment")
    expect(quoted).to_contain_text("<script>alert('x')</script>")
    expect(quoted.locator("script")).to_have_count(0)

    page.locator(".reply-actions").get_by_role("link", name="Reply", exact=True).click()
    expect(page.get_by_role("heading", name="Reply to the customer")).to_be_visible()
    mailto = page.locator('a[href^="mailto:"]')
    expect(mailto).to_have_count(1)
    href = mailto.get_attribute("href")
    to, fields = _mailto_parts(href)

    assert to == "anna.schmidt@example.com"
    assert fields["subject"] == "Re: A quick question about Acme"
    body = _body(fields)
    assert body.startswith("Hi Anna,\n")
    assert "Anna Schmidt <anna.schmidt@example.com> wrote:\n" in body
    assert "> Survey: Customer NPS\n> Score: 4 of 10\n>\n" in body
    assert "\n".join("> " + line for line in comment.split("\n")) + "\n" in body
    # Unquoted, the quote is the comment, character for character.
    quote_lines = body.split("> Score: 4 of 10\n>\n", 1)[1].rstrip("\n").split("\n")
    assert "\n".join(line.removeprefix("> ") for line in quote_lines) == comment
    watch.assert_clean()


def test_forward_all_filtered_over_several_emails_nothing_cut(
    live_server, settings, org_a, survey, contact, browser, watch
):
    settings.BASE_URL = live_server.url
    filler = (
        "The export took ages again, the invoice PDF had the wrong VAT & the support "
        "chat closed before anyone answered; we rely on this every Monday morning, so "
        "please fix it soon. Größe: 100% wichtig! "
    )
    comments = []
    for n in range(40):
        text = f"Comment {n:02d} begins. {filler * 2}Comment {n:02d} ends."
        if n == 7:  # longer than one email: goes on in the next one
            text = f"Comment 07 begins. {filler * 12}\nSecond paragraph.\nComment 07 ends."
        assert len(text) >= 300
        comments.append(text)
        _respond(survey, contact, n % 7, text, minutes_ago=n)
    _respond(survey, contact, 10, "A happy promoter, not forwarded", minutes_ago=50)
    page = watch.new_context(browser).new_page()
    _login(page, live_server, org_a)

    page.goto(live_server.url + "/inbox/?category=detractor")
    expect(_listed(page)).to_have_count(40)
    page.get_by_role("link", name="Forward all filtered").click()
    expect(page.get_by_role("heading", name="Forward all filtered feedback")).to_be_visible()
    assert parse_qs(urlsplit(page.url).query) == {"category": ["detractor"]}
    expect(page.locator("#forward-count")).to_have_text("40 responses match the filter.")

    count_text = page.locator(".forward-parts-count").inner_text()
    parts = int(re.fullmatch(r"(\d+) emails", count_text.strip()).group(1))
    assert parts >= 3
    links = page.locator("ol.mailto-parts a.mailto")
    expect(links).to_have_count(parts)
    bodies = []
    for number in range(1, parts + 1):
        link = links.nth(number - 1)
        expect(link).to_have_text(f"Email {number} of {parts}")
        href = link.get_attribute("href")
        assert len(href) <= MAILTO_LIMIT, (number, len(href))
        to, fields = _mailto_parts(href)
        assert to == ""
        assert fields["subject"] == f"Feedback {number}/{parts} (40 responses)"
        bodies.append(_body(fields))

    # In order, the bodies hold every response in full, newest first.
    whole = bodies[0]
    for body in bodies[1:]:
        if whole.endswith(CONTINUED_TAIL):
            assert body.startswith(CONTINUED_HEAD)
            whole = whole.removesuffix(CONTINUED_TAIL) + body.removeprefix(CONTINUED_HEAD)
        else:
            whole += "\n\n" + body
    assert CONTINUED_TAIL in "".join(bodies), "the long comment should go on in the next email"
    positions = []
    for n, text in enumerate(comments, 1):
        assert f"=== Response {n} of 40 ===\n" in whole
        assert "Comment:\n" + text + "\n" in whole, f"comment {n - 1} is not there in full"
        positions.append(whole.index(text))
    assert positions == sorted(positions)
    assert "happy promoter" not in whole
    watch.assert_clean()


def test_share_link_snapshot_expiry_and_revocation(
    live_server, settings, org_a, survey, contact, browser, watch, screenshot
):
    settings.BASE_URL = live_server.url
    _respond(survey, contact, 2, "Checkout broke twice & nobody called back", minutes_ago=1)
    _respond(survey, contact, 9, "Great onboarding, thanks Jana!", minutes_ago=2)
    _respond(survey, None, 6, "", minutes_ago=3)
    page = watch.new_context(browser).new_page()
    _login(page, live_server, org_a)

    _open_inbox(page)
    page.get_by_role("link", name="Share link", exact=True).click()
    expect(page.get_by_role("heading", name="Share responses")).to_be_visible()
    expect(page.locator("#share-count")).to_contain_text("The snapshot will hold 3 responses.")
    expect(page.get_by_label("Show names and email addresses")).not_to_be_checked()
    page.get_by_label("Title").fill("Q3 feedback for the board")
    page.get_by_role("button", name="Create share link").click()
    expect(page.locator("#new-share-link")).to_contain_text("it is shown only once")
    url = page.locator("#share-url").inner_text().strip()
    assert url.startswith(live_server.url + "/s/")
    link = ShareLink.objects.get()
    assert (link.show_identity, link.count) == (False, 3)
    # Names and addresses are not even stored in the snapshot.
    assert all(row.keys().isdisjoint({"name", "email"}) for row in link.snapshot)

    # Anyone with the URL, no session: comments and scores, no names, no addresses.
    public = watch.new_context(browser).new_page()
    answer = public.goto(url)
    assert answer.status == 200
    expect(public.get_by_role("heading", name="Q3 feedback for the board")).to_be_visible()
    shared = public.locator("li.share-response")
    expect(shared.locator(".share-score")).to_have_text(["2", "9", "6"])
    expect(shared.nth(0)).to_contain_text("Checkout broke twice & nobody called back")
    expect(shared.nth(1)).to_contain_text("Great onboarding, thanks Jana!")
    expect(public.locator(".share-who")).to_have_count(0)
    text = public.locator("body").inner_text()
    for secret in ("anna.schmidt@example.com", "@example.com", "Schmidt", "Anna"):
        assert secret not in text
    assert "anna.schmidt" not in public.content()
    expect(public.get_by_role("navigation")).to_have_count(0)  # no app navigation leaks
    screenshot(public, "11-share-page")

    # The clock passes the expiry: a clear "expired" page, 410 Gone.
    ShareLink.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    answer = public.reload()
    assert answer.status == 410
    expect(public.get_by_role("heading", name="This link has expired")).to_be_visible()
    expect(public.locator("body")).not_to_contain_text("Checkout broke")
    page.goto(live_server.url + "/inbox/shares/")
    row = page.locator("#share-links tbody tr", has_text="Q3 feedback for the board")
    expect(row.locator(".badge")).to_have_text("expired")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)

    # Back within its time, then revoked from the share list.
    ShareLink.objects.update(expires_at=timezone.now() + dt.timedelta(days=1))
    assert public.reload().status == 200
    page.reload()
    expect(row.locator(".badge")).to_have_text("active")
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("is revoked")
    expect(row.locator(".badge")).to_have_text("revoked")
    answer = public.reload()
    assert answer.status == 410
    expect(public.get_by_role("heading", name="This link has been revoked")).to_be_visible()
    expect(public.locator("body")).not_to_contain_text("Checkout broke")
    assert ShareLink.objects.get().revoked_at is not None

    # Chromium logs each of the two 410 pages as a failed load; anything else is an error.
    gone = [e for e in watch.errors if "Failed to load resource" in e and "status of 410" in e]
    assert len(gone) == 2, watch.errors
    watch.errors = [e for e in watch.errors if e not in gone]
    watch.assert_clean()


def test_bulk_tag_selected_then_close_all_filtered(
    live_server, settings, org_a, survey, contact, browser, watch
):
    settings.BASE_URL = live_server.url
    first = _respond(survey, contact, 1, "Invoice wrong again", minutes_ago=1)
    second = _respond(survey, contact, 4, "Login loops forever", minutes_ago=2)
    third = _respond(survey, contact, 9, "All good", minutes_ago=3)
    page = watch.new_context(browser).new_page()
    _login(page, live_server, org_a)
    _open_inbox(page)

    _item(page, "Invoice wrong again").locator("input[name=ids]").check()
    _item(page, "Login loops forever").locator("input[name=ids]").check()
    bulk = page.locator("#bulk-form")
    bulk.locator("#bulk-action").select_option(label="Add tag")
    bulk.get_by_label("tag", exact=True).fill("follow-up")
    bulk.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("status")).to_contain_text("2 responses changed.")
    for comment in ("Invoice wrong again", "Login loops forever"):
        expect(_item(page, comment).locator(".badge.tag")).to_have_text("follow-up")
    expect(_item(page, "All good").locator(".badge.tag")).to_have_count(0)
    assert {r.pk for r in Response.objects.filter(tags__name="follow-up")} == {
        first.pk,
        second.pk,
    }

    # Filter by the tag, then close all filtered without selecting any.
    form = page.locator("#filter-form")
    form.get_by_label("Tag", exact=True).select_option("follow-up")
    form.get_by_role("button", name="Apply").click()
    expect(_listed(page)).to_have_count(2)
    bulk.locator("#bulk-action").select_option(label="Close")
    bulk.get_by_label("all filtered, not only the selected").check()
    bulk.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("status")).to_contain_text("2 responses changed.")
    assert parse_qs(urlsplit(page.url).query) == {"tag": ["follow-up"]}
    expect(_listed(page).locator(".badge", has_text="closed")).to_have_count(2)
    assert dict(Response.objects.values_list("pk", "status")) == {
        first.pk: "closed",
        second.pk: "closed",
        third.pk: "open",
    }
    watch.assert_clean()
