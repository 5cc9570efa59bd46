"""Security headers on each kind of page, and `check --deploy` with production settings."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from npsloop.invitations.links import rating_token
from npsloop.invitations.models import Invitation
from npsloop.invitations.services import schedule_invitation
from npsloop.responses.sharing import create_share_link
from tests.test_api_support import api_fixture  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parent.parent


def _directives(csp: str) -> dict[str, list[str]]:
    parts = [part.split() for part in csp.split(";") if part.strip()]
    return {part[0]: part[1:] for part in parts}


def assert_secure_headers(response) -> None:
    csp = _directives(response["Content-Security-Policy"])
    script_src = csp.get("script-src", csp.get("default-src"))
    assert script_src and "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert csp["frame-ancestors"] in (["'none'"], ["'self'"])
    assert csp["object-src"] == ["'none'"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] in ("same-origin", "no-referrer", "strict-origin")
    assert response["X-Frame-Options"] in ("DENY", "SAMEORIGIN")
    # BASE_URL is http:// in the tests: no HSTS, even for a request that came over TLS.
    assert "Strict-Transport-Security" not in response


@pytest.fixture
def pages(member_client, org_a, survey, contact, outbox_mode, api):
    invitation = schedule_invitation(
        survey=survey, contact=contact, source=Invitation.Source.MANUAL
    )
    _link, share_url = create_share_link(
        organization=org_a.organization, member=org_a.user, query="", title="Shared"
    )
    return {
        "dashboard": lambda: member_client.get(reverse("dashboard"), secure=True),
        "rating": lambda: member_client.get(
            reverse("rate", args=[rating_token(invitation.key, 9)]), secure=True
        ),
        "share": lambda: member_client.get(share_url.removeprefix("http://testserver")),
        "api": lambda: api.client.get("/api/v1/surveys", headers=api.headers, secure=True),
        "login": lambda: Client().get(reverse("login")),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["dashboard", "rating", "share", "api", "login"])
def test_security_headers(pages, page):
    response = pages[page]()
    assert response.status_code == 200, response.content[:300]
    assert_secure_headers(response)


@pytest.mark.django_db
def test_no_page_may_be_framed_but_the_outbox_preview(member_client, org_a):
    assert member_client.get(reverse("dashboard"))["X-Frame-Options"] == "DENY"


# --- production settings, in a process of their own ------------------------------------


def _production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "LANG": "C.UTF-8",
        "DEBUG": "false",
        "BASE_URL": "https://nps.example.com",
        "SECRET_KEY": secrets.token_urlsafe(48),  # 64 characters
        "ALLOWED_HOSTS": "nps.example.com",
        "DJANGO_SETTINGS_MODULE": "npsloop.settings",
        "NPSLOOP_DATA_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    env.update(overrides)
    return env


def test_check_deploy_reports_no_issues(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "django", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=ROOT,
        env=_production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (1 silenced)." in output, output


# Requests against production settings; none of these pages touches the database.
PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="nps.example.com")
answers = {
    "https": client.get("/login/", HTTP_X_FORWARDED_PROTO="https"),
    "http": client.get("/login/?next=/x"),
    "healthz": Client(HTTP_HOST="10.0.0.5:8000").get("/healthz"),
}
print(json.dumps({name: [a.status_code, dict(a.headers)] for name, a in answers.items()}))
"""


def _probe(tmp_path: Path, **env: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=_production_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_over_https_sends_hsts_and_redirects_plain_http(tmp_path):
    answers = _probe(tmp_path)
    status, headers = answers["https"]
    assert status == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "'unsafe-inline'" not in _directives(headers["Content-Security-Policy"])["script-src"]
    assert headers["X-Frame-Options"] == "DENY"
    assert "Secure" in headers.get("Set-Cookie", "Secure")  # the CSRF cookie, if set
    status, headers = answers["http"]
    assert status == 301 and headers["Location"] == "https://nps.example.com/login/?next=/x"
    # The load balancer's health check keeps working over plain HTTP, by IP address.
    status, headers = answers["healthz"]
    assert status == 200


def test_without_https_no_hsts_and_no_redirect(tmp_path):
    answers = _probe(
        tmp_path, BASE_URL="http://nps.example.com", SECRET_KEY=secrets.token_urlsafe(48)
    )
    for name in ("https", "http"):
        status, headers = answers[name]
        assert status == 200
        assert "Strict-Transport-Security" not in headers


def test_ssl_redirect_can_be_left_to_the_proxy(tmp_path):
    answers = _probe(tmp_path, SECURE_SSL_REDIRECT="false")
    assert answers["http"][0] == 200
    assert "Strict-Transport-Security" in answers["https"][1]
