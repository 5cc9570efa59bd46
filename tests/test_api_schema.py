"""The committed OpenAPI schema (docs/openapi.json) matches the live one."""

from __future__ import annotations

import json

from npsloop.api.schema import COMMITTED, schema_text


def test_committed_schema_is_current():
    live = schema_text()
    committed = COMMITTED.read_text(encoding="utf-8") if COMMITTED.exists() else ""
    assert json.loads(live) == json.loads(committed or "{}"), (
        "docs/openapi.json is out of date; regenerate it with "
        "`.venv/bin/python -m npsloop.api.schema` and commit the file"
    )


def test_schema_documents_auth_and_error_body():
    schema = json.loads(schema_text())
    assert schema["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    people = schema["paths"]["/api/v1/people"]["post"]["responses"]
    assert people["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")


def test_export_documents_its_file_types_and_bodies_their_size_limit():
    paths = json.loads(schema_text())["paths"]
    export = paths["/api/v1/responses/export"]["get"]["responses"]
    assert set(export["200"]["content"]) == {
        "text/csv",
        "application/x-ndjson",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
    assert "413" in paths["/api/v1/people"]["post"]["responses"]
    assert "413" not in paths["/api/v1/people"]["get"]["responses"]
