"""HTTP to URLs that users typed (webhook receivers) without reaching the server's own network.

A tenant admin who may add a webhook must not be able to make the worker POST to the cloud
metadata service, a database port or an intranet page (server-side request forgery). The host is
resolved first and every address it resolves to checked BEFORE any connection is opened (a refusal
after connecting would tell whether the port is open); the connection then goes to an address that
was checked, with no second lookup (DNS rebinding), and the connected peer is checked once more.
A host that is not a valid host name (an invisible or right-to-left character, a label that IDNA
refuses) is refused outright. Redirects are not followed.

Plain Python: no Django import.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

import idna
import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# Names that never denote an internet host (RFC 6761, RFC 8375, and the usual intranet suffixes).
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".corp", ".home.arpa", ".intranet")


# One label of a DNS name (after IDNA): letters, digits, hyphens (not at either end), underscores.
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


class PrivateAddressError(requests.ConnectionError):
    """The URL leads to an address that is not on the public internet."""


def host_error(url: str) -> str | None:
    """Why the URL's host is not a valid internet host: an IP literal, or a DNS name (IDNA 2008 when not ASCII)."""
    host = urlsplit(url).hostname or ""
    if not host:
        return "The URL has no host."
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return None
    except ValueError:
        pass
    name = host.rstrip(".")
    if not name.isascii():
        try:
            # IDNA 2008 as is, without UTS 46 mapping: that would silently drop invisible characters
            # (a zero-width space), so the name shown would not be the name reached.
            name = idna.encode(name.lower()).decode("ascii")
        except idna.IDNAError:
            name = None
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        return f"{host!r} is not a valid internet host name."
    return None


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


def resolve_public(host: str, port: int, lookup=None) -> list[str]:
    """The addresses `host` resolves to, all of them public; otherwise refused, before any connection."""
    infos = (lookup or socket.getaddrinfo)(host, port, 0, socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    private = [address for address in addresses if not is_public_address(address)]
    if private:
        raise _Refused(f"{host} is at {private[0]}, which is not a public internet address: refused.")
    return addresses


class _PublicOnly:
    """Mixed into urllib3's connections: resolve and check first, connect to a checked address, check the peer."""

    def _new_conn(self):
        name = self._dns_host
        try:
            addresses = resolve_public(name, self.port)
        except socket.gaierror:
            return super()._new_conn()  # urllib3 reports the failed lookup in its own words
        failure = None
        for address in addresses:
            self._dns_host = address  # the address just checked: no second lookup
            try:
                sock = super()._new_conn()
                break
            except OSError as exc:
                failure = exc
            finally:
                self._dns_host = name
        else:
            raise failure
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
