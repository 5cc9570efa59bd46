"""The REST API: auth, scopes, organizations, and each resource."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from django.utils import timezone

from npsloop.accounts.models import ApiToken
from npsloop.accounts.services import create_api_token, revoke_api_token
from npsloop.contacts.services import upsert_contact
from npsloop.invitations.models import Decision, Invitation
from npsloop.responses.models import Response
from npsloop.surveys.models import Survey
from tests.test_api_support import (  # noqa: F401  (fixtures)
    ApiClient,
    api_b_fixture,
    api_fixture,
    api_read_fixture,
    assert_error,
    respond,
)

pytestmark = pytest.mark.django_db


# --- auth -------------------------------------------------------------------


def test_no_token_is_401_in_the_one_error_shape(client):
    response = client.get("/api/v1/surveys")
    error = assert_error(response, 401, "unauthorized")
    assert "Bearer" in error["message"]


def test_wrong_token_is_401(org_a):
    assert_error(ApiClient("npl_tok_abc_def").get("/surveys"), 401, "unauthorized")


def test_revoked_token_is_401(org_a):
    token, key = create_api_token(
        organization=org_a.organization, user=org_a.user, name="t", scope="write"
    )
    client = ApiClient(key)
    assert client.get("/surveys").status_code == 200
    revoke_api_token(organization=org_a.organization, token_id=token.pk)
    assert_error(client.get("/surveys"), 401, "unauthorized")


def test_last_used_at_is_written_at_most_once_a_minute(org_a):
    token, key = create_api_token(
        organization=org_a.organization, user=org_a.user, name="t", scope="read"
    )
    client = ApiClient(key)
    client.get("/surveys")
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    client.get("/surveys")
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - dt.timedelta(minutes=2))
    client.get("/surveys")
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first - dt.timedelta(minutes=1)


def test_read_only_token_cannot_write(api_read, survey):
    assert api_read.get("/surveys").status_code == 200
    assert_error(api_read.post("/surveys", {"name": "X"}), 403, "forbidden")
    assert_error(api_read.post("/people", {"email": "a@b.test"}), 403, "forbidden")
    assert_error(api_read.post(f"/surveys/{survey.pk}/pause"), 403, "forbidden")
    assert not Survey.objects.filter(name="X").exists()


def test_other_organizations_ids_are_404_never_data(api_b, survey, contact):
    response = respond(survey, contact, 3, "secret complaint")
    share = api_b.post("/share-links", {"title": "x"}).json()
    for path in [
        f"/surveys/{survey.pk}",
        f"/people/{contact.pk}",
        f"/people/{contact.pk}/export",
        f"/responses/{response.pk}",
    ]:
        answer = api_b.get(path)
        assert_error(answer, 404, "not_found")
        assert b"secret" not in answer.content and b"anna" not in answer.content.lower()
    assert_error(api_b.patch(f"/surveys/{survey.pk}", {"name": "pwned"}), 404)
    assert_error(api_b.post(f"/responses/{response.pk}/tags", {"tags": ["x"]}), 404)
    assert_error(api_b.delete(f"/people/{contact.pk}"), 404)
    assert api_b.get("/responses").json()["items"] == []
    assert api_b.get("/people").json()["items"] == []
    assert api_b.get("/surveys").json() == []
    assert share["count"] == 0
    contact.refresh_from_db()
    assert contact.email == "anna.schmidt@example.com"


def test_rate_limit_429_with_retry_after(api, settings):
    settings.NPSLOOP_API_RATE_LIMIT = 3
    answers = [api.get("/surveys") for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert answers[0]["X-RateLimit-Limit"] == "3"
    assert answers[0]["X-RateLimit-Remaining"] == "2"
    assert answers[2]["X-RateLimit-Remaining"] == "0"
    error = assert_error(answers[3], 429, "rate_limited")
    assert 1 <= int(answers[3]["Retry-After"]) <= 60
    assert answers[3]["X-RateLimit-Remaining"] == "0"
    assert error["details"]["limit"] == 3


# --- errors -----------------------------------------------------------------


def test_malformed_json_is_400(api):
    assert_error(api.post("/surveys", raw="{not json"), 400, "malformed_json")


def test_validation_error_names_the_field(api):
    error = assert_error(api.post("/surveys", {"min_delay_days": -1}), 422, "validation_error")
    assert "name" in error["details"]
    assert "min_delay_days" in error["details"]


def test_invalid_email_names_the_field(api, survey):
    error = assert_error(api.post("/people", {"email": "not-an-email"}), 422, "validation_error")
    assert set(error["details"]) == {"email"}


def test_unknown_filter_key_is_400_naming_it(api):
    error = assert_error(api.get("/responses", {"colour": "red"}), 400, "invalid_filter")
    assert "colour" in error["details"]
    error = assert_error(api.get("/metrics", {"score_min": "eleven"}), 400, "invalid_filter")
    assert "score_min" in error["details"]


def test_bad_cursor_and_bad_time_are_400(api):
    assert_error(api.get("/responses", {"cursor": "!!"}), 400, "invalid_cursor")
    error = assert_error(api.get("/responses", {"since": "yesterday"}), 400, "invalid_filter")
    assert "since" in error["details"]


# --- odd input (found by tests/test_api_fuzz.py) ------------------------------


@pytest.mark.parametrize("raw", ['"Abc"', '["Abc"]', "123", "null"])
def test_a_body_that_is_no_object_is_422(api, raw):
    # ninja's Schema read `"Abc"` as {"title": "Abc"} (str.title) and made a share link.
    error = assert_error(api.post("/share-links", raw=raw), 422, "validation_error")
    assert error["details"] == {"body": "Input should be a JSON object."}
    assert not api.get("/share-links").json()


def test_a_nested_object_that_is_no_object_is_422(api):
    error = assert_error(api.post("/surveys", {"name": "x", "texts": {"en": "Hi"}}), 422)
    assert set(error["details"]) == {"texts.en"}


@pytest.mark.parametrize(
    "path,body,field",
    [
        ("/share-links", {"title": "x", "show_identity": 0}, "show_identity"),
        ("/share-links", {"title": "x", "days": "30"}, "days"),
        ("/people", {"email": "a@example.com", "send": "no"}, "send"),
    ],
)
def test_body_values_of_the_wrong_json_type_are_422(api, survey, path, body, field):
    error = assert_error(api.post(path, body), 422, "validation_error")
    assert field in error["details"]


@pytest.mark.parametrize(
    "path,body,field",
    [
        ("/surveys", {"name": "a\x00b"}, "name"),
        ("/surveys", {"name": "x", "texts": {"de": {"intro": "\x00"}}}, "texts.de.intro"),
        ("/people", {"email": "a\x00@example.com", "send": False}, "email"),
        ("/people", {"email": "a@example.com", "first_name": "\x00", "send": False}, "first_name"),
        ("/people", {"email": "a@example.com", "properties": {"k": "\x00"}}, "properties"),
        ("/people", {"email": "a@example.com", "properties": {"k\x00": 1}}, "properties"),
        ("/unsubscribes", {"email": "\x00"}, "email"),
        ("/share-links", {"title": "\x00"}, "title"),
    ],
)
def test_nul_characters_in_a_body_are_422_not_a_database_error(api, survey, path, body, field):
    # PostgreSQL refuses NUL in text and JSON: these were 500s there.
    error = assert_error(api.post(path, body), 422, "validation_error")
    assert field in error["details"]


def test_nul_characters_in_paths_queries_and_filters_are_refused(api, survey, contact):
    response = respond(survey, contact, 9)
    assert "email" in assert_error(api.get("/people", {"email": "a\x00"}), 422)["details"]
    assert_error(api.delete(f"/responses/{response.pk}/tags/a%00b"), 422)
    assert_error(api.delete("/unsubscribes/a%00b@example.com"), 422)
    assert_error(api.post(f"/responses/{response.pk}/tags", {"tags": ["\x00"]}), 422)
    assert_error(api.post(f"/responses/{response.pk}/notes", {"text": "\x00"}), 422)
    for path in ("/responses", "/responses/export", "/metrics"):
        for name in ("q", "tag", "lang", "prop.plan"):
            error = assert_error(api.get(path, {name: "\x00"}), 400, "invalid_filter")
            assert name in error["details"]
    error = assert_error(api.post("/share-links", {"title": "x", "query": "q=%00"}), 400)
    assert "query.q" in error["details"]


def test_non_finite_numbers_are_422(api, survey):
    raw = '{"email": "a@example.com", "send": false, "properties": {"x": NaN}}'
    error = assert_error(api.post("/people", raw=raw), 422)
    assert "properties" in error["details"]


@pytest.mark.parametrize(
    "path,params,name",
    [
        ("/responses", {"assignee": str(2**70)}, "assignee"),
        ("/responses", {"assignee": "²"}, "assignee"),  # str.isdigit, but not for int()
        ("/responses", {"to": "9999-12-31"}, "to"),  # a day past the end is no date
        ("/responses", {"since": "²"}, "since"),
        ("/responses", {"since": "0001-01-01T00:00:00+05:00"}, "since"),
        ("/responses", {"until": "9999-12-31T23:59:59-05:00"}, "until"),
        ("/responses/export", {"from": "0001-01-01"}, "from"),
        ("/metrics", {"from": "0001-01-01"}, "from"),  # the range before it is no date
        ("/metrics", {"to": "9999-12-31"}, "to"),
        ("/metrics", {"rolling": "²"}, "rolling"),
    ],
)
def test_filter_values_python_cannot_use_are_400(api, survey, path, params, name):
    error = assert_error(api.get(path, params), 400, "invalid_filter")
    assert name in error["details"]


def test_dates_far_apart_still_give_metrics(api, survey):
    body = api.get("/metrics", {"from": "2000-01-01", "to": "2099-12-31"}).json()
    assert body["period"] == "quarter" and body["summary"]["total"] == 0


def test_created_at_python_cannot_use_is_422(api, survey):
    for value in ("²", "0001-01-01T00:00:00+05:00"):
        body = {"email": "a@example.com", "created_at": value, "send": False}
        assert "created_at" in assert_error(api.post("/people", body), 422)["details"]


@pytest.mark.parametrize("path", ["/people", "/responses", "/unsubscribes"])
def test_cursors_with_ids_or_times_out_of_range_are_400(api, path):
    for raw in (f"2024-01-01T00:00:00+00:00|{2**70}", "0001-01-01T00:00:00+05:00|1"):
        cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        assert_error(api.get(path, {"cursor": cursor}), 400, "invalid_cursor")


def test_too_large_body_is_413_and_too_many_parameters_400(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    error = assert_error(api.post("/people", {"email": "a@example.com", "name": "x" * 2000}), 413)
    assert error["code"] == "too_large" and error["details"] == {"max_bytes": 1000}
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    params = {f"p{i}": "1" for i in range(10)}
    assert_error(api.get("/people", params), 400, "bad_request")


# --- surveys ----------------------------------------------------------------


def test_survey_create_read_update_pause(api, org_a):
    created = api.post(
        "/surveys",
        {"name": "Onboarding", "min_delay_days": 7, "texts": {"en": {"question": "How likely?"}}},
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["api_key"].startswith("npl_svy_")
    assert body["min_delay_days"] == 7
    assert {t["language"]: t["question"] for t in body["texts"]}["en"] == "How likely?"
    pk = body["id"]
    assert api.get(f"/surveys/{pk}").json()["name"] == "Onboarding"
    assert "api_key" not in api.get(f"/surveys/{pk}").json()
    changed = api.patch(f"/surveys/{pk}", {"max_delay_days": 30, "reply_to": "cx@acme.test"})
    assert changed.status_code == 200
    assert changed.json()["max_delay_days"] == 30
    error = assert_error(api.patch(f"/surveys/{pk}", {"reply_to": "nope"}), 422)
    assert "reply_to" in error["details"]
    assert api.post(f"/surveys/{pk}/pause").json()["status"] == "paused"
    assert Survey.objects.get(pk=pk).status == "paused"
    assert api.post(f"/surveys/{pk}/resume").json()["status"] == "active"
    assert [s["id"] for s in api.get("/surveys").json()] == [pk]


# --- people -----------------------------------------------------------------


def test_people_create_applies_send_rules(api, survey):
    answer = api.post(
        "/people",
        {"email": "Bob@Example.com", "name": "Bob Baker", "properties": {"plan": "pro"}},
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["created"] is True
    assert body["person"]["first_name"] == "Bob" and body["person"]["last_name"] == "Baker"
    assert body["person"]["properties"] == {"plan": "pro"}
    assert body["decision"]["outcome"] == "scheduled"
    assert Invitation.objects.filter(contact_id=body["person"]["id"], source="api").count() == 1
    again = api.post("/people", {"email": "bob@example.com"})
    assert again.status_code == 200
    assert again.json()["decision"]["reason"] == "already_scheduled"


def test_people_with_delay_and_without_send(api, survey):
    before = timezone.now()
    body = api.post(
        "/people", {"email": "c@example.com", "survey_id": survey.pk, "delay": 3600}
    ).json()
    send_at = dt.datetime.fromisoformat(body["decision"]["send_at"])
    assert dt.timedelta(minutes=59) < send_at - before < dt.timedelta(minutes=61)
    quiet = api.post("/people", {"email": "d@example.com", "send": False}).json()
    assert quiet["decision"] is None
    assert not Invitation.objects.filter(contact_id=quiet["person"]["id"]).exists()


def test_people_needs_a_survey_when_there_are_several(api, survey, org_a):
    api.post("/surveys", {"name": "Second"})
    error = assert_error(api.post("/people", {"email": "e@example.com"}), 422)
    assert "survey_id" in error["details"]
    error = assert_error(api.post("/people", {"email": "e@example.com", "survey_id": 99999}), 422)
    assert "survey_id" in error["details"]


def test_people_list_and_read(api, survey, contact):
    respond(survey, contact, 9, "Great")
    listing = api.get("/people", {"email": "ANNA.schmidt@example.com"}).json()
    assert [p["id"] for p in listing["items"]] == [contact.pk]
    detail = api.get(f"/people/{contact.pk}").json()
    assert detail["email"] == "anna.schmidt@example.com"
    assert detail["invitations"][0]["events"][0]["kind"] == "scheduled"
    assert detail["responses"][0]["score"] == 9
    api.post("/people", {"email": contact.email})
    assert Decision.objects.filter(contact=contact).count() == 1
    assert len(api.get(f"/people/{contact.pk}").json()["decisions"]) == 1


def test_people_paging(api, org_a):
    for n in range(5):
        upsert_contact(organization=org_a.organization, email=f"p{n}@example.com")
    first = api.get("/people", {"limit": 2}).json()
    second = api.get("/people", {"limit": 2, "cursor": first["next_cursor"]}).json()
    third = api.get("/people", {"limit": 2, "cursor": second["next_cursor"]}).json()
    emails = [p["email"] for page in (first, second, third) for p in page["items"]]
    assert sorted(emails) == [f"p{n}@example.com" for n in range(5)]
    assert third["next_cursor"] is None


def test_person_export(api, survey, contact):
    respond(survey, contact, 4, "Too slow")
    answer = api.get(f"/people/{contact.pk}/export")
    assert answer.status_code == 200
    assert "attachment" in answer["Content-Disposition"]
    data = answer.json()
    assert data["person"]["email"] == contact.email
    assert data["responses"][0]["comment"] == "Too slow"
    assert data["invitations"]


# --- responses --------------------------------------------------------------


def test_responses_list_filter_page_expand(api, survey, contact, org_a):
    other, _ = upsert_contact(organization=org_a.organization, email="z@example.com")
    low = respond(survey, contact, 2, "Bad")
    high = respond(survey, other, 10)
    everything = api.get("/responses").json()
    assert [r["id"] for r in everything["items"]] == [high.pk, low.pk]
    detractors = api.get("/responses", {"category": "detractor"}).json()["items"]
    assert [r["id"] for r in detractors] == [low.pk]
    assert detractors[0]["person"] is None
    expanded = api.get("/responses", {"comment": "with", "expand": "person"}).json()["items"]
    assert expanded[0]["person"]["email"] == contact.email
    page1 = api.get("/responses", {"limit": 1}).json()
    page2 = api.get("/responses", {"limit": 1, "cursor": page1["next_cursor"]}).json()
    assert [page1["items"][0]["id"], page2["items"][0]["id"]] == [high.pk, low.pk]
    assert page2["next_cursor"] is None


def test_responses_since_until_updated_since(api, survey, contact):
    response = respond(survey, contact, 7)
    old = timezone.now() - dt.timedelta(days=10)
    Response.objects.filter(pk=response.pk).update(created_at=old)
    unix = str(int((old - dt.timedelta(days=1)).timestamp()))
    assert len(api.get("/responses", {"since": unix}).json()["items"]) == 1
    iso = (old + dt.timedelta(days=1)).isoformat()
    assert api.get("/responses", {"since": iso}).json()["items"] == []
    assert len(api.get("/responses", {"until": iso}).json()["items"]) == 1
    later = (timezone.now() + dt.timedelta(minutes=5)).isoformat()
    assert api.get("/responses", {"updated_since": later}).json()["items"] == []


def test_response_read_tags_and_notes(api, survey, contact):
    response = respond(survey, contact, 5, "Meh")
    body = api.post(f"/responses/{response.pk}/tags", {"tags": ["pricing", "ux"]}).json()
    assert body["tags"] == ["pricing", "ux"]
    noted = api.post(f"/responses/{response.pk}/notes", {"text": "Call them"})
    assert noted.status_code == 201
    assert noted.json()["notes"][0]["text"] == "Call them"
    assert noted.json()["notes"][0]["author"] == "owner@acme.test"
    after = api.delete(f"/responses/{response.pk}/tags/ux").json()
    assert after["tags"] == ["pricing"]
    read = api.get(f"/responses/{response.pk}").json()
    assert read["comment"] == "Meh" and read["category"] == "detractor"
    assert [r["id"] for r in api.get("/responses", {"tag": "pricing"}).json()["items"]] == [
        response.pk
    ]
    error = assert_error(api.post(f"/responses/{response.pk}/tags", {"tags": [" "]}), 422)
    assert "tags" in error["details"]


# --- metrics ----------------------------------------------------------------


def test_metrics(api, survey, contact, org_a):
    other, _ = upsert_contact(organization=org_a.organization, email="y@example.com")
    respond(survey, contact, 10, "Love it")
    respond(survey, other, 3)
    body = api.get("/metrics").json()
    assert body["summary"]["total"] == 2
    assert body["summary"]["nps"] == 0.0
    assert body["summary"]["distribution"][10] == 1
    assert body["comments"] == 1
    assert body["breakdown_by"] == "survey"
    assert body["trend"]
    promoters = api.get("/metrics", {"category": "promoter", "period": "week"}).json()
    assert promoters["summary"]["nps"] == 100.0 and promoters["period"] == "week"
    assert_error(api.get("/metrics", {"period": "century"}), 400, "invalid_filter")


# --- unsubscribes and bounces -----------------------------------------------


@pytest.mark.parametrize(
    "kind,field", [("unsubscribes", "unsubscribed_at"), ("bounces", "bounced_at")]
)
def test_suppressions(api, api_read, survey, contact, kind, field):
    invitation = Invitation.objects.create(
        organization=survey.organization,
        survey=survey,
        contact=contact,
        key=f"k-{kind}",
        send_at=timezone.now() + dt.timedelta(days=1),
    )
    added = api.post(f"/{kind}", {"email": contact.email})
    assert added.status_code == 201
    assert added.json()["person_id"] == contact.pk
    contact.refresh_from_db()
    assert getattr(contact, field) is not None
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.CANCELLED
    assert [i["email"] for i in api_read.get(f"/{kind}").json()["items"]] == [contact.email]
    new = api.post(f"/{kind}", {"email": "new@example.com"}).json()
    assert new["email"] == "new@example.com"
    assert_error(api.post(f"/{kind}", {"email": "bad"}), 422, "validation_error")
    assert_error(api_read.delete(f"/{kind}/{contact.email}"), 403)
    assert api.delete(f"/{kind}/{contact.email}").status_code == 204
    contact.refresh_from_db()
    assert getattr(contact, field) is None
    assert_error(api.delete(f"/{kind}/{contact.email}"), 404)


# --- share links ------------------------------------------------------------


def test_share_links(api, api_b, survey, contact):
    respond(survey, contact, 2, "Broken")
    created = api.post("/share-links", {"title": "Detractors", "query": "category=detractor"})
    assert created.status_code == 201
    body = created.json()
    assert body["count"] == 1 and body["state"] == "active"
    assert body["url"].startswith("http://testserver/")
    listed = api.get("/share-links").json()
    assert [link["id"] for link in listed] == [body["id"]]
    assert "url" not in listed[0]
    assert_error(api_b.delete(f"/share-links/{body['id']}"), 404)
    assert api.delete(f"/share-links/{body['id']}").json()["state"] == "revoked"
    error = assert_error(api.post("/share-links", {"title": "x", "query": "colour=red"}), 400)
    assert "query.colour" in error["details"]


# --- docs -------------------------------------------------------------------


def test_docs_page_uses_no_cdn(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn" not in html.lower() and "https://" not in html
    assert "/api/v1/docs/assets/swagger-ui-bundle.js" in html
    asset = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert client.get("/api/v1/docs/assets/..%2Fsettings.py").status_code == 404
    assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "npsloop API"
