"""Request rates of the API: per user, per anonymous address, and wrong tokens per address.

DRF checks throttles only after authentication has succeeded, so a stream of wrong tokens (guessing) would
never be throttled: TokenAuthentication here counts them per client address and, past API_BAD_TOKEN_RATE,
answers 429 before looking at the token at all. Rates are read from the settings when a request comes.
A client address is the one login lockouts count (identityhub.client_address, TRUSTED_PROXY_COUNT).
"""

from django.conf import settings
from rest_framework import authentication, exceptions, throttling

from identityhub.client_address import client_address


class ByClientAddress:
    """DRF's own get_ident trusts X-Forwarded-For blindly (NUM_PROXIES unset): any client could pick its
    address per request and never reach a per-address rate."""

    def get_ident(self, request):
        return client_address(request)


class UserThrottle(ByClientAddress, throttling.UserRateThrottle):
    def get_rate(self):
        return settings.API_USER_RATE


class AnonThrottle(ByClientAddress, throttling.AnonRateThrottle):
    def get_rate(self):
        return settings.API_ANON_RATE


class BadTokenThrottle(ByClientAddress, throttling.SimpleRateThrottle):
    """Counts only what `failed()` records; `allow_request` checks without counting."""

    scope = "bad-token"

    def get_rate(self):
        return settings.API_BAD_TOKEN_RATE

    def get_cache_key(self, request, view=None):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def throttle_success(self):
        return True  # a check, not a request to count

    def failed(self, request) -> None:
        if self.rate is None:
            return
        key = self.get_cache_key(request)
        now = self.timer()
        history = [t for t in self.cache.get(key, []) if t > now - self.duration]
        self.cache.set(key, [now, *history][: self.num_requests], self.duration)


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication, refusing a client address that sent too many wrong tokens."""

    def authenticate(self, request):
        if not authentication.get_authorization_header(request):
            return None  # no token: the session, or anonymous (401)
        throttle = BadTokenThrottle()
        if not throttle.allow_request(request, None):
            raise exceptions.Throttled(throttle.wait(), detail="Too many wrong tokens from this address.")
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            throttle.failed(request)
            raise
