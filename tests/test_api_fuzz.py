"""Schemathesis over the live OpenAPI schema: no 500s, every answer as documented.

The schema is read from /api/v1/openapi.json through Django's WSGI handler when this
module is collected; each operation becomes one test. Every operation gets schemathesis'
coverage cases (boundaries, wrong types, missing fields, NUL bytes, huge numbers) and a
bounded, derandomized set of generated requests (valid and invalid), all sent in-process
with a read-write token; each answer must not be a 5xx and must match the schema's status
codes, content types, headers and bodies, invalid requests must be refused, and so must
requests without a valid token (schemathesis probes each operation without one).

Not checked: positive_data_acceptance, since data the schema allows can still break the
API's rules (an unknown survey_id, min_delay_days above max_delay_days: 422), and the
stateful checks, which need links between operations that the schema does not declare.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from npsloop.accounts.services import create_api_token
from npsloop.contacts.services import upsert_contact
from npsloop.responses import workflow
from npsloop.surveys.services import create_survey
from tests.test_api_support import respond

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    missing_required_header,
    ignored_auth,
    unsupported_method,
]
# Generated requests per operation, on top of the coverage cases; keeps the run bounded.
# A deeper local run: NPSLOOP_FUZZ_EXAMPLES=500 pytest tests/test_api_fuzz.py
MAX_EXAMPLES = int(os.environ.get("NPSLOOP_FUZZ_EXAMPLES", "15"))

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
# The test sends its token itself; schemathesis' own probes (ignored_auth) try without one.
schema.config.generation.update(with_security_parameters=False, deterministic=True)

# The ids of the rows made by `fuzz_data`, for the test that is running.
KNOWN: dict[str, Any] = {}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    # Random ids almost never exist: half the time, point at the rows made for the test.
    # Only values of the declared type are swapped, so a negative case stays negative.
    real = {
        k: KNOWN[k]
        for k, v in (path_parameters or {}).items()
        if k in KNOWN and type(v) is type(KNOWN[k])
    }
    if not real:
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, {**path_parameters, **real}])


@pytest.fixture
def wsgi_keeps_connection():
    """Requests go through the WSGI handler, not Django's test client: like the client, keep
    the handler from closing the connection that holds the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_data(org_a, settings, wsgi_keeps_connection):
    """An organization with a write token, a survey, and a person (unsubscribed and
    bounced, so that DELETE /unsubscribes/{email} can succeed) with a tagged response."""
    settings.NPSLOOP_API_RATE_LIMIT = 1_000_000  # the fuzzer is not what the limit is for
    organization = org_a.organization
    _token, key = create_api_token(
        organization=organization, user=org_a.user, name="fuzz", scope="write"
    )
    survey, _key = create_survey(organization=organization, name="Customer NPS")
    contact, _ = upsert_contact(
        organization=organization,
        email="anna.schmidt@example.com",
        first_name="Anna",
        last_name="Schmidt",
        properties={"plan": "pro"},
    )
    response = respond(survey, contact, 9, "Great product")
    workflow.add_tag(
        responses=type(response).objects.filter(pk=response.pk), name="praise", actor=org_a.user
    )
    now = timezone.now()
    type(contact).objects.filter(pk=contact.pk).update(unsubscribed_at=now, bounced_at=now)
    KNOWN.update(
        survey_id=survey.pk,
        person_id=contact.pk,
        response_id=response.pk,
        tag="praise",
        email=contact.email,
    )
    try:
        yield {"key": key}
    finally:
        KNOWN.clear()


@pytest.mark.django_db
@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, fuzz_data):
    case.call_and_validate(headers={"Authorization": f"Bearer {fuzz_data['key']}"}, checks=CHECKS)
