"""Microsoft Graph for sync health: an msal client-credentials token plus read-only GETs.

Plain Python (no Django): health/tasks.py loads a Tenant row, builds a GraphClient and calls
pull_health(); the result is a HealthReport of plain values.

Facts this module relies on: the client credentials flow
(https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow), the
organization, user, group and onPremisesProvisioningError resources of Graph v1.0
(https://learn.microsoft.com/en-us/graph/api/resources/organization, .../resources/user,
.../resources/onpremisesprovisioningerror), paging (https://learn.microsoft.com/en-us/graph/paging)
and throttling (https://learn.microsoft.com/en-us/graph/throttling). Two deliberate choices:

* One requests.Session with ``trust_env = False`` serves both msal and Graph. With trust_env on,
  requests lets REQUESTS_CA_BUNDLE (set on our machines) override the session's ``verify``, so a
  private CA (test stand-in, TLS-inspecting proxy) is silently ignored. The price is that proxy
  variables are ignored too, hence the explicit ``proxies`` argument.
* Instance discovery is off whenever the authority host is not a Microsoft login host. For
  Microsoft hosts msal skips it anyway; for any other host it would ask login.microsoftonline.com
  to vouch for the host, which fails for a stand-in or a closed network. It is not tied to
  ``ca_bundle``: a CA bundle says whom TLS trusts (e.g. a proxy in front of the real
  login.microsoftonline.com), not which host issues tokens.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import msal
import requests

KINDS = ("users", "groups", "contacts")
OBJECT_TYPES = {"users": "user", "groups": "group", "contacts": "contact"}

# Path prefix -> the least-privileged application permission Graph wants for a GET on it (the
# "Permissions" table of each request's page on learn.microsoft.com/graph/api/...). The most
# specific prefix is tried first.
PERMISSIONS = {
    "/organization": "Organization.Read.All",
    "/domains": "Domain.Read.All",
    "/users": "User.Read.All",
    "/groups": "Group.Read.All",
    "/contacts": "OrgContact.Read.All",
    # serviceprincipal-list: Application.Read.All
    "/servicePrincipals": "Application.Read.All",
    # synchronization-synchronizationjob-list / -get: Synchronization.Read.All
    "/servicePrincipals/*/synchronization": "Synchronization.Read.All",
    # provisioningobjectsummary-list: AuditLog.Read.All (and Directory.Read.All)
    "/auditLogs/provisioning": "AuditLog.Read.All",
    # subscribedsku-list: LicenseAssignment.Read.All (Organization.Read.All also does)
    "/subscribedSkus": "LicenseAssignment.Read.All",
}
# What else grants a read where the least-privileged permission is missing, for the 403 message.
ALSO_GRANTED_BY = {
    "Organization.Read.All": "Directory.Read.All also grants it",
    "Domain.Read.All": "Directory.Read.All also grants it",
    "User.Read.All": "Directory.Read.All also grants it",
    "Group.Read.All": "Directory.Read.All also grants it",
    "OrgContact.Read.All": "Directory.Read.All also grants it",
    "Application.Read.All": "Directory.Read.All also grants it",
    "LicenseAssignment.Read.All": "Organization.Read.All or Directory.Read.All also grant it",
    "AuditLog.Read.All": "Microsoft lists it together with Directory.Read.All; provisioning logs also "
    "need an Entra ID P1 or P2 licence in the tenant",
    "Synchronization.Read.All": "Directory.Read.All does not grant it",
}

# Microsoft's own login hosts (public and national clouds): msal knows them without discovery.
MICROSOFT_LOGIN_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "sts.windows.net",
        "login.microsoftonline.us",
        "login.partner.microsoftonline.cn",
        "login.chinacloudapi.cn",
    }
)

# Only the user object has a UPN and an immutable ID: $select of an unknown property is a 400.
_COMMON_FIELDS = (
    "id",
    "displayName",
    "mail",
    "proxyAddresses",
    "onPremisesSyncEnabled",
    "onPremisesProvisioningErrors",
)
SELECT_FIELDS = {
    # usageLocation and licenseAssignmentStates feed licences.LicenceTally in the same pass.
    "users": _COMMON_FIELDS
    + ("userPrincipalName", "onPremisesImmutableId", "usageLocation", "licenseAssignmentStates"),
    "groups": _COMMON_FIELDS,
    "contacts": _COMMON_FIELDS,
}

THROTTLE_STATUSES = frozenset({429, 503, 504})
RETRY_AFTER_CAP = 120.0  # a background pull may wait a while, never for an unbounded server value
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
_DESCRIPTION_MAX = 240


class GraphError(Exception):
    """Any failure talking to Graph or its token endpoint; the message is meant for the user."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class GraphAuthError(GraphError):
    """The token endpoint refused us: wrong secret or certificate, unknown tenant or client."""


class GraphPermissionError(GraphError):
    """Graph answered 401/403: the application permission named in ``permission`` is missing."""

    def __init__(self, message: str, *, permission: str | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.permission = permission


class GraphConnectionError(GraphError):
    """The host could not be reached (refused, DNS, timeout)."""

    def __init__(self, message: str, *, host: str, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.host = host


class GraphTLSError(GraphConnectionError):
    """TLS to the host failed, typically a certificate signed by a CA we do not trust."""


class _Session(requests.Session):
    """A Session that ignores the environment and applies a default timeout to every call."""

    def __init__(self, verify: str | bool, timeout: float, proxies: dict[str, str] | None):
        super().__init__()
        self.trust_env = False  # see the module docstring: REQUESTS_CA_BUNDLE would win otherwise
        self.verify = verify
        self.proxies.update(proxies or {})
        self._timeout = timeout

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        # msal passes no timeout to a caller-supplied http_client; never hang a worker.
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().request(method, url, *args, **kwargs)


def required_permission(path: str) -> str | None:
    """The application permission Graph checks for a GET on ``path`` (a path or a full URL)."""
    path = urlsplit(path).path
    path = re.sub(r"^/(v1\.0|beta)(?=/)", "", path)
    # Longest prefix first; "*" stands for one path segment (an object ID).
    for prefix in sorted(PERMISSIONS, key=len, reverse=True):
        pattern = re.escape(prefix).replace(r"\*", "[^/]+")
        if re.fullmatch(f"{pattern}(/.*)?", path):
            return PERMISSIONS[prefix]
    return None


def _shorten(text: str | None) -> str:
    """First line of a Microsoft error description: drops Trace ID / Correlation ID / Timestamp."""
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= _DESCRIPTION_MAX else line[: _DESCRIPTION_MAX - 1] + "…"


def _network_reason(exc: Exception) -> str:
    """The useful part of a requests/urllib3 error, which otherwise nests four exceptions deep."""
    text = str(exc)
    found = re.search(r"\[SSL: [A-Z_]+\][^'\")(]*", text) or re.search(r"\[Errno -?\d+\][^'\")]*", text)
    if found:
        return found.group(0).strip()
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    return type(exc).__name__


def _host_of(url: str) -> str:
    return urlsplit(url).netloc


class GraphClient:
    """msal client-credentials token (cached on the instance) plus Graph GETs with back-off."""

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        *,
        client_secret: str | None = None,
        certificate_pem: str | None = None,
        certificate_thumbprint: str | None = None,
        authority_host: str = "login.microsoftonline.com",
        base_url: str = "https://graph.microsoft.com/v1.0",
        ca_bundle: str | None = None,
        timeout: float = 30,
        max_retries: int = 4,
        sleep: Callable[[float], Any] = time.sleep,
        proxies: dict[str, str] | None = None,
    ):
        if bool(client_secret) == bool(certificate_pem):
            raise ValueError("give either client_secret or certificate_pem (with its thumbprint)")
        if certificate_pem and not certificate_thumbprint:
            raise ValueError("certificate_pem needs certificate_thumbprint (SHA-1, as the portal shows)")
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.authority = f"https://{authority_host}/{tenant_id}"
        self.base_url = base_url.rstrip("/")
        base = urlsplit(self.base_url)
        # The token's audience is the Graph host itself, so national clouds work unchanged.
        self.scope = f"{base.scheme}://{base.netloc}/.default"
        self.max_retries = max_retries
        self.sleep = sleep
        self.session = _Session(ca_bundle or True, timeout, proxies)
        self.token_cache = msal.TokenCache()  # lives as long as the client: tokens are reused
        if client_secret:
            self._credential: str | dict[str, str] = client_secret
        else:
            self._credential = {"private_key": certificate_pem, "thumbprint": certificate_thumbprint}
        self._instance_discovery = urlsplit(self.authority).hostname in MICROSOFT_LOGIN_HOSTS
        self._app: msal.ConfidentialClientApplication | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- token -----------------------------------------------------------------------------------

    def _msal_app(self) -> msal.ConfidentialClientApplication:
        # Built lazily: msal fetches the tenant's OpenID configuration in its constructor, and
        # building a client (e.g. in a form's clean()) should not touch the network.
        if self._app is None:
            with self._network_errors(self.authority):
                try:
                    self._app = msal.ConfidentialClientApplication(
                        self.client_id,
                        client_credential=self._credential,
                        authority=self.authority,
                        token_cache=self.token_cache,
                        http_client=self.session,
                        instance_discovery=self._instance_discovery,
                    )
                except ValueError as exc:
                    raise GraphAuthError(self._discovery_message(exc)) from exc
        return self._app

    def _discovery_message(self, exc: ValueError) -> str:
        # msal wraps the endpoint's JSON (e.g. AADSTS90002 for an unknown tenant) in the
        # context of its own ValueError; dig it out so the user sees Microsoft's reason.
        detail = str(exc)
        _, _, body = str(exc.__context__ or "").partition("Error: ")
        try:
            answer = json.loads(body)
            detail = f"{answer.get('error')}: {answer.get('error_description')}"
        except ValueError:
            pass
        return f"Cannot use tenant {self.tenant_id} at {self.authority}: {_shorten(detail)}"

    def access_token(self) -> str:
        """A Graph token: from the instance's cache while valid, else from the token endpoint."""
        app = self._msal_app()
        with self._network_errors(self.authority):
            try:
                result = app.acquire_token_for_client(scopes=[self.scope])
            except requests.exceptions.RequestException:
                raise  # _network_errors names the host
            except Exception as exc:
                if isinstance(self._credential, str):
                    raise
                # msal/PyJWT raise assorted types for a key they cannot sign with.
                raise GraphAuthError(
                    "Cannot sign the client assertion with this private key (an app certificate "
                    f"needs an RSA key): {type(exc).__name__}"
                ) from exc
        if "access_token" in result:
            return result["access_token"]
        raise GraphAuthError(
            f"Token refused for client {self.client_id} in tenant {self.tenant_id}: "
            f"{result.get('error')}: {_shorten(result.get('error_description'))}",
            code=result.get("error"),
        )

    # -- GETs ------------------------------------------------------------------------------------

    def get(self, path: str, params: dict | None = None, headers: dict | None = None) -> Any:
        """GET a Graph path (relative to base_url) or a nextLink URL; returns the parsed JSON."""
        response = self._request(path, params, headers)
        try:
            return response.json()
        except ValueError as exc:
            raise GraphError(f"Graph answered GET {urlsplit(response.url).path} with no JSON") from exc

    def get_all(self, path: str, params: dict | None = None) -> Iterator[dict]:
        """Every item of a collection, following @odata.nextLink until Graph stops giving one."""
        url: str | None = path
        while url:
            page = self.get(url, params)
            yield from page.get("value", [])
            url = page.get("@odata.nextLink")
            params = None  # the nextLink already carries the query, including $skiptoken

    def count(self, path: str, filter: str | None = None) -> int:
        """``GET {path}/$count``: an advanced query, so it needs ConsistencyLevel: eventual."""
        params = {"$filter": filter} if filter else None
        response = self._request(
            path.rstrip("/") + "/$count", params, {"ConsistencyLevel": "eventual", "Accept": "text/plain"}
        )
        text = response.content.decode("utf-8-sig").strip()  # tolerate a BOM before the digits
        if not text.isdigit():
            raise GraphError(f"Graph answered {path}/$count with {text[:40]!r}, not a number")
        return int(text)

    def _url(self, path: str) -> str:
        if "://" not in path:
            return f"{self.base_url}/{path.lstrip('/')}"
        # A nextLink is called as is, but the bearer token goes only to the Graph host we know.
        if _host_of(path) != _host_of(self.base_url) or not path.startswith("https://"):
            raise GraphError(f"Refusing to send the Graph token to {_host_of(path) or path}")
        return path

    def _request(self, path: str, params: dict | None, headers: dict | None) -> requests.Response:
        url = self._url(path)
        shown = urlsplit(url).path
        for attempt in range(self.max_retries + 1):
            response = self._send(url, params, headers, last=attempt == self.max_retries)
            if response is not None and response.status_code < 400:
                return response
            if response is not None and not _retryable(response.status_code):
                raise self._http_error(response, shown)
            if attempt == self.max_retries and response is not None:
                raise self._gave_up(response, shown)
            self.sleep(self._delay(response, attempt))
        raise AssertionError("unreachable")  # the loop returns or raises

    def _send(self, url: str, params, headers, *, last: bool) -> requests.Response | None:
        """One attempt; None means a connection failure worth retrying (not TLS: that is fatal)."""
        all_headers = {"Authorization": f"Bearer {self.access_token()}", "Accept": "application/json"}
        all_headers.update(headers or {})
        try:
            return self.session.get(url, params=params, headers=all_headers)
        except requests.exceptions.SSLError as exc:
            raise self._tls_error(url, exc) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            if last:
                raise self._connection_error(url, exc, attempts=self.max_retries + 1) from exc
            return None

    def _delay(self, response: requests.Response | None, attempt: int) -> float:
        if response is not None and response.status_code in THROTTLE_STATUSES:
            retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            if retry_after is not None:
                return min(retry_after, RETRY_AFTER_CAP)
        return min(BACKOFF_BASE * 2**attempt, BACKOFF_CAP)

    # -- errors ----------------------------------------------------------------------------------

    def _http_error(self, response: requests.Response, path: str) -> GraphError:
        code, message = _graph_error(response)
        what = f"Graph answered {response.status_code} {code}: {message} (GET {path})"
        if response.status_code in (401, 403):
            permission = required_permission(path)
            needed = f"the application permission {permission}" if permission else "a read permission"
            also = ALSO_GRANTED_BY.get(permission or "", "")
            return GraphPermissionError(
                f"{what}. The app registration needs {needed} with admin consent" + (f" ({also})." if also else "."),
                permission=permission,
                status=response.status_code,
                code=code,
            )
        return GraphError(what, status=response.status_code, code=code)

    def _gave_up(self, response: requests.Response, path: str) -> GraphError:
        code, message = _graph_error(response)
        return GraphError(
            f"Graph kept failing GET {path}: {response.status_code} {code}: {message} "
            f"after {self.max_retries + 1} attempts; try again later",
            status=response.status_code,
            code=code,
        )

    def _connection_error(self, url: str, exc: Exception, attempts: int = 1) -> GraphConnectionError:
        host = _host_of(url)
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return GraphConnectionError(f"Cannot reach {host}{tries}: {_network_reason(exc)}", host=host)

    def _tls_error(self, url: str, exc: Exception) -> GraphTLSError:
        host = _host_of(url)
        trusted = self.session.verify if isinstance(self.session.verify, str) else "the default CA store"
        return GraphTLSError(
            f"TLS to {host} failed: {_network_reason(exc)}. Its certificate is not trusted by "
            f"{trusted}; if a proxy or private CA signs it, set the CA bundle.",
            host=host,
        )

    @contextmanager
    def _network_errors(self, url: str) -> Iterator[None]:
        """Turns requests' exceptions (also those raised inside msal) into our own errors."""
        try:
            yield
        except requests.exceptions.SSLError as exc:
            raise self._tls_error(url, exc) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise self._connection_error(url, exc) from exc


def unread_part(part: str, exc: GraphError) -> dict:
    """The ``problems`` entry of an optional read (Cloud Sync, licensing) that Graph refused: a
    missing permission, or a query this tenant's Graph does not take (400/404). Anything else
    (throttling that does not end, an outage) is re-raised and fails the pull as usual."""
    if not (isinstance(exc, GraphPermissionError) or exc.status in (400, 404)):
        raise exc
    permission = exc.permission if isinstance(exc, GraphPermissionError) else None
    return {"part": part, "permission": permission, "status": exc.status, "message": str(exc)}


def _retryable(status: int) -> bool:
    return status in THROTTLE_STATUSES or status >= 500


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds; Graph sends an integer, HTTP also allows a date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _graph_error(response: requests.Response) -> tuple[str, str]:
    """(code, message) from Graph's error body, with the request-id Microsoft support asks for."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {}
    code = error.get("code") or response.reason or "error"
    message = _shorten(error.get("message") or response.text[:200]) or "(no message)"
    request_id = (error.get("innerError") or {}).get("request-id")
    if request_id:
        message = f"{message} [request-id {request_id}]"
    return code, message


# -- higher level: plain functions over a GraphClient ----------------------------------------------


def parse_datetime(value: str | None) -> datetime | None:
    """Graph's ISO timestamps as tz-aware datetimes (UTC when Graph omits the offset)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def fetch_organization(client: GraphClient) -> dict:
    """Tenant sync state. No $select: onPremisesLastPasswordSyncDateTime is not confirmed to
    exist, and selecting an unknown property would turn the whole call into a 400."""
    orgs = client.get("/organization").get("value") or []
    if not orgs:
        raise GraphError("Graph returned no organization for this tenant")
    org = orgs[0]
    return {
        "id": org.get("id"),
        "display_name": org.get("displayName"),
        "sync_enabled": org.get("onPremisesSyncEnabled") is True,  # null: never synced
        "last_sync": parse_datetime(org.get("onPremisesLastSyncDateTime")),
        "last_password_sync": parse_datetime(org.get("onPremisesLastPasswordSyncDateTime")),
        "verified_domains": [d["name"] for d in org.get("verifiedDomains") or [] if d.get("name")],
    }


def fetch_domains(client: GraphClient) -> list[dict]:
    return [
        {
            "name": d.get("id"),
            "authentication_type": d.get("authenticationType"),
            "is_verified": bool(d.get("isVerified")),
            "is_default": bool(d.get("isDefault")),
        }
        for d in client.get_all("/domains")
    ]


def fetch_counts(client: GraphClient) -> dict[str, dict[str, int]]:
    """Synced and cloud-only counts per kind with two $count calls each.

    cloud-only = total - synced, rather than a filter on null: graph.md confirms only
    ``onPremisesSyncEnabled eq true``, and the difference also counts objects whose sync was
    turned off (false), which are cloud-managed now. Both counts are eventually consistent, so
    the difference is clamped at 0.
    """
    counts = {}
    for kind in KINDS:
        total = client.count(f"/{kind}")
        synced = client.count(f"/{kind}", "onPremisesSyncEnabled eq true")
        counts[kind] = {"synced": synced, "cloud_only": max(total - synced, 0)}
    return counts


def iter_directory_objects(client: GraphClient, kind: str) -> Iterator[dict]:
    """Users, groups or contacts with the sync-relevant properties, every key always present."""
    if kind not in SELECT_FIELDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    fields = SELECT_FIELDS[kind]
    params = {"$select": ",".join(fields), "$top": "999"}
    for item in client.get_all(f"/{kind}", params):
        yield {
            "id": item.get("id"),
            "displayName": item.get("displayName"),
            "userPrincipalName": item.get("userPrincipalName"),
            "mail": item.get("mail"),
            "proxyAddresses": item.get("proxyAddresses") or [],
            "onPremisesSyncEnabled": item.get("onPremisesSyncEnabled"),
            "onPremisesImmutableId": item.get("onPremisesImmutableId"),
            "onPremisesProvisioningErrors": item.get("onPremisesProvisioningErrors") or [],
            "usageLocation": item.get("usageLocation"),
            "licenseAssignmentStates": item.get("licenseAssignmentStates") or [],
        }


@dataclass
class HealthReport:
    sync_enabled: bool
    last_sync: datetime | None
    last_password_sync: datetime | None
    verified_domains: list[str]
    domains: list[dict]
    counts: dict[str, dict[str, int]]
    provisioning_errors: list[dict] = field(default_factory=list)
    # (kind, value) with kind "upn" | "smtp" | "mail", value lower-cased: Entra compares these
    # case-insensitively. Deduplicated, so a tenant of 100k users stays a compact list.
    cloud_only_identities: list[tuple[str, str]] = field(default_factory=list)
    # address value -> which cloud-only object holds it ("user 'Eve' (eve@x.com, id ...)"), so a
    # collision finding can name the object to rename or delete in Entra ID.
    cloud_only_holders: dict[str, str] = field(default_factory=dict)
    # Synced objects without provisioning errors: ("anchor", onPremisesImmutableId) plus their
    # addresses as above. health/ uses it to see that a fixed object arrived ("verified clean").
    # Not in to_json(): it is for matching, and as large as the directory.
    synced_clean_identities: list[tuple[str, str]] = field(default_factory=list)
    # cloudsync.read_cloud_sync() and licences.read_licensing(): plain dicts, datetimes in errors.
    cloud_sync: dict = field(default_factory=dict)
    licensing: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "sync_enabled": self.sync_enabled,
            "last_sync": _iso(self.last_sync),
            "last_password_sync": _iso(self.last_password_sync),
            "verified_domains": list(self.verified_domains),
            "domains": [dict(d) for d in self.domains],
            "counts": {kind: dict(c) for kind, c in self.counts.items()},
            "provisioning_errors": [{**e, "occurred": _iso(e["occurred"])} for e in self.provisioning_errors],
            "cloud_only_identities": [[kind, value] for kind, value in self.cloud_only_identities],
            "cloud_only_holders": dict(self.cloud_only_holders),
            "cloud_sync": _jsonable(self.cloud_sync),
            "licensing": _jsonable(self.licensing),
        }


def _jsonable(value: Any) -> Any:
    """Datetimes as ISO strings, recursively (the sections are otherwise JSON already)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def provisioning_errors_of(obj: dict, kind: str) -> Iterator[dict]:
    for error in obj["onPremisesProvisioningErrors"]:
        yield {
            "object_id": obj["id"],
            "object_type": OBJECT_TYPES[kind],
            "display_name": obj["displayName"],
            "upn": obj["userPrincipalName"],
            "immutable_id": obj["onPremisesImmutableId"],
            "category": error.get("category"),
            "property": error.get("propertyCausingError"),
            "value": error.get("value"),
            "occurred": parse_datetime(error.get("occurredDateTime")),
        }


def identities_of(obj: dict) -> Iterator[tuple[str, str]]:
    """UPN, SMTP proxy addresses (primary and secondary) and mail of one object."""
    if obj["userPrincipalName"]:
        yield "upn", obj["userPrincipalName"].lower()
    for proxy in obj["proxyAddresses"]:
        prefix, _, address = proxy.partition(":")
        if prefix.lower() == "smtp" and address:
            yield "smtp", address.lower()
    if obj["mail"]:
        yield "mail", obj["mail"].lower()


def holder_of(obj: dict, kind: str) -> str:
    """How a cloud-only object is named to an admin: type, display name, sign-in name, object ID."""
    name = obj.get("userPrincipalName") or obj.get("mail") or ""
    return f"{OBJECT_TYPES[kind]} '{obj.get('displayName') or ''}' ({name + ', ' if name else ''}id {obj['id']})"


def pull_health(client: GraphClient, *, provisioning_days: int = 7, now: datetime | None = None) -> HealthReport:
    """Everything the health page shows, in one pass over the directory.

    Counts are tallied from the same listing that yields the provisioning errors instead of
    calling fetch_counts(): the listing is needed anyway, its numbers are exact where $count is
    eventually consistent, and the errors and counts then describe the same moment. Cloud Sync and
    licensing are read after it; a permission missing for them is recorded, not fatal.
    """
    # Imported here: both modules build on this one's client.
    from .cloudsync import read_cloud_sync
    from .licences import LicenceTally, read_licensing

    tally = LicenceTally()
    org = fetch_organization(client)
    domains = fetch_domains(client)
    counts = {kind: {"synced": 0, "cloud_only": 0} for kind in KINDS}
    errors: list[dict] = []
    identities: dict[tuple[str, str], None] = {}  # an ordered set
    holders: dict[str, str] = {}
    synced_clean: dict[tuple[str, str], None] = {}
    for kind in KINDS:
        for obj in iter_directory_objects(client, kind):
            synced = obj["onPremisesSyncEnabled"] is True
            counts[kind]["synced" if synced else "cloud_only"] += 1
            if kind == "users":
                tally.add_user(obj)
            errors.extend(provisioning_errors_of(obj, kind))
            if not synced:
                for identity in identities_of(obj):
                    identities[identity] = None
                    holders.setdefault(identity[1], holder_of(obj, kind))
            elif not obj["onPremisesProvisioningErrors"]:
                if obj["onPremisesImmutableId"]:
                    synced_clean[("anchor", obj["onPremisesImmutableId"])] = None
                synced_clean.update(dict.fromkeys(identities_of(obj)))
    return HealthReport(
        sync_enabled=org["sync_enabled"],
        last_sync=org["last_sync"],
        last_password_sync=org["last_password_sync"],
        verified_domains=org["verified_domains"],
        domains=domains,
        counts=counts,
        provisioning_errors=errors,
        cloud_only_identities=list(identities),
        cloud_only_holders=holders,
        synced_clean_identities=list(synced_clean),
        cloud_sync=read_cloud_sync(client, now or datetime.now(UTC), provisioning_days),
        licensing=read_licensing(client, tally),
    )
