"""Fixtures and helpers shared by the API tests (tests/test_api*.py)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from npsloop.accounts.services import create_api_token
from npsloop.invitations.models import Invitation
from npsloop.invitations.services import schedule_invitation
from npsloop.responses.services import record_rating

BASE = "/api/v1"


class ApiClient:
    def __init__(self, key: str):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {key}"}

    def get(self, path: str, params: dict | None = None):
        return self.client.get(BASE + path, params or {}, headers=self.headers)

    def post(self, path: str, body=None, raw: str | None = None):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(
            BASE + path, data, content_type="application/json", headers=self.headers
        )

    def patch(self, path: str, body):
        return self.client.patch(
            BASE + path, json.dumps(body), content_type="application/json", headers=self.headers
        )

    def delete(self, path: str):
        return self.client.delete(BASE + path, headers=self.headers)


def token_client(org, scope: str = "write") -> ApiClient:
    _token, key = create_api_token(
        organization=org.organization, user=org.user, name=f"test {scope}", scope=scope
    )
    return ApiClient(key)


@pytest.fixture(name="api")
def api_fixture(org_a) -> ApiClient:
    return token_client(org_a, "write")


@pytest.fixture(name="api_read")
def api_read_fixture(org_a) -> ApiClient:
    return token_client(org_a, "read")


@pytest.fixture(name="api_b")
def api_b_fixture(org_b) -> ApiClient:
    return token_client(org_b, "write")


def respond(survey, contact, score: int, comment: str = ""):
    invitation = schedule_invitation(survey=survey, contact=contact, source=Invitation.Source.API)
    Invitation.objects.filter(pk=invitation.pk).update(state=Invitation.State.SENT)
    return record_rating(invitation=invitation, score=score, comment=comment or None)


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]
