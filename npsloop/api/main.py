"""The public REST API, version 1, mounted at /api/v1/."""

from __future__ import annotations

from functools import wraps

from django.http import HttpRequest
from ninja import NinjaAPI

from npsloop.api import errors
from npsloop.api.auth import TokenAuth, rate_headers
from npsloop.api.docs import LocalSwagger
from npsloop.api.insights_api import router as metrics_router
from npsloop.api.notifications_api import router as notifications_router
from npsloop.api.people_api import router as people_router
from npsloop.api.responses_api import router as responses_router
from npsloop.api.shares_api import router as shares_router
from npsloop.api.suppressions_api import router as suppressions_router
from npsloop.api.surveys_api import router as surveys_router

DESCRIPTION = """\
npsloop's REST API: surveys, people, responses, metrics, unsubscribes, bounces,
share links and bulk exports. Authenticate with `Authorization: Bearer <token>`
(Settings → API tokens). Errors always have the body
`{"error": {"code", "message", "details"}}`. Each token may make a limited number
of requests per minute; see the `X-RateLimit-*` headers.
"""


def _with_rate_headers(view):
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        response = view(request, *args, **kwargs)
        quota = getattr(request, "api_quota", None)
        if quota is not None:
            for name, value in rate_headers(quota).items():
                response.headers.setdefault(name, value)
        return response

    return wrapper


class Api(NinjaAPI):
    @property
    def urls(self):
        patterns, app_name, namespace = super().urls
        for pattern in patterns:
            pattern.callback = _with_rate_headers(pattern.callback)
        return patterns, app_name, namespace


api = Api(
    title="npsloop API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api-v1",
    auth=TokenAuth(),
    docs=LocalSwagger(),
    docs_url="/docs",
    openapi_url="/openapi.json",
)
errors.install(api)
api.add_router("", surveys_router)
api.add_router("", people_router)
api.add_router("", responses_router)
api.add_router("", metrics_router)
api.add_router("", suppressions_router)
api.add_router("", shares_router)
api.add_router("", notifications_router)
