"""Request ids, access log lines and latency; the ops endpoints ahead of the app.

Order in settings.MIDDLEWARE: RequestIdMiddleware first (it times and logs
everything), OpsEndpointsMiddleware second (health checks and metrics skip
sessions, CSRF, locale and the ALLOWED_HOSTS check).
"""

from __future__ import annotations

import logging
import re
import time

from django.http import HttpRequest, HttpResponse

from npsloop.ops import context, health, metrics

access_log = logging.getLogger("npsloop.request")

# URL arguments that are secrets: signed rating/unsubscribe/share tokens, reset links.
SENSITIVE_KWARGS = ("token", "uidb64", "key", "secret")
REDACTED = "[redacted]"
# The same for paths that did not resolve (a link mangled by a mail client).
_TOKEN_PATHS = re.compile(r"^(/(?:r|u|s)/)[^/]+|^(/password-reset/)(?!sent/|done/)[^/]+/[^/]+")

OPS_ENDPOINTS = {
    "/healthz": ("ops:healthz", health.healthz),
    "/readyz": ("ops:readyz", health.readyz),
    "/metrics": ("ops:metrics", metrics.metrics_view),
}
QUIET_VIEWS = {name for name, _view in OPS_ENDPOINTS.values()}


def _fallback_redact(path: str) -> str:
    def hide(match: re.Match) -> str:
        if match.group(1):
            return match.group(1) + REDACTED
        return match.group(2) + REDACTED + "/" + REDACTED

    return _TOKEN_PATHS.sub(hide, path, count=1)


def _view_label(request: HttpRequest) -> str:
    if name := getattr(request, "ops_view", None):
        return name
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or match.route or "unnamed"


class RequestIdMiddleware:
    """X-Request-ID in and out, on every log line; one access line per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request_id = context.request_id_from(request.headers.get("X-Request-ID"))
        request.request_id = request_id
        path = request.path
        ctx = context.RequestContext(
            request_id=request_id, path=path, safe_path=_fallback_redact(path)
        )
        context.begin_request(ctx)
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        response["X-Request-ID"] = request_id
        view = _view_label(request)
        metrics.observe_request(request.method or "", view, response.status_code, seconds)
        access_log.log(
            logging.DEBUG if view in QUIET_VIEWS else logging.INFO,
            "%s %s %s %.1fms",
            (request.method or "")[:16],
            ctx.safe_path,
            response.status_code,
            seconds * 1000,
            extra={
                "method": (request.method or "")[:16],
                "path": ctx.safe_path,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 1),
            },
        )
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        ctx = context.current()
        if ctx is not None:
            safe = ctx.path
            for name in SENSITIVE_KWARGS:
                value = view_kwargs.get(name)
                if value not in (None, ""):
                    safe = safe.replace(str(value), REDACTED)
            ctx.safe_path = _fallback_redact(safe)
        return None


class OpsEndpointsMiddleware:
    """Answers /healthz, /readyz and /metrics itself."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        endpoint = OPS_ENDPOINTS.get(request.path_info)
        if endpoint is None:
            return self.get_response(request)
        request.ops_view, view = endpoint
        return view(request)
