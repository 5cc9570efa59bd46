"""GET /healthz (the process answers) and GET /readyz (it can do its work).

Both are served by OpsEndpointsMiddleware before sessions, CSRF and the host
check, so a load balancer or Kubernetes may probe by IP address.
"""

from __future__ import annotations

import logging
import re
import time

from django.db import connection
from django.http import HttpRequest, JsonResponse

from npsloop.ops import access, jobs

logger = logging.getLogger("npsloop.ops")

JOBS_TIMEOUT_SECONDS = 3.0
_CREDENTIALS = re.compile(r"://[^/@\s]*@")


def _json(data: dict, status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _not_allowed() -> JsonResponse:
    response = _json({"status": "error", "error": "method not allowed"}, 405)
    response["Allow"] = "GET, HEAD"
    return response


def describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return _CREDENTIALS.sub("://***@", text)[:300]


def check_database() -> dict:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        row = cursor.fetchone()
    if not row or row[0] != 1:
        raise RuntimeError(f"SELECT 1 returned {row!r}")
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def check_jobs() -> dict:
    huey = jobs.get_huey()
    backend = jobs.backend_name(huey)
    if huey.immediate:
        return {"ok": True, "backend": backend}
    started = time.perf_counter()
    pending = jobs.call_with_timeout(huey.pending_count, JOBS_TIMEOUT_SECONDS)
    return {
        "ok": True,
        "backend": backend,
        "pending": int(pending),
        "ms": round((time.perf_counter() - started) * 1000, 1),
    }


CHECKS = {"database": check_database, "jobs": check_jobs}


def healthz(request: HttpRequest) -> JsonResponse:
    if request.method not in ("GET", "HEAD"):
        return _not_allowed()
    return _json({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    if request.method not in ("GET", "HEAD"):
        return _not_allowed()
    # The reason's text (host names, ports) only for operators; others get its kind.
    detailed = access.denied(request) is None
    results: dict[str, dict] = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:
            reason = describe(exc)
            logger.warning("readiness check %s failed: %s", name, reason)
            results[name] = {"ok": False, "error": reason if detailed else type(exc).__name__}
    ok = all(result["ok"] for result in results.values())
    body = {"status": "ok" if ok else "unavailable", "checks": results}
    return _json(body, 200 if ok else 503)
