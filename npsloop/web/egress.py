"""Outbound HTTP guard: user-entered URLs must not reach the operator's own network.

A webhook or integration URL is typed by a customer; without this check it could
make npsloop call its database, cloud metadata or admin panels (SSRF). Every address
the host resolves to must be public unless the operator allowed its network with
NPSLOOP_OUTBOUND_ALLOW (tests allow 127.0.0.1).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
import requests.adapters
import urllib3
import urllib3.connection
from django.conf import settings
from django.utils.translation import gettext as _


class UnsafeURL(ValueError):
    """The URL may not be called; the message says why, for the user."""


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        ipaddress.ip_network(item.strip(), strict=False)
        for item in getattr(settings, "NPSLOOP_OUTBOUND_ALLOW", [])
        if item.strip()
    ]


def check_address(address: str) -> None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if any(ip in network for network in _allowed_networks()):
        return
    if not ip.is_global or ip.is_multicast:
        raise UnsafeURL(_("%(ip)s is a private, loopback or reserved address.") % {"ip": ip})


def check_url(url: str, *, resolve: bool = True) -> str:
    """Return the URL when it may be called; raise UnsafeURL otherwise.

    Checks the scheme, the absence of credentials, and (with `resolve`) every address
    the host name resolves to, so a public name pointing at 10.0.0.1 is refused too.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise UnsafeURL(_("This is not a valid URL.")) from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL(_("Enter an http:// or https:// URL."))
    if parts.username or parts.password:
        raise UnsafeURL(_("Put credentials in the settings, not in the URL."))
    if settings.NPSLOOP_OUTBOUND_HTTPS_ONLY and parts.scheme != "https":
        raise UnsafeURL(_("Only https:// URLs are allowed on this server."))
    if not resolve:
        return url.strip()
    try:
        infos = socket.getaddrinfo(
            parts.hostname,
            port or (443 if parts.scheme == "https" else 80),
            type=socket.SOCK_STREAM,
        )
    except (socket.gaierror, UnicodeError) as error:
        raise UnsafeURL(_("The host %(host)s was not found.") % {"host": parts.hostname}) from error
    for info in infos:
        check_address(str(info[4][0]))
    return url.strip()


# --------------------------------------------------------------------------- pinning
# check_url resolves the name, then the HTTP client resolves it again to connect: a name
# whose DNS answer changes in between (DNS rebinding) could pass the check with a public
# address and be called at a private one. The guarded session therefore checks the
# address of every socket it actually connected, before a byte is sent.


class _GuardedHTTPConnection(urllib3.connection.HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        try:
            check_address(str(sock.getpeername()[0]))
        except UnsafeURL:
            sock.close()
            raise
        return sock


class _GuardedHTTPSConnection(_GuardedHTTPConnection, urllib3.connection.HTTPSConnection):
    pass


class _GuardedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPPool,
            "https": _GuardedHTTPSPool,
        }


def guarded_session() -> requests.Session:
    """A requests session whose direct connections may only reach allowed addresses
    (UnsafeURL otherwise). A proxy the operator configured is the operator's choice."""
    session = requests.Session()
    adapter = _GuardedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
