"""The OpenAPI schema as committed in docs/openapi.json.

Regenerate after changing the API:  python -m npsloop.api.schema
(or `npsloop manage export_openapi` once "npsloop.api" is in INSTALLED_APPS).
"""

from __future__ import annotations

import json
from pathlib import Path

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def schema_text() -> str:
    from npsloop.api.main import api

    schema = api.get_openapi_schema(path_prefix="/api/v1/")
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(path: Path = COMMITTED) -> Path:
    path.write_text(schema_text(), encoding="utf-8")
    return path


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "npsloop.settings")
    django.setup()
    print(f"wrote {write()}")
