"""Share links: a static, expiring snapshot of filtered responses, readable without an account."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
from urllib.parse import urlsplit

import pytest
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from npsloop.contacts.services import upsert_contact
from npsloop.responses import share_views, sharing
from npsloop.responses.models import Response, ShareLink
from npsloop.responses.sharing import create_share_link, share_for_token
from npsloop.surveys.services import create_survey

pytestmark = pytest.mark.django_db

URL_IN_PAGE = re.compile(r'id="share-url">([^<]+)</code>')


def respond(org, survey, contact, score, comment="", **extra):
    return Response.objects.create(
        organization=org.organization,
        survey=survey,
        contact=contact,
        score=score,
        comment=comment,
        language="en",
        created_at=extra.pop("created_at", timezone.now()),
        **extra,
    )


@pytest.fixture
def responses(org_a, survey, contact):
    """Two detractors with a comment; the rest do not match category=detractor&comment=with."""
    hour = dt.timedelta(hours=1)
    now = timezone.now()
    return {
        "angry": respond(org_a, survey, contact, 2, "Too slow.", created_at=now - 3 * hour),
        "silent": respond(org_a, survey, contact, 3, "", created_at=now - 2 * hour),
        "happy": respond(org_a, survey, contact, 10, "Love it!", created_at=now - hour),
        "meh": respond(org_a, survey, contact, 6, "Support never\nanswered.", created_at=now),
    }


@pytest.fixture
def other_client(org_b):
    other = Client()
    other.force_login(org_b.user)
    return other


def share(member_client, query="", **data) -> tuple[str, str]:
    """Create a link through the member page; returns (public path, page html)."""
    form = {"title": "Detractors for the product team", "days": "30", **data}
    page = member_client.post(reverse("share_create") + (f"?{query}" if query else ""), form)
    assert page.status_code == 200, page.content
    body = page.content.decode()
    found = URL_IN_PAGE.search(body)
    assert found, body
    url = html.unescape(found.group(1))
    assert url.startswith("http://testserver/s/")
    return urlsplit(url).path, body


def token_of(path: str) -> str:
    return path.strip("/").split("/")[-1]


def test_create_page_counts_and_snapshot_holds_exactly_the_matching_responses(
    member_client, responses
):
    query = "category=detractor&comment=with"
    page = member_client.get(reverse("share_create") + f"?{query}")
    assert page.status_code == 200
    assert "The snapshot will hold 2 responses." in page.content.decode()
    assert 'name="show_identity"' in page.content.decode()
    assert "checked" not in page.content.decode()  # names and emails off by default

    path, body = share(member_client, query)
    assert "shown only once" in body
    assert page["Cache-Control"] == "private, no-store"
    link = ShareLink.objects.get()
    assert link.count == 2
    assert [row["comment"] for row in link.snapshot] == ["Support never\nanswered.", "Too slow."]
    assert [row["score"] for row in link.snapshot] == [6, 2]
    assert all(row["category"] == "detractor" for row in link.snapshot)
    assert all("email" not in row and "name" not in row for row in link.snapshot)
    assert link.snapshot[0]["survey"] == "Customer NPS"
    assert link.query == "category=detractor&comment=with"
    assert link.show_identity is False
    assert link.created_by.email == "owner@acme.test"
    assert dt.timedelta(days=29, hours=23) < link.expires_at - timezone.now() <= dt.timedelta(30)
    assert share_for_token(token_of(path)) == link


def test_link_works_without_an_account_and_hides_identities_by_default(member_client, responses):
    path, _ = share(member_client, "category=detractor&comment=with")
    public = Client()
    page = public.get(path)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Detractors for the product team" in body
    assert "Too slow." in body
    assert "Support never<br>answered." in body
    assert '<span class="share-score detractor"' in body
    assert ">6</span>" in body and ">2</span>" in body
    assert "Love it!" not in body and ">10</span>" not in body
    assert "Customer NPS" in body
    assert "anna.schmidt@example.com" not in body
    assert "Anna" not in body and "Schmidt" not in body
    assert "Snapshot of" in body and "new responses do not appear" in body
    assert "This link expires on" in body
    # The public page does not reveal or require the member's session.
    assert "Sign out" not in body


def test_names_and_emails_appear_when_chosen(member_client, responses):
    path, _ = share(member_client, "category=detractor", show_identity="on")
    link = ShareLink.objects.get()
    assert link.show_identity is True
    assert link.snapshot[0]["email"] == "anna.schmidt@example.com"
    body = Client().get(path).content.decode()
    assert "Anna Schmidt" in body
    assert "anna.schmidt@example.com" in body


def test_snapshot_is_static(member_client, responses, org_a, survey, contact):
    path, _ = share(member_client, "category=detractor&comment=with")
    respond(org_a, survey, contact, 0, "Arrived after the snapshot.")
    responses["angry"].comment = "Edited later."
    responses["angry"].save()
    body = Client().get(path).content.decode()
    assert "Arrived after the snapshot." not in body
    assert "Edited later." not in body
    assert "Too slow." in body
    assert ShareLink.objects.get().count == 2


def test_token_has_256_bits_and_only_its_digest_is_stored(member_client, responses):
    path, body = share(member_client)
    token = token_of(path)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", token)
    assert len(token) >= 43  # token_urlsafe(32): 256 bits, at least 128 required
    link = ShareLink.objects.get()
    assert link.token_digest == hashlib.sha256(token.encode()).hexdigest()
    row = model_to_dict(link)
    row.update(created_at=link.created_at, expires_at=link.expires_at)
    assert token not in repr(row)
    assert token not in str(list(ShareLink.objects.values_list()))
    # The list page never shows the URL again.
    assert token not in member_client.get(reverse("share_list")).content.decode()
    # Two links never share a token.
    other_path, _ = share(member_client)
    assert other_path != path


def test_expired_after_30_days(member_client, responses, monkeypatch):
    path, _ = share(member_client, "category=detractor")
    public = Client()
    real_now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: real_now + dt.timedelta(days=29, hours=23))
    assert public.get(path).status_code == 200
    monkeypatch.setattr(timezone, "now", lambda: real_now + dt.timedelta(days=30, minutes=1))
    page = public.get(path)
    assert page.status_code == 410
    body = page.content.decode()
    assert "This link has expired" in body
    assert "Too slow." not in body
    assert page["X-Robots-Tag"].startswith("noindex")


def test_expired_by_date_in_the_database(member_client, responses):
    path, _ = share(member_client, "category=detractor")
    ShareLink.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    page = Client().get(path)
    assert page.status_code == 410
    assert "This link has expired" in page.content.decode()
    listing = member_client.get(reverse("share_list")).content.decode()
    assert "share-expired" in listing
    assert "share-active" not in listing
    assert reverse("share_revoke", args=[ShareLink.objects.get().pk]) not in listing


def test_shorter_expiry_and_limits(member_client, responses):
    share(member_client, days="7")
    link = ShareLink.objects.get()
    assert dt.timedelta(days=6, hours=23) < link.expires_at - timezone.now() <= dt.timedelta(7)
    for days in ("0", "91", "abc"):
        page = member_client.post(reverse("share_create"), {"title": "x", "days": days})
        assert page.status_code == 200
        assert 'id="share-url"' not in page.content.decode()
    assert ShareLink.objects.count() == 1
    with pytest.raises(ValueError):
        create_share_link(organization=link.organization, member=None, query="", title="x", days=91)


def test_revoke(member_client, responses):
    path, _ = share(member_client, "category=detractor")
    link = ShareLink.objects.get()
    assert Client().get(path).status_code == 200
    answer = member_client.post(reverse("share_revoke", args=[link.pk]))
    assert answer.status_code == 302 and answer["Location"] == reverse("share_list")
    page = Client().get(path)
    assert page.status_code == 410
    assert "revoked" in page.content.decode()
    assert "Too slow." not in page.content.decode()
    link.refresh_from_db()
    assert link.revoked_at is not None
    listing = member_client.get(reverse("share_list")).content.decode()
    assert "share-revoked" in listing
    assert reverse("share_revoke", args=[link.pk]) not in listing
    # Revoking again is harmless; GET does not revoke.
    assert member_client.post(reverse("share_revoke", args=[link.pk])).status_code == 302
    assert member_client.get(reverse("share_revoke", args=[link.pk])).status_code == 405


def test_list_shows_title_creator_count_and_state(member_client, responses):
    share(member_client, "category=detractor&comment=with")
    page = member_client.get(reverse("share_list"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Detractors for the product team" in body
    assert "owner@acme.test" in body
    assert '<td class="num">2</td>' in body
    assert "share-active" in body
    link = ShareLink.objects.get()
    assert reverse("share_revoke", args=[link.pk]) in body


def test_other_organization_can_neither_list_nor_revoke(member_client, other_client, responses):
    path, _ = share(member_client, "category=detractor")
    link = ShareLink.objects.get()
    listing = other_client.get(reverse("share_list")).content.decode()
    assert "Detractors for the product team" not in listing
    assert "No share links yet." in listing
    assert other_client.post(reverse("share_revoke", args=[link.pk])).status_code == 404
    link.refresh_from_db()
    assert link.revoked_at is None
    assert Client().get(path).status_code == 200


def test_other_organization_cannot_snapshot_our_responses(other_client, org_b, survey, responses):
    query = f"survey={survey.pk}"
    page = other_client.get(reverse("share_create") + f"?{query}")
    assert "The snapshot will hold 0 responses." in page.content.decode()
    path, _ = share(other_client, query)
    link = ShareLink.objects.get()
    assert link.organization == org_b.organization
    assert link.count == 0 and link.snapshot == []
    body = Client().get(path).content.decode()
    assert "Too slow." not in body and "Love it!" not in body
    # Without a filter too: only the other organization's own responses.
    their_survey, _key = create_survey(organization=org_b.organization, name="Globex NPS")
    their_contact, _ = upsert_contact(organization=org_b.organization, email="x@globex.test")
    respond(org_b, their_survey, their_contact, 8, "Globex comment")
    share(other_client)
    newest = ShareLink.objects.order_by("-id").first()
    assert [row["comment"] for row in newest.snapshot] == ["Globex comment"]


def test_member_pages_need_an_account(client, responses, member_client):
    share(member_client)
    link = ShareLink.objects.get()
    anonymous = Client()
    for url in (reverse("share_create"), reverse("share_list")):
        answer = anonymous.get(url)
        assert answer.status_code == 302 and "/login/" in answer["Location"]
    answer = anonymous.post(reverse("share_revoke", args=[link.pk]))
    assert answer.status_code == 302 and "/login/" in answer["Location"]
    link.refresh_from_db()
    assert link.revoked_at is None


def test_comment_is_escaped(member_client, org_a, survey, contact):
    respond(org_a, survey, contact, 1, '<script>alert("x")</script>\n<b>bold</b>')
    path, _ = share(member_client, title='<img src=x onerror="alert(1)">')
    body = Client().get(path).content.decode()
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;<br>&lt;b&gt;bold&lt;/b&gt;" in body
    assert "<img src=x" not in body
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in body


def test_public_headers(member_client, responses):
    path, _ = share(member_client)
    page = Client().get(path)
    assert page.status_code == 200
    assert "noindex" in page["X-Robots-Tag"]
    assert page["Referrer-Policy"] == "same-origin"
    assert "no-store" in page["Cache-Control"]
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert '<meta name="robots" content="noindex' in page.content.decode()
    for status_path in ("/s/" + "A" * 43 + "/",):
        missing = Client().get(status_path)
        assert missing.status_code == 404
        assert "noindex" in missing["X-Robots-Tag"]


@pytest.mark.parametrize(
    "token",
    ["A" * 43, "short", "x" * 5000, "%00%ff", "ä" * 30, "..", "a b", "A" * 42 + "%0A"],
)
def test_unknown_or_forged_token_is_404_never_500(member_client, responses, token):
    share(member_client)
    page = Client().get(f"/s/{token}/")
    assert page.status_code == 404
    assert "This link is not valid" in page.content.decode()


def test_forged_token_with_changed_character_is_404(member_client, responses):
    path, _ = share(member_client)
    token = token_of(path)
    forged = ("B" if token[0] != "B" else "C") + token[1:]
    assert Client().get(f"/s/{forged}/").status_code == 404
    assert Client().get(f"/s/{token}/").status_code == 200
    assert Client().post(f"/s/{token}/").status_code == 405


def test_cap_is_said_on_the_pages(member_client, responses, monkeypatch):
    monkeypatch.setattr(sharing, "SNAPSHOT_CAP", 2)
    monkeypatch.setattr(share_views, "SNAPSHOT_CAP", 2)
    page = member_client.get(reverse("share_create")).content.decode()
    assert "The snapshot will hold 4 responses." in page
    assert "only the newest 2 are included" in page
    path, body = share(member_client)
    assert "Only the newest 2 are included." in body
    link = ShareLink.objects.get()
    assert link.count == 4 and len(link.snapshot) == 2
    assert [row["comment"] for row in link.snapshot] == ["Support never\nanswered.", "Love it!"]
    public = Client().get(path).content.decode()
    assert "Only the newest 2 of 4 responses are included." in public
    assert "Too slow." not in public


def test_damaged_snapshot_does_not_break_the_page(member_client, responses):
    path, _ = share(member_client)
    ShareLink.objects.update(
        snapshot=[{"score": "x"}, "junk", {"score": 11}, {"score": 9, "date": "nope"}, None]
    )
    page = Client().get(path)
    assert page.status_code == 200
    assert ">9</span>" in page.content.decode()


def test_public_page_is_paginated(member_client, org_a, survey, contact, monkeypatch):
    monkeypatch.setattr(share_views, "PAGE_SIZE", 2)
    for n in range(5):
        respond(org_a, survey, contact, n, f"comment {n}")
    path, _ = share(member_client)
    public = Client()
    first = public.get(path).content.decode()
    assert "comment 4" in first and "comment 2" not in first
    assert "Page 1 of 3" in first
    last = public.get(path + "?page=3").content.decode()
    assert "comment 0" in last
    assert public.get(path + "?page=zzz").status_code == 200


@pytest.mark.parametrize(
    "zone, shown", [("Europe/Berlin", "(Europe/Berlin)"), ("Nowhere/X", "(UTC)")]
)
def test_public_page_dates_in_the_organizations_time_zone(
    member_client, org_a, responses, zone, shown
):
    path, _ = share(member_client)
    org_a.organization.time_zone = zone
    org_a.organization.save()
    page = Client().get(path)
    assert page.status_code == 200
    assert shown in page.content.decode()
