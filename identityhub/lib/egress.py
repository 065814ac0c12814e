"""HTTP to URLs that users typed (webhook receivers) without reaching the server's own network.

A tenant admin who may add a webhook must not be able to make the worker POST to the cloud
metadata service, a database port or an intranet page (server-side request forgery). The address
is checked on the socket actually connected, after DNS, so a name that resolves to a private
address, or re-resolves to one later (DNS rebinding), is refused too. Redirects are not followed.

Plain Python: no Django import.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# Names that never denote an internet host (RFC 6761, RFC 8375, and the usual intranet suffixes).
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".corp", ".home.arpa", ".intranet")


class PrivateAddressError(requests.ConnectionError):
    """The URL leads to an address that is not on the public internet."""


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip.is_global and not ip.is_multicast


def local_host_reason(url: str) -> str | None:
    """Why the URL's host is plainly not public (an IP literal or a local name), without DNS."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host:
        return "The URL has no host."
    try:
        public = is_public_address(host)
    except ValueError:  # a name: only DNS can tell, and delivery checks what it connects to
        if host == "localhost" or host.endswith(LOCAL_SUFFIXES) or "." not in host:
            return f"{host} is a local name, not an internet host."
        return None
    return None if public else f"{host} is not a public internet address."


class _Refused(OSError):
    """Raised inside urllib3 (which wraps socket errors); the adapter turns it into PrivateAddressError."""


class _PublicOnly:
    """Mixed into urllib3's connections: refuse a socket whose peer is not a public address."""

    def _new_conn(self):
        sock = super()._new_conn()
        peer = sock.getpeername()[0]
        if not is_public_address(peer):
            sock.close()
            raise _Refused(f"{self.host} is at {peer}, which is not a public internet address: refused.")
        return sock


class _PublicHTTPConnection(_PublicOnly, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicOnly, HTTPSConnection):
    pass


class _PublicHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class _PublicOnlyAdapter(HTTPAdapter):
    def send(self, request, *args, **kwargs):
        try:
            return super().send(request, *args, **kwargs)
        except requests.ConnectionError as exc:
            refused = _refusal_in(exc)
            if refused is None:
                raise
            raise PrivateAddressError(str(refused), request=request) from exc

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PublicHTTPConnectionPool,
            "https": _PublicHTTPSConnectionPool,
        }


def _refusal_in(exc: BaseException, depth: int = 0) -> _Refused | None:
    """Our refusal, wherever urllib3 and requests wrapped it (in args or as the cause)."""
    if isinstance(exc, _Refused):
        return exc
    if depth > 5:
        return None
    inner = [a for a in exc.args if isinstance(a, BaseException)] + [exc.__cause__, exc.__context__]
    for candidate in inner:
        if candidate is not None and (found := _refusal_in(candidate, depth + 1)):
            return found
    return None


def session(allow_private: bool = False) -> requests.Session:
    """A session for user-supplied URLs; with allow_private=False it connects to public addresses only.

    Proxy variables are ignored when guarding: through a proxy the peer would be the proxy, and
    the destination is the proxy's to police (allow private addresses and filter there).
    """
    http = requests.Session()
    if not allow_private:
        http.trust_env = False
        adapter = _PublicOnlyAdapter()
        http.mount("http://", adapter)
        http.mount("https://", adapter)
    return http
