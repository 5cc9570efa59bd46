from __future__ import annotations

import re

import pytest

from npsloop.accounts.services import create_organization
from npsloop.config import email_settings
from npsloop.contacts.services import upsert_contact
from npsloop.surveys.services import create_survey
from tests.smtp import SmtpServer

PASSWORD = "correct-horse-battery-9"
# pytest-django swaps in locmem mail; these fixtures put the product's own backend back.
RECORDING_BACKEND = "npsloop.mail.backends.RecordingBackend"


@pytest.fixture(autouse=True)
def _no_rate_limit_counts_from_other_tests():
    """Rate limit counters (npsloop.web.ratelimit) live in the cache; every test
    starts without them, as all tests come from 127.0.0.1 within a few minutes."""
    from django.core.cache import caches

    caches["default"].clear()


@pytest.fixture
def org_a(db):
    return create_organization(name="Acme", email="owner@acme.test", password=PASSWORD)


@pytest.fixture
def org_b(db):
    return create_organization(name="Globex", email="owner@globex.test", password=PASSWORD)


@pytest.fixture
def member_client(client, org_a):
    client.force_login(org_a.user)
    return client


@pytest.fixture
def survey(org_a):
    survey, _key = create_survey(organization=org_a.organization, name="Customer NPS")
    return survey


@pytest.fixture
def contact(org_a):
    contact, _ = upsert_contact(
        organization=org_a.organization,
        email="anna.schmidt@example.com",
        first_name="Anna",
        last_name="Schmidt",
        gender="female",
        language="de",
    )
    return contact


@pytest.fixture
def smtp(settings):
    """A real SMTP server on 127.0.0.1; the app sends to it."""
    with SmtpServer() as server:
        settings.NPSLOOP_EMAIL = email_settings(server.url)
        settings.EMAIL_BACKEND = RECORDING_BACKEND
        yield server


@pytest.fixture
def outbox_mode(settings):
    settings.NPSLOOP_EMAIL = {"mode": "outbox"}
    settings.EMAIL_BACKEND = RECORDING_BACKEND


def rating_links(html: str) -> dict[int, str]:
    """Score → URL of the eleven rating buttons in a survey email."""
    links = re.findall(r'href="([^"]+/r/[^"]+/)" title="(\d+)"', html)
    return {int(score): url for url, score in links}
