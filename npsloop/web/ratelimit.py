"""Fixed-window request counters in Django's cache, and the client's address.

The same approach as the API's per-token limit (npsloop.api.auth.take): one
counter per key and window, `cache.add` + `cache.incr`, so it works with the
per-process locmem cache and shares its counts between processes and machines
with Redis (CACHE_URL).

Rates are written "N/period": "60/min", "5/hour", "100/s", or a bare number
(per minute); 0 turns the limit off.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, wraps

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse

log = logging.getLogger(__name__)

PERIODS = {
    "s": 1, "sec": 1, "second": 1,
    "m": 60, "min": 60, "minute": 60,
    "h": 3600, "hour": 3600,
    "d": 86400, "day": 86400,
}  # fmt: skip
_RATE = re.compile(r"^\s*(\d+)\s*(?:/\s*(\d*)\s*([a-z]+?)s?)?\s*$")


def clock() -> float:
    """Seconds since the epoch (tests move it)."""
    return time.time()


@dataclass(frozen=True)
class Rate:
    limit: int  # requests per window; 0: no limit
    window: int  # seconds


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    used: int
    retry_after: int  # seconds until the window starts again

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


@lru_cache(maxsize=64)
def parse_rate(value: str | int) -> Rate:
    """ "60/min" → Rate(60, 60); "5/hour", "10/5m", "100/s"; 42 or "42" → 42 per minute."""
    if isinstance(value, int):
        return Rate(max(0, value), 60)
    match = _RATE.match(str(value).lower())
    if not match or match.group(3) not in PERIODS and match.group(3) is not None:
        raise ValueError(f"{value!r} is no rate; write it like 60/min, 5/hour or 100/s")
    count, multiple, unit = match.groups()
    window = int(multiple or 1) * PERIODS[unit or "min"]
    if window <= 0:
        raise ValueError(f"{value!r} is no rate: the period must be longer than 0")
    return Rate(int(count), window)


def rate_setting(name: str, default: str) -> Rate:
    return parse_rate(getattr(settings, name, default))


def _cache():
    return caches[getattr(settings, "NPSLOOP_RATELIMIT_CACHE", "default")]


def _key(scope: str, ident: str, suffix: str = "") -> str:
    # Hashed: idents are user input (user names, addresses) of any length and alphabet.
    digest = hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"npsloop:rl:{scope}:{digest}{suffix}"


def _incr(key: str, timeout: int, what: str) -> int:
    cache = _cache()
    try:
        try:
            return cache.incr(key)
        except ValueError:  # no counter yet
            return 1 if cache.add(key, 1, timeout=timeout) else cache.incr(key)
    except ValueError:  # expired between add and incr
        return 1
    except Exception:  # the cache is down: let the request through, do not fail it
        log.warning("rate limit cache unavailable; %s not counted", what, exc_info=True)
        return 0


def count(scope: str, ident: str, window: int, *, now: float | None = None) -> tuple[int, int]:
    """Count one event in the current fixed window: (events so far, seconds left of it)."""
    now = clock() if now is None else now
    start = int(now // window) * window
    reset_in = max(1, math.ceil(start + window - now))
    return _incr(_key(scope, ident, f":{start}"), window + 5, scope), reset_in


def count_since_first(scope: str, ident: str, window: int) -> int:
    """Count one event in a window that starts with the first one (not on the clock)."""
    return _incr(_key(scope, ident, ":first"), window, scope)


def hit(scope: str, ident: str, rate: Rate, *, now: float | None = None) -> Verdict:
    """Count one request; `allowed` is False once the window's limit is passed."""
    if rate.limit <= 0:
        return Verdict(True, 0, 0, 0)
    used, reset_in = count(scope, ident, rate.window, now=now)
    return Verdict(used <= rate.limit, rate.limit, used, reset_in)


def lock(scope: str, ident: str, seconds: int, *, now: float | None = None) -> None:
    """Refuse `ident` for `seconds` (see `locked_for`)."""
    until = (clock() if now is None else now) + seconds
    try:
        _cache().set(_key(scope, ident, ":lock"), until, timeout=seconds)
    except Exception:
        log.warning("rate limit cache unavailable; %s not locked", scope, exc_info=True)


def locked_for(scope: str, ident: str, *, now: float | None = None) -> int:
    """Seconds `ident` is still refused; 0 when it is not."""
    try:
        until = _cache().get(_key(scope, ident, ":lock"))
    except Exception:
        log.warning("rate limit cache unavailable; %s not checked", scope, exc_info=True)
        return 0
    if not isinstance(until, int | float):
        return 0
    left = until - (clock() if now is None else now)
    return math.ceil(left) if left > 0 else 0


def reset(scope: str, ident: str, window: int, *, now: float | None = None) -> None:
    """Forget the counts and any lock of `ident`."""
    now = clock() if now is None else now
    start = int(now // window) * window
    keys = [_key(scope, ident, suffix) for suffix in (f":{start}", ":first", ":lock")]
    try:
        _cache().delete_many(keys)
    except Exception:
        log.warning("rate limit cache unavailable; %s not reset", scope, exc_info=True)


# --- who is asking -----------------------------------------------------------------


@lru_cache(maxsize=16)
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress._BaseNetwork, ...]:
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def _address(value: str) -> ipaddress._BaseAddress | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or the client a trusted proxy names in X-Forwarded-For.

    Only when REMOTE_ADDR is in TRUSTED_PROXIES is X-Forwarded-For read, from the
    right: the first address that is not itself a trusted proxy is the client.
    Anything left of it was written by the client and may be made up.
    """
    remote = _address(request.META.get("REMOTE_ADDR", ""))
    if remote is None:
        return request.META.get("REMOTE_ADDR", "") or "unknown"
    trusted = _networks(tuple(getattr(settings, "NPSLOOP_TRUSTED_PROXIES", ())))
    if not trusted or not any(remote in net for net in trusted):
        return str(remote)
    client = remote
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        client = address
        if not any(address in net for net in trusted):
            break
    return str(client)


def client_key(request: HttpRequest) -> str:
    """The client's address as a rate limit key; IPv6 by /64, what one subscriber gets."""
    ip = client_ip(request)
    address = _address(ip)
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return ip


def count_by_ip(
    request: HttpRequest,
    scope: str,
    setting: str,
    default: str,
    refused: Callable[[HttpRequest, Verdict], HttpResponse],
) -> HttpResponse | None:
    """Count the request against its client's limit: None while allowed, else the
    refusal (with `Retry-After`). For a view that counts only some requests."""
    verdict = hit(scope, client_key(request), rate_setting(setting, default))
    if verdict.allowed:
        return None
    response = refused(request, verdict)
    response["Retry-After"] = str(verdict.retry_after)
    return response


def limit_by_ip(
    scope: str,
    setting: str,
    default: str,
    refused: Callable[[HttpRequest, Verdict], HttpResponse],
):
    """View decorator: `refused(request, verdict)` answers past the client's limit.

    The answer gets `Retry-After`; the limit is read from settings on each request.
    """

    def decorate(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if answer := count_by_ip(request, scope, setting, default, refused):
                return answer
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
