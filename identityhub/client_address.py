"""The client's address, for login lockouts (django-axes) and the API's per-address rates (DRF throttles).

Behind a reverse proxy REMOTE_ADDR is the proxy's address for every user. Each proxy appends the address it
received the request from to X-Forwarded-For, after whatever the client put in that header itself. So with
TRUSTED_PROXY_COUNT = N proxies in front of the app, the client is the N-th entry from the right; entries
left of it are the client's own word and forgeable. With 0 (the default) the header is never read.

A header with fewer than N entries, or no address at that place, means the request did not come through
the proxies as configured: REMOTE_ADDR counts then (one shared lockout key, never a forged one).
"""

import ipaddress

from django.conf import settings


def client_address(request) -> str | None:
    remote = request.META.get("REMOTE_ADDR")
    trusted = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if trusted <= 0 or not forwarded:
        return remote
    hops = forwarded.split(",")
    if len(hops) < trusted:
        return remote
    return _address(hops[-trusted]) or remote


def _address(hop: str) -> str | None:
    """An IP address, also as written with a port ("203.0.113.7:51234", "[2001:db8::7]:51234")."""
    text = hop.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
