"""Who may read /metrics and the details of a failed /readyz.

With METRICS_TOKEN set: whoever sends `Authorization: Bearer <METRICS_TOKEN>`.
Without it: only a client on this machine (127.0.0.0/8, ::1) that came
directly, not through a proxy (no X-Forwarded-For, X-Real-IP or Forwarded
header), since a proxy on the same machine would make everyone look local.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest

FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


def metrics_token() -> str:
    return getattr(settings, "NPSLOOP_METRICS_TOKEN", "") or ""


def is_local(request: HttpRequest) -> bool:
    if any(header in request.META for header in FORWARDING_HEADERS):
        return False
    try:
        ip = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def bearer_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def denied(request: HttpRequest) -> str | None:
    """None when the request may read operator data, else why not ("token" or "local")."""
    token = metrics_token()
    if token:
        return None if bearer_matches(request, token) else "token"
    return None if is_local(request) else "local"
