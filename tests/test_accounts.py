from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from npsloop.accounts.models import ApiToken, Membership
from npsloop.accounts.selectors import token_for
from npsloop.accounts.services import create_api_token
from npsloop.contacts.services import upsert_contact
from npsloop.mail.models import OutboundEmail
from npsloop.surveys.services import create_survey
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_signup_creates_organization_and_owner_and_signs_in(client):
    response = client.post(
        reverse("signup"),
        {"organization": "Initech", "email": "Peter@Initech.test", "password": PASSWORD},
    )
    assert response.status_code == 302 and response["Location"] == reverse("survey_create")
    membership = Membership.objects.get()
    assert membership.organization.name == "Initech"
    assert membership.user.email == "peter@initech.test"
    assert membership.role == "owner"
    assert client.get(reverse("dashboard")).status_code == 200


@pytest.mark.parametrize(
    "data, field",
    [
        ({"organization": "X", "email": "not-an-email", "password": PASSWORD}, "email"),
        ({"organization": "X", "email": "a@b.test", "password": "123"}, "password"),
        ({"organization": "", "email": "a@b.test", "password": PASSWORD}, "organization"),
    ],
)
def test_signup_errors_name_the_field(client, data, field):
    response = client.post(reverse("signup"), data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Membership.objects.exists()


def test_signup_with_an_existing_email_is_refused(client, org_a):
    response = client.post(
        reverse("signup"),
        {"organization": "Again", "email": "OWNER@acme.test", "password": PASSWORD},
    )
    assert "email" in response.context["form"].errors


def test_signup_can_be_closed(client, settings):
    settings.NPSLOOP_SIGNUP = False
    assert client.get(reverse("signup")).status_code == 404


def test_login_and_logout(client, org_a):
    assert client.get(reverse("dashboard")).status_code == 302
    bad = client.post(reverse("login"), {"username": "owner@acme.test", "password": "wrong"})
    assert bad.status_code == 200 and not bad.wsgi_request.user.is_authenticated
    good = client.post(reverse("login"), {"username": "owner@acme.test", "password": PASSWORD})
    assert good.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("dashboard")).status_code == 302


def test_password_reset_by_email(client, org_a, outbox_mode):
    client.post(reverse("password_reset"), {"email": "owner@acme.test"})
    mail = OutboundEmail.objects.get(kind="system")
    assert mail.to == "owner@acme.test" and mail.status == "outbox"
    link = re.search(r"/password-reset/[^/\s]+/[^/\s]+/", mail.raw).group(0)
    form = client.get(link, follow=True)
    assert form.status_code == 200 and form.context["validlink"]
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-new-long-passphrase-7", "new_password2": "a-new-long-passphrase-7"},
    )
    assert done.status_code == 302
    assert client.login(username="owner@acme.test", password="a-new-long-passphrase-7")


def test_password_reset_for_unknown_email_sends_nothing(client, org_a, outbox_mode):
    response = client.post(reverse("password_reset"), {"email": "nobody@acme.test"})
    assert response.status_code == 302
    assert not OutboundEmail.objects.exists()


def test_another_organizations_things_are_not_found(client, org_a, org_b):
    survey, _ = create_survey(organization=org_a.organization, name="Secret survey")
    contact, _ = upsert_contact(organization=org_a.organization, email="vip@example.com")
    OutboundEmail.objects.create(
        organization=org_a.organization,
        kind="invitation",
        to="vip@example.com",
        from_email="x@acme.test",
        subject="Secret",
        raw="Subject: Secret\n\nhello",
    )
    email = OutboundEmail.objects.get()
    client.force_login(org_b.user)
    for url in [
        reverse("survey_detail", args=[survey.pk]),
        reverse("survey_edit", args=[survey.pk]),
        reverse("contact_detail", args=[contact.pk]),
        reverse("outbox_detail", args=[email.pk]),
        reverse("outbox_html", args=[email.pk]),
    ]:
        assert client.get(url).status_code == 404, url
    for url in [
        reverse("survey_status", args=[survey.pk, "archived"]),
        reverse("survey_rotate_key", args=[survey.pk]),
    ]:
        assert client.post(url).status_code == 404, url
    for url in [
        reverse("dashboard"),
        reverse("survey_list"),
        reverse("contact_list"),
        reverse("outbox"),
    ]:
        body = client.get(url).content.decode()
        assert "Secret" not in body and "vip@example.com" not in body, url
    survey.refresh_from_db()
    assert survey.status == "active"


def test_a_user_without_organization_is_told_so(client):
    user = get_user_model().objects.create_user(username="lonely@x.test", password=PASSWORD)
    client.force_login(user)
    response = client.get(reverse("dashboard"), follow=True)
    assert response.status_code == 403
    assert b"not a member" in response.content


def test_api_tokens_are_shown_once_and_stored_hashed(member_client, org_a):
    response = member_client.post(reverse("token_list"), {"name": "export", "scope": "read"})
    key = re.search(r'id="new-token">([^<]+)<', response.content.decode()).group(1)
    token = ApiToken.objects.get()
    assert key not in (token.digest, token.prefix) and token.prefix in key
    assert token_for(key) == token
    assert token_for(key[:-1] + ("a" if key[-1] != "a" else "b")) is None
    assert key not in member_client.get(reverse("token_list")).content.decode()
    member_client.post(reverse("token_revoke", args=[token.pk]))
    assert token_for(key) is None


def test_tokens_of_another_organization_cannot_be_revoked(client, org_a, org_b):
    token, key = create_api_token(
        organization=org_a.organization, user=org_a.user, name="a", scope="write"
    )
    client.force_login(org_b.user)
    client.post(reverse("token_revoke", args=[token.pk]))
    assert token_for(key) == token


def test_forms_require_csrf(org_a):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(org_a.user)
    assert strict.post(reverse("token_list"), {"name": "x", "scope": "read"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_admin_is_for_operators_only(client, org_a):
    client.force_login(org_a.user)
    assert client.get("/admin/").status_code == 302


def test_a_member_chooses_the_language_of_the_pages(member_client, org_a):
    """Blank follows the browser; a chosen language wins over it; other values are
    refused and change nothing; the form needs CSRF like every other form."""
    german_browser = {"HTTP_ACCEPT_LANGUAGE": "de"}
    page = member_client.get(reverse("member_settings"))
    assert page.status_code == 200 and page["Content-Language"] == "en"
    assert member_client.get(reverse("inbox"), **german_browser)["Content-Language"] == "de"

    saved = member_client.post(reverse("member_settings"), {"language": "de"}, follow=True)
    assert saved["Content-Language"] == "de"
    assert "Ihre Einstellungen sind gespeichert." in saved.content.decode()
    membership = Membership.objects.get(user=org_a.user)
    assert membership.language == "de"
    english_browser = member_client.get(reverse("inbox"), HTTP_ACCEPT_LANGUAGE="en")
    assert english_browser["Content-Language"] == "de"

    refused = member_client.post(reverse("member_settings"), {"language": "xx"})
    assert refused.status_code == 200 and "xx" in refused.content.decode()
    membership.refresh_from_db()
    assert membership.language == "de"

    member_client.post(reverse("member_settings"), {"language": ""})
    membership.refresh_from_db()
    assert membership.language == ""
    assert member_client.get(reverse("inbox"), **german_browser)["Content-Language"] == "de"
    assert member_client.get(reverse("inbox"))["Content-Language"] == "en"


def test_member_settings_need_a_member_and_csrf(client, org_a):
    answer = client.get(reverse("member_settings"))
    assert answer.status_code == 302 and "/login/" in answer["Location"]
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(org_a.user)
    assert strict.post(reverse("member_settings"), {"language": "de"}).status_code == 403
    assert Membership.objects.get(user=org_a.user).language == ""
