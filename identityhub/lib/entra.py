"""Signing in with Microsoft Entra ID (OpenID Connect) and checking Entra-issued tokens.

Plain Python (no Django): accounts/views.py and accounts/authentication.py build an EntraClient
from the settings and turn its Identity into a user.

Two libraries, each for what it does best:

* msal (Microsoft's own client, already used for Graph) runs the authorization code flow:
  ``initiate_auth_code_flow`` makes the state, the nonce and the PKCE verifier;
  ``acquire_token_by_auth_code_flow`` checks the state, redeems the code with the verifier and the
  client secret or certificate, and checks the nonce. Since msal 1.38 it deliberately does NOT
  validate the ID token (its signature, issuer, audience or expiry): that is the application's job.
* PyJWT (``PyJWKClient``, installed with msal) validates every token we accept, ID tokens and API
  bearer tokens alike: RS256 signature against the keys the tenant publishes (its JWKS, found
  through the discovery document), audience, expiry, then the tenant (``tid`` in the allowed list)
  and the issuer (the discovery document's, with ``{tenantid}`` replaced by the token's ``tid``), as
  Microsoft's "Secure applications and APIs by validating claims" asks.

Groups overage: a user in more groups than fit in a token gets ``_claim_names``/``_claim_sources``
instead of ``groups``. As Microsoft documents, the app then reads the memberships from Microsoft
Graph (``POST /me/getMemberObjects``) with the delegated token of the same sign-in; the old Azure
AD Graph endpoint named in ``_claim_sources`` is retired and never called.
"""

from __future__ import annotations

import ssl
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
import msal
import requests

# Microsoft's own login hosts: msal knows them without asking login.microsoftonline.com to vouch
# for them; for any other host (a stand-in, a closed network) instance discovery is turned off.
MICROSOFT_LOGIN_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "login.microsoftonline.us",
        "login.partner.microsoftonline.cn",
        "login.chinacloudapi.cn",
    }
)
LEEWAY_SECONDS = 60  # clock skew tolerated on exp/nbf
DISCOVERY_LIFESPAN = 3600.0  # seconds a discovery document (and its key set) is reused
# An unknown key ID re-reads the key set (a key rollover), at most once per this many seconds, so
# tokens with made-up key IDs cannot make us hammer the endpoint.
JWKS_REFRESH_COOLDOWN = 30.0
GROUPS_MAX = 11_000  # getMemberObjects answers at most this many IDs


class EntraRefused(Exception):
    """A sign-in or a token we refuse; ``reason`` is a short code, the message is for the user."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class EntraSettings:
    client_id: str
    tenants: tuple[str, ...]  # allowed Entra tenant IDs (lower case)
    client_secret: str = ""
    certificate_pem: str = ""
    certificate_thumbprint: str = ""
    authority_host: str = "login.microsoftonline.com"
    app_id_uri: str = ""  # api://<client id> when empty
    graph_base_url: str = "https://graph.microsoft.com/v1.0"
    graph_scopes: tuple[str, ...] = ("User.Read", "GroupMember.Read.All")
    ca_bundle: str = ""  # CAs to trust instead of the system's (tests, a TLS-inspecting proxy)
    timeout: float = 10.0

    def __post_init__(self):
        if not self.client_id or not self.tenants:
            raise ValueError("Entra sign-in needs a client ID and at least one tenant ID")
        if bool(self.client_secret) == bool(self.certificate_pem):
            raise ValueError("give either a client secret or a certificate (with its thumbprint)")
        if self.certificate_pem and not self.certificate_thumbprint:
            raise ValueError("a client certificate needs its SHA-1 thumbprint")

    @property
    def authority(self) -> str:
        # One tenant: its own endpoints. Several: "organizations", and our own tenant check.
        tenant = self.tenants[0] if len(self.tenants) == 1 else "organizations"
        return f"https://{self.authority_host}/{tenant}"

    @property
    def api_audiences(self) -> list[str]:
        return [self.client_id, self.app_id_uri or f"api://{self.client_id}"]

    @property
    def credential(self) -> str | dict[str, str]:
        if self.client_secret:
            return self.client_secret
        return {"private_key": self.certificate_pem, "thumbprint": self.certificate_thumbprint}


@dataclass
class Identity:
    """Who signed in (or called the API), from validated claims."""

    oid: str
    tid: str
    upn: str
    name: str
    groups: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    groups_overage: bool = False
    claims: dict = field(default_factory=dict)


class _Session(requests.Session):
    """Ignores REQUESTS_CA_BUNDLE & co. (they would override ``verify``) and never waits forever."""

    def __init__(self, verify: str | bool, timeout: float):
        super().__init__()
        self.trust_env = False
        self.verify = verify
        self._timeout = timeout

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:  # msal passes none to a caller-supplied client
            kwargs["timeout"] = self._timeout
        return super().request(method, url, *args, **kwargs)


class EntraClient:
    """One per configuration (module-level cache in the app): keeps the discovery document and keys."""

    def __init__(self, settings: EntraSettings):
        self.settings = settings
        self.session = _Session(settings.ca_bundle or True, settings.timeout)
        self._ssl = ssl.create_default_context(cafile=settings.ca_bundle or None)
        self._lock = threading.Lock()
        self._discovery: dict | None = None
        self._discovered_at = 0.0
        self._keys: jwt.PyJWKClient | None = None

    # -- discovery and keys ----------------------------------------------------------------------

    def discovery(self) -> dict:
        with self._lock:
            if self._discovery is None or time.monotonic() - self._discovered_at > DISCOVERY_LIFESPAN:
                url = f"{self.settings.authority}/v2.0/.well-known/openid-configuration"
                document = self._get_json(url)
                for key in ("issuer", "jwks_uri", "authorization_endpoint", "token_endpoint"):
                    if not isinstance(document.get(key), str):
                        raise EntraRefused("unreachable", f"The discovery document at {url} has no {key}.")
                self._discovery, self._discovered_at = document, time.monotonic()
                self._keys = jwt.PyJWKClient(
                    document["jwks_uri"],
                    lifespan=DISCOVERY_LIFESPAN,
                    timeout=self.settings.timeout,
                    ssl_context=self._ssl,
                    cooldown_duration=JWKS_REFRESH_COOLDOWN,
                )
            return self._discovery

    def _get_json(self, url: str) -> dict:
        try:
            response = self.session.get(url)
            response.raise_for_status()
            return response.json()
        except (requests.RequestException, ValueError) as exc:
            reason = f"Cannot reach Microsoft Entra ID at {_host(url)}: {_short(exc)}"
            raise EntraRefused("unreachable", reason) from exc

    def end_session_url(self, post_logout_redirect_uri: str) -> str | None:
        endpoint = self.discovery().get("end_session_endpoint")
        if not endpoint:
            return None
        return f"{endpoint}?{urlencode({'post_logout_redirect_uri': post_logout_redirect_uri})}"

    # -- the authorization code flow ----------------------------------------------------------

    def _msal_app(self) -> msal.ConfidentialClientApplication:
        # A fresh app per step: its token cache would otherwise keep every user's tokens forever.
        try:
            return msal.ConfidentialClientApplication(
                self.settings.client_id,
                client_credential=self.settings.credential,
                authority=self.settings.authority,
                http_client=self.session,
                instance_discovery=urlsplit(self.settings.authority).hostname in MICROSOFT_LOGIN_HOSTS,
                token_cache=msal.TokenCache(),
            )
        except (requests.RequestException, ValueError) as exc:
            raise EntraRefused("unreachable", f"Cannot use {self.settings.authority}: {_short(exc)}") from exc

    def begin_sign_in(self, redirect_uri: str) -> dict:
        """msal's flow (state, nonce, PKCE verifier): keep it in the session, send the user to auth_uri."""
        app = self._msal_app()
        with warnings.catch_warnings():
            # msal suggests response_mode=form_post. We keep the query: a cross-site POST back would
            # not carry the SameSite=Lax session cookie that holds the flow, and PKCE already makes a
            # leaked code useless to anyone without this session's verifier.
            warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")
            return app.initiate_auth_code_flow(
                list(self.settings.graph_scopes), redirect_uri=redirect_uri, prompt="select_account"
            )

    def complete_sign_in(self, flow: dict, auth_response: dict[str, str]) -> Identity:
        """Redeem the code (state and nonce checked by msal), validate the ID token, resolve overage."""
        if auth_response.get("error"):
            raise EntraRefused(
                "error",
                f"Microsoft Entra ID did not sign you in: {auth_response.get('error')}: "
                f"{_short(auth_response.get('error_description', ''))}",
            )
        try:
            result = self._msal_app().acquire_token_by_auth_code_flow(flow, auth_response)
        except ValueError as exc:  # msal: state missing or different
            reason = "The sign-in answer does not belong to this browser's sign-in (state)."
            raise EntraRefused("state", reason) from exc
        except RuntimeError as exc:  # msal: nonce different
            raise EntraRefused("nonce", "The ID token was not issued for this sign-in (nonce).") from exc
        except requests.RequestException as exc:
            raise EntraRefused("unreachable", f"Cannot reach Microsoft Entra ID: {_short(exc)}") from exc
        except Exception as exc:
            if self.settings.client_secret:
                raise
            # msal/PyJWT raise assorted types for a key they cannot sign the client assertion with.
            raise EntraRefused(
                "credential",
                "IdentityHub cannot sign in to Entra ID with its certificate (ENTRA_CLIENT_CERTIFICATE "
                f"needs an RSA private key): {type(exc).__name__}",
            ) from exc
        if "error" in result or "id_token" not in result:
            raise EntraRefused(
                "error",
                f"Microsoft Entra ID refused the sign-in: {result.get('error')}: "
                f"{_short(result.get('error_description', ''))}",
            )
        claims = self.validate(result["id_token"], [self.settings.client_id])
        identity = identity_of(claims)
        if identity.groups_overage:
            identity.groups = self.member_groups(result.get("access_token", ""))
            identity.groups_overage = False
        return identity

    def member_groups(self, graph_token: str) -> list[str]:
        """The signed-in user's groups from Microsoft Graph (the overage case)."""
        url = f"{self.settings.graph_base_url.rstrip('/')}/me/getMemberObjects"
        try:
            response = self.session.post(
                url, json={"securityEnabledOnly": False}, headers={"Authorization": f"Bearer {graph_token}"}
            )
            response.raise_for_status()
            values = response.json().get("value", [])
        except (requests.RequestException, ValueError, AttributeError) as exc:
            raise EntraRefused(
                "overage",
                "You are in more groups than fit in a token, and your groups could not be read from "
                f"Microsoft Graph ({_short(exc)}). Ask an administrator to grant GroupMember.Read.All.",
            ) from exc
        return [str(v).lower() for v in values[:GROUPS_MAX] if isinstance(v, str)]

    # -- token validation ------------------------------------------------------------------------

    def validate(self, token: str, audiences: list[str]) -> dict[str, Any]:
        """Claims of an Entra token, or EntraRefused naming what is wrong with it."""
        discovery = self.discovery()
        assert self._keys is not None
        try:
            key = self._keys.get_signing_key_from_jwt(token).key
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=audiences,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "aud", "iss", "tid", "oid"], "verify_iss": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise EntraRefused("expired", "The token has expired.") from exc
        except jwt.InvalidAudienceError as exc:
            raise EntraRefused(
                "audience", f"The token was issued for another application, not for this one ({_aud(token)})."
            ) from exc
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError, jwt.PyJWKClientError) as exc:
            raise EntraRefused(
                "signature", "The token is not signed by a key Microsoft Entra ID publishes for this tenant."
            ) from exc
        except jwt.PyJWTError as exc:
            raise EntraRefused("token", f"The token is not valid: {_short(exc)}") from exc
        tid = str(claims["tid"]).lower()
        if tid not in self.settings.tenants:
            raise EntraRefused("tenant", f"Accounts of Entra tenant {tid} may not sign in to this IdentityHub.")
        expected = discovery["issuer"].replace("{tenantid}", tid)
        if claims["iss"] != expected:
            raise EntraRefused("issuer", f"The token was issued by {claims['iss']}, not by {expected}.")
        return claims


def identity_of(claims: dict) -> Identity:
    overage = "groups" in (claims.get("_claim_names") or {}) and "groups" not in claims
    return Identity(
        oid=str(claims["oid"]).lower(),
        tid=str(claims["tid"]).lower(),
        upn=str(claims.get("upn") or claims.get("preferred_username") or ""),
        name=str(claims.get("name") or ""),
        groups=[str(g).lower() for g in claims.get("groups") or []],
        roles=[str(r) for r in claims.get("roles") or []],
        groups_overage=overage,
        claims=claims,
    )


def _aud(token: str) -> str:
    try:
        return f"audience {jwt.decode(token, options={'verify_signature': False}).get('aud')}"
    except jwt.PyJWTError:
        return "unreadable audience"


def _host(url: str) -> str:
    return urlsplit(url).netloc


def _short(exc: object, limit: int = 200) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[: limit - 1] + "…"
