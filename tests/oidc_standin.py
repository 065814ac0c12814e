"""A stand-in for the Microsoft identity platform (v2.0 endpoints) on 127.0.0.1 over real TLS.

It serves what an app signing users in with Entra ID talks to:

* ``/{tenant}/v2.0/.well-known/openid-configuration``: the discovery document. For a tenant ID the
  issuer is ``https://<host>/{tid}/v2.0``; for ``organizations``/``common`` it is the template
  ``https://<host>/{tenantid}/v2.0``, as Entra publishes it.
* ``/{tenant}/discovery/v2.0/keys``: the JWKS (RSA keys, ``kid``).
* ``/{tenant}/oauth2/v2.0/authorize``: signs in ``next_user`` (no login form: the test chooses who)
  and redirects back with ``code`` and ``state``; PKCE's ``code_challenge`` (S256) is kept.
* ``/{tenant}/oauth2/v2.0/token``: ``authorization_code`` (client secret, PKCE verifier, redirect
  URI checked) answers an RS256 ID token with Entra's claims (oid, tid, upn, preferred_username,
  name, nonce, groups or roles) and a Graph access token; ``client_credentials`` answers an access
  token for the app (``api://<client>/.default``) carrying the app's roles.
* ``/v1.0/me/getMemberObjects``: Microsoft Graph's answer for the groups overage case.
* ``/{tenant}/oauth2/v2.0/logout``: the end-session endpoint (redirects to post_logout_redirect_uri).

A user in more groups than ``group_limit`` gets the overage form instead of ``groups``:
``_claim_names: {"groups": "src1"}`` and ``_claim_sources: {"src1": {"endpoint": ...}}``.

Faults for the refusal tests: ``tamper`` (claims overriding the next ID token's), ``sign_with``
(``"rogue"``: a key not in the JWKS, same ``kid``), ``forge_state`` (the authorize redirect carries
another state).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.tls_standin import StandInHandler, TLSStandIn

TOKEN_LIFETIME = 3600


@dataclass
class EntraUser:
    """A user (or, with ``app_only``, a service principal) of some Entra tenant."""

    upn: str
    name: str
    tid: str
    oid: str = field(default_factory=lambda: str(uuid.uuid4()))
    groups: list[str] = field(default_factory=list)  # group object IDs
    roles: list[str] = field(default_factory=list)  # app role values assigned to the user


@dataclass
class Issued:
    user: EntraUser
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None
    tenant_path: str


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class OIDCStandIn(TLSStandIn):
    name = "oidc-standin"

    def __init__(self, directory: Path, *, client_id: str | None = None, client_secret: str | None = None):
        super().__init__(directory)
        self.handler = _Handler
        self.client_id = client_id or str(uuid.uuid4())
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.kid = secrets.token_hex(8)
        self.key = _rsa_key()
        self.rogue_key = _rsa_key()  # never published
        self._retired: list[tuple[str, rsa.RSAPrivateKey]] = []
        self.group_limit = 200  # Entra's limit for groups in a JWT
        self.next_user: EntraUser | None = None
        self.tamper: dict = {}  # claims overriding those of the next ID token
        self.sign_with = "published"  # or "rogue"
        self.header_kid: str | None = None  # a key ID the JWKS does not have, in the tokens' header
        self.forge_state = False
        self.deny = False  # the user cancels at Entra: error=access_denied comes back
        self.graph_denies = False  # getMemberObjects answers 403 (GroupMember.Read.All not consented)
        self.certificate: x509.Certificate | None = None  # a client certificate instead of the secret
        self.member_objects_calls: list[str] = []  # oid of each getMemberObjects caller
        self.logouts: list[str] = []
        self._codes: dict[str, Issued] = {}
        self._graph_tokens: dict[str, EntraUser] = {}

    # -- what tests use ----------------------------------------------------------------------

    def issuer(self, tid: str) -> str:
        return f"{self.url}/{tid}/v2.0"

    def sign(self, claims: dict, *, key: str = "published") -> str:
        private = self.key if key == "published" else self.rogue_key
        header = {"kid": self.header_kid or self.kid, "typ": "JWT"}
        return jwt.encode(claims, private, algorithm="RS256", headers=header)

    def id_token_claims(self, user: EntraUser, *, audience: str, nonce: str | None) -> dict:
        now = int(time.time())
        claims = {
            "aud": audience,
            "iss": self.issuer(user.tid),
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
            "sub": hashlib.sha256(f"{user.oid}:{audience}".encode()).hexdigest()[:43],
            "oid": user.oid,
            "tid": user.tid,
            "upn": user.upn,
            "preferred_username": user.upn,
            "name": user.name,
            "ver": "2.0",
        }
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(self._group_claims(user))
        if user.roles:
            claims["roles"] = list(user.roles)
        return claims

    def access_token(
        self, user: EntraUser, *, audience: str | None = None, app_only: bool = False, key: str = "published", **extra
    ) -> str:
        """An access token for the app (audience defaults to its client ID), as Entra v2.0 issues."""
        now = int(time.time())
        claims = {
            "aud": audience or self.client_id,
            "iss": self.issuer(user.tid),
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
            "sub": user.oid,
            "oid": user.oid,
            "tid": user.tid,
            "azp": str(uuid.uuid4()),
            "ver": "2.0",
        }
        if not app_only:
            claims |= {"upn": user.upn, "preferred_username": user.upn, "name": user.name, "scp": "access_as_user"}
            claims.update(self._group_claims(user))
        if user.roles:
            claims["roles"] = list(user.roles)
        claims.update(extra)
        return self.sign(claims, key=key)

    def _group_claims(self, user: EntraUser) -> dict:
        if not user.groups:
            return {}
        if len(user.groups) > self.group_limit:
            # The overage form: no groups claim, a pointer to where the memberships can be read.
            return {
                "_claim_names": {"groups": "src1"},
                "_claim_sources": {
                    "src1": {"endpoint": f"https://graph.windows.net/{user.tid}/users/{user.oid}/getMemberObjects"}
                },
            }
        return {"groups": list(user.groups)}

    # -- dispatch (runs in handler threads) --------------------------------------------------

    def handle(self, request: _Handler, method: str) -> None:
        split = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        body = request.read_body()
        parts = split.path.strip("/").split("/")
        if parts[:1] == ["v1.0"]:
            return self._graph(request, method, parts[1:], body)
        tenant, rest = parts[0], parts[1:]
        if method == "GET" and rest == ["v2.0", ".well-known", "openid-configuration"]:
            return request.send_json(200, self._discovery(tenant))
        if method == "GET" and rest == ["discovery", "v2.0", "keys"]:
            return request.send_json(200, self._jwks())
        if method == "GET" and rest == ["oauth2", "v2.0", "authorize"]:
            return self._authorize(request, tenant, query)
        if method == "POST" and rest == ["oauth2", "v2.0", "token"]:
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            return self._token(request, tenant, form)
        if method == "GET" and rest == ["oauth2", "v2.0", "logout"]:
            with self._lock:
                self.logouts.append(query.get("post_logout_redirect_uri", ""))
            target = query.get("post_logout_redirect_uri")
            if target:
                return request.redirect(target)
            return request.send_bytes(200, b"<h1>You signed out of your account</h1>", "text/html")
        return request.send_json(404, _aad_error("invalid_request", 900561, f"No endpoint {split.path}."))

    def _discovery(self, tenant: str) -> dict:
        issuer_tenant = "{tenantid}" if tenant in ("organizations", "common") else tenant
        base = f"{self.url}/{tenant}"
        return {
            "issuer": f"{self.url}/{issuer_tenant}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "name", "tid", "oid", "upn"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "msgraph_host": "graph.microsoft.com",
        }

    def rotate_key(self) -> None:
        """Sign with a new key from now on; the old one stays published (as Entra rolls keys over)."""
        with self._lock:
            self._retired.append((self.kid, self.key))
            self.kid, self.key = secrets.token_hex(8), _rsa_key()

    def _jwks(self) -> dict:
        keys = []
        for kid, key in [(self.kid, self.key), *self._retired]:
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**public, "kid": kid, "use": "sig", "kty": "RSA"})
        return {"keys": keys}

    def _authorize(self, request: _Handler, tenant: str, query: dict) -> None:
        redirect_uri = query.get("redirect_uri")
        if query.get("client_id") != self.client_id or not redirect_uri:
            return request.send_bytes(400, b"AADSTS700016: application not found", "text/plain")
        if self.next_user is None:
            return request.send_bytes(400, b"no test user chosen (next_user)", "text/plain")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return request.send_bytes(400, b"AADSTS9002325: PKCE is required", "text/plain")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = Issued(
                self.next_user, self.client_id, redirect_uri, query.get("nonce"), query["code_challenge"], tenant
            )
        state = "forged-" + secrets.token_urlsafe(8) if self.forge_state else query.get("state", "")
        if self.deny:
            answer = {"error": "access_denied", "error_description": "AADSTS65004: User declined to consent."}
            return request.redirect(f"{redirect_uri}?{urlencode(answer | {'state': state})}")
        request.redirect(f"{redirect_uri}?{urlencode({'code': code, 'state': state, 'session_state': 'x'})}")

    def use_certificate(self, key_type: str = "RSA") -> tuple[str, str]:
        """Register a client certificate for the app; returns (PEM key + certificate, SHA-1 thumbprint).
        Entra accepts RSA keys only; ``key_type="ECDSA"`` makes one it would refuse."""
        kind = trustme.KeyType[key_type]
        leaf = trustme.CA(key_type=kind).issue_cert("identityhub-client", key_type=kind)
        self.certificate = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
        thumbprint = self.certificate.fingerprint(hashes.SHA1()).hex()  # noqa: S303 (x5t is SHA-1 by definition)
        return leaf.private_key_and_cert_chain_pem.bytes().decode(), thumbprint

    def _client_problem(self, tenant: str, form: dict) -> str | None:
        if form.get("client_id") != self.client_id:
            return "Application not found in the directory."
        assertion = form.get("client_assertion")
        if assertion is None:
            return None if form.get("client_secret") == self.client_secret else "Invalid client secret provided."
        if self.certificate is None:
            return "No certificate is registered for the app."
        try:
            jwt.decode(
                assertion,
                self.certificate.public_key(),
                algorithms=["RS256", "PS256"],
                audience=f"{self.url}/{tenant}/oauth2/v2.0/token",
                issuer=self.client_id,
            )
        except jwt.PyJWTError as exc:
            return f"Client assertion failed signature validation: {exc}"
        return None

    def _token(self, request: _Handler, tenant: str, form: dict) -> None:
        problem = self._client_problem(tenant, form)
        if problem:
            return request.send_json(401, _aad_error("invalid_client", 7000215, problem))
        grant = form.get("grant_type")
        if grant == "client_credentials":
            # The app itself: its roles are those assigned to the service principal (next_user).
            if self.next_user is None:
                return request.send_json(400, _aad_error("invalid_request", 900144, "no service principal"))
            token = self.access_token(self.next_user, app_only=True)
            return request.send_json(200, {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "access_token": token})
        if grant != "authorization_code":
            return request.send_json(400, _aad_error("unsupported_grant_type", 70003, "unsupported grant"))
        with self._lock:
            issued = self._codes.pop(form.get("code", ""), None)
        if issued is None:
            return request.send_json(400, _aad_error("invalid_grant", 70008, "The authorization code is invalid."))
        if form.get("redirect_uri") != issued.redirect_uri:
            return request.send_json(400, _aad_error("invalid_grant", 50148, "redirect_uri mismatch."))
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != issued.code_challenge:
            return request.send_json(400, _aad_error("invalid_grant", 501481, "The Code_Verifier does not match."))
        claims = self.id_token_claims(issued.user, audience=self.client_id, nonce=issued.nonce) | self.tamper
        id_token = self.sign(claims, key=self.sign_with)
        graph_token = secrets.token_urlsafe(32)
        with self._lock:
            self._graph_tokens[graph_token] = issued.user
        request.send_json(
            200,
            {
                "token_type": "Bearer",
                "scope": form.get("scope", "openid profile"),
                "expires_in": TOKEN_LIFETIME,
                "access_token": graph_token,
                "id_token": id_token,
            },
        )

    def _graph(self, request: _Handler, method: str, segments: list[str], body: bytes) -> None:
        auth = request.headers.get("Authorization", "")
        with self._lock:
            user = self._graph_tokens.get(auth.removeprefix("Bearer "))
        if user is None:
            return request.send_json(401, {"error": {"code": "InvalidAuthenticationToken", "message": "no token"}})
        if method == "POST" and segments == ["me", "getMemberObjects"] and self.graph_denies:
            return request.send_json(
                403, {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges."}}
            )
        if method == "POST" and segments == ["me", "getMemberObjects"]:
            try:
                json.loads(body or b"{}")
            except ValueError:
                return request.send_json(400, {"error": {"code": "BadRequest", "message": "bad JSON"}})
            with self._lock:
                self.member_objects_calls.append(user.oid)
            return request.send_json(200, {"@odata.context": "...", "value": list(user.groups)})
        return request.send_json(404, {"error": {"code": "Request_ResourceNotFound", "message": "not found"}})


def _aad_error(error: str, number: int, text: str) -> dict:
    return {
        "error": error,
        "error_description": f"AADSTS{number}: {text}",
        "error_codes": [number],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
    }


class _Handler(StandInHandler):
    keep_alive = False
    max_body = 1_000_000

    def redirect(self, location: str) -> None:
        self.send_bytes(302, b"", "text/plain", {"Location": location})


@contextmanager
def run_oidc_standin(directory: Path, **kwargs) -> Iterator[OIDCStandIn]:
    """Start the stand-in, yield it, and stop it (shutdown + join) whatever happens."""
    standin = OIDCStandIn(directory, **kwargs)
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()
