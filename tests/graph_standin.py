"""A stand-in for Entra ID's token endpoint and Microsoft Graph v1.0, on 127.0.0.1 over real TLS.

The CA is a throwaway trustme CA written to ``ca_path``; clients must trust it explicitly, as
they would a TLS-inspecting proxy. JSON shapes follow Graph v1.0's documented resources (organization,
user, group, orgContact, onPremisesProvisioningError; https://learn.microsoft.com/en-us/graph/api/overview).

Use::

    with run_graph_standin(tmp_path) as graph:      # or the graph_standin() fixture body
        graph.state.users.append(user("new@contoso.com"))
        graph.fault("/users", 429, times=2, retry_after="3")
        ... GraphClient(graph.state.tenant_id, graph.state.client_id,
                        client_secret=graph.state.client_secret, **graph.client_kwargs())

Faults are keyed by the Graph path without /v1.0 ("/users", "/users/$count") or by the full path
for the token endpoints; each scripted fault answers the next ``times`` requests (None: all).
"""

from __future__ import annotations

import base64
import re
import secrets
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt  # PyJWT: installed with msal, checks the certificate credential's client assertion
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from requests.structures import CaseInsensitiveDict

from tests.tls_standin import StandInHandler, TLSStandIn

# Resource -> the permissions that grant a read of it (Microsoft's "Permissions" tables).
PERMISSION_FOR = {
    "organization": {"Organization.Read.All", "Directory.Read.All"},
    "domains": {"Domain.Read.All", "Directory.Read.All"},
    "users": {"User.Read.All", "Directory.Read.All"},
    "groups": {"Group.Read.All", "Directory.Read.All"},
    "contacts": {"OrgContact.Read.All", "Directory.Read.All"},
    "servicePrincipals": {"Application.Read.All", "Directory.Read.All"},
    "subscribedSkus": {"LicenseAssignment.Read.All", "Organization.Read.All", "Directory.Read.All"},
    "auditLogs": {"AuditLog.Read.All"},  # Microsoft lists it with Directory.Read.All; not granted by it
}
SYNCHRONIZATION_PERMISSIONS = {"Synchronization.Read.All", "Application.ReadWrite.OwnedBy"}
CLOUD_SYNC_TEMPLATE = "1a4721b3-e57f-4451-ae87-ef078703ec94"
GRAPH_TYPE = {"users": "user", "groups": "group", "contacts": "orgContact"}
_ONPREM = ("onPremisesSyncEnabled", "onPremisesLastSyncDateTime", "onPremisesProvisioningErrors")
_COMMON = ("id", "displayName", "mail", "mailNickname", "proxyAddresses") + _ONPREM
# What $select may name per type (a subset of Graph's; anything else is Graph's 400).
SELECTABLE = {
    "users": _COMMON
    + ("userPrincipalName", "onPremisesImmutableId", "accountEnabled", "usageLocation", "licenseAssignmentStates"),
    "groups": _COMMON + ("securityEnabled", "mailEnabled", "onPremisesSecurityIdentifier"),
    "contacts": _COMMON + ("companyName",),
}
# Without $select Graph returns a default set that lacks the on-premises properties.
DEFAULT_PROPERTIES = {
    "users": ("id", "displayName", "userPrincipalName", "mail"),
    "groups": ("id", "displayName", "mail", "securityEnabled", "mailEnabled"),
    "contacts": ("id", "displayName", "mail"),
}
SYNCED_FILTER = "onPremisesSyncEnabled eq true"
DEFAULT_MESSAGES = {
    400: ("Request_BadRequest", "Invalid request."),
    401: ("InvalidAuthenticationToken", "Access token validation failure."),
    403: ("Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
    404: ("Request_ResourceNotFound", "Resource not found."),
    429: ("TooManyRequests", "Too many requests."),
    500: ("UnknownError", "An internal server error occurred."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable."),
    504: ("GatewayTimeout", "The gateway timed out."),
}


# -- the tenant ------------------------------------------------------------------------------------


def provisioning_error(prop: str, value: str, occurred: str = "2026-11-20T08:30:00Z") -> dict:
    return {
        "category": "PropertyConflict",
        "occurredDateTime": occurred,
        "propertyCausingError": prop,
        "value": value,
    }


def licence_state(sku_id: str, error: str = "None", *, group: str | None = None, state: str | None = None) -> dict:
    """One licenseAssignmentState; an error other than "None" makes the state Error."""
    return {
        "skuId": sku_id,
        "assignedByGroup": group,
        "state": state or ("Active" if error == "None" else "Error"),
        "error": error,
        "disabledPlans": [],
        "lastUpdatedDateTime": "2026-11-28T10:00:00Z",
    }


def sku(part_number: str, *, consumed: int, enabled: int, sku_id: str | None = None) -> dict:
    return {
        "skuId": sku_id or str(uuid.uuid4()),
        "skuPartNumber": part_number,
        "appliesTo": "User",
        "capabilityStatus": "Enabled",
        "consumedUnits": consumed,
        "prepaidUnits": {"enabled": enabled, "suspended": 0, "warning": 0, "lockedOut": 0},
    }


def sync_job(
    status: str,
    *,
    template: str = "AD2AADProvisioning",
    escrowed: int = 0,
    failures: int = 0,
    quarantine_reason: str | None = None,
    last: str = "2026-11-29T08:00:00Z",
) -> dict:
    """A synchronizationJob of a Cloud Sync configuration in the given status code."""
    execution = {
        "timeBegan": last,
        "timeEnded": last,
        "state": "Succeeded",
        "countEscrowed": escrowed,
        "countExported": 3,
        "error": None,
    }
    quarantine = None
    if status == "Quarantine":
        execution = {
            **execution,
            "state": "Failed",
            "error": {"code": "EncounteredQuarantineException", "message": quarantine_reason or "Quarantined"},
        }
        quarantine = {
            "currentBegan": "2026-11-28T06:00:00Z",
            "nextAttempt": "2026-11-29T12:00:00Z",
            "reason": quarantine_reason or "EncounteredQuarantineException",
            "seriesBegan": "2026-11-27T06:00:00Z",
            "seriesCount": 9,
            "error": {
                "code": "HybridSynchronizationActiveDirectoryInternalError",
                "message": "The agent could not reach a domain controller.",
            },
        }
    return {
        "id": f"{template}.{uuid.uuid4().hex[:12]}.{uuid.uuid4().hex[:8]}",
        "templateId": template,
        "schedule": {"interval": "PT2M", "state": "Active"},
        "status": {
            "code": status,
            "countSuccessiveCompleteFailures": failures,
            "escrowsPruned": False,
            "lastExecution": None if status in ("NotRun", "NotConfigured") else execution,
            "lastSuccessfulExecution": None if status in ("NotRun", "NotConfigured") else {
                **execution, "state": "Succeeded", "error": None, "timeBegan": "2026-11-26T05:58:00Z",
                "timeEnded": "2026-11-26T06:00:00Z"},
            "quarantine": quarantine,
        },
    }  # fmt: skip


def cloud_sync_principal(name: str, jobs: list[dict]) -> dict:
    """A Cloud Sync configuration: a service principal of the AD2AAD template, with its jobs."""
    return {
        "id": str(uuid.uuid4()),
        "appId": str(uuid.uuid4()),
        "displayName": name,
        "applicationTemplateId": CLOUD_SYNC_TEMPLATE,
        "jobs": jobs,
    }


def provisioning_event(
    principal: dict,
    *,
    when: str,
    error: str,
    reason: str,
    source_id: str,
    name: str,
    kind: str = "User",
    status: str = "failure",
    upn: str = "",
    dn: str = "",
) -> dict:
    """A provisioningObjectSummary of a Cloud Sync run."""
    modified = [
        {"displayName": n, "oldValue": None, "newValue": f'"{v}"'}
        for n, v in (("userPrincipalName", upn), ("distinguishedName", dn))
        if v
    ]
    return {
        "id": str(uuid.uuid4()),
        "activityDateTime": when,
        "jobId": principal["jobs"][0]["id"] if principal["jobs"] else "",
        "cycleId": str(uuid.uuid4()),
        "changeId": str(uuid.uuid4()),
        "provisioningAction": "update",
        "provisioningStatusInfo": {"status": status, "errorInformation": None if status != "failure" else {
            "errorCode": error, "reason": reason, "errorCategory": "NonServiceFailure",
            "additionalDetails": None, "recommendedAction": None}},
        "servicePrincipal": {"id": principal["id"], "displayName": principal["displayName"]},
        "sourceSystem": {"id": str(uuid.uuid4()), "displayName": "Active Directory"},
        "targetSystem": {"id": str(uuid.uuid4()), "displayName": "Entra ID"},
        "sourceIdentity": {"id": source_id, "displayName": name, "identityType": kind, "details": {}},
        "targetIdentity": {"id": str(uuid.uuid4()), "displayName": name, "identityType": kind, "details": {}},
        "modifiedProperties": modified,
    }  # fmt: skip


def _directory_object(name: str, synced: bool, proxies, errors, **extra) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "displayName": name,
        "proxyAddresses": list(proxies),
        "onPremisesSyncEnabled": True if synced else None,
        "onPremisesLastSyncDateTime": "2026-11-24T09:00:00Z" if synced else None,
        "onPremisesProvisioningErrors": list(errors),
        **extra,
    }


def user(
    upn: str, *, synced: bool = True, mail: str | None = None, proxies=(), errors=(), usage_location="DE", licences=()
) -> dict:
    """A Graph user; a synced one gets base64(objectGUID bytes) as its immutable ID."""
    immutable = base64.b64encode(uuid.uuid4().bytes).decode() if synced else None
    return _directory_object(
        upn.split("@")[0],
        synced,
        proxies,
        errors,
        userPrincipalName=upn,
        mail=mail,
        onPremisesImmutableId=immutable,
        accountEnabled=True,
        usageLocation=usage_location,
        licenseAssignmentStates=list(licences),
    )


def group(name: str, *, synced: bool = True, mail: str | None = None, proxies=(), errors=()) -> dict:
    return _directory_object(name, synced, proxies, errors, mail=mail, securityEnabled=True)


def contact(name: str, mail: str, *, synced: bool = True, proxies=(), errors=()) -> dict:
    return _directory_object(name, synced, proxies or (f"SMTP:{mail}",), errors, mail=mail)


def _default_domains() -> list[dict]:
    def domain(name, auth="Managed", verified=True, default=False, initial=False):
        return {
            "id": name,
            "authenticationType": auth,
            "isVerified": verified,
            "isDefault": default,
            "isInitial": initial,
            "supportedServices": ["Email", "OfficeCommunicationsOnline"] if verified else [],
        }

    return [
        domain("contoso.com", default=True),
        domain("contoso.onmicrosoft.com", initial=True),
        domain("fabrikam.com", auth="Federated"),
        domain("not-yet.example", verified=False),
    ]


def _default_users() -> list[dict]:
    return [
        user("ada@contoso.com", mail="ada@contoso.com", proxies=["SMTP:ada@contoso.com"]),
        user(
            "ben@contoso.onmicrosoft.com",
            proxies=["SMTP:ben@contoso.com"],
            errors=[provisioning_error("UserPrincipalName", "ben@contoso.com")],
        ),
        user("cy@fabrikam.com", mail="cy@fabrikam.com"),
        user(
            "Dee@Contoso.com",
            synced=False,
            mail="dee@contoso.com",
            proxies=["SMTP:Dee@contoso.com", "smtp:dee@contoso.onmicrosoft.com", "SIP:dee@contoso.com"],
        ),
        user("eve@contoso.onmicrosoft.com", synced=False),
    ]


@dataclass
class TenantState:
    """The tenant the stand-in plays; tests edit it freely between requests."""

    tenant_id: str = "8a1f6a4e-1c1d-4f9e-9a51-5a0d8f0c1b2a"
    client_id: str = "2d4c8b7e-3f1a-4b6c-8e9d-0a1b2c3d4e5f"
    client_secret: str = "Xy9~stand-in.secret_value"
    certificate_pem: bytes | None = None  # the app's public certificate, for client assertions
    permissions: set[str] = field(default_factory=lambda: {"Directory.Read.All"})
    expected_scope: str | None = None  # None: "<stand-in origin>/.default"
    token_lifetime: int = 3599
    max_page_size: int = 999  # Graph may return fewer than $top: a smaller cap forces paging
    display_name: str = "Contoso"
    sync_enabled: bool | None = True
    last_sync: str | None = "2026-11-24T09:00:00Z"
    last_password_sync: str | None = "2026-11-24T09:02:00Z"
    domains: list[dict] = field(default_factory=_default_domains)
    users: list[dict] = field(default_factory=_default_users)
    groups: list[dict] = field(
        default_factory=lambda: [
            group("Sales", mail="sales@contoso.com", proxies=["SMTP:sales@contoso.com"]),
            group(
                "Support",
                mail="support@contoso.com",
                proxies=["SMTP:support@contoso.com"],
                errors=[provisioning_error("ProxyAddress", "smtp:support@contoso.com")],
            ),
            group("Cloud Team", synced=False, mail="team@contoso.com", proxies=["SMTP:team@contoso.com"]),
        ]
    )
    contacts: list[dict] = field(
        default_factory=lambda: [
            contact("Partner One", "one@partner.example"),
            contact("Vendor", "sales@vendor.example", synced=False),
        ]
    )
    # Entra Cloud Sync: none by default (a Connect Sync tenant); see cloud_sync_principal().
    service_principals: list[dict] = field(default_factory=list)
    provisioning_events: list[dict] = field(default_factory=list)
    skus: list[dict] = field(
        default_factory=lambda: [
            sku("SPE_E3", consumed=3, enabled=10, sku_id="05e9a617-0261-4cee-bb44-138d3ef5d965"),
            sku("EXCHANGESTANDARD", consumed=1, enabled=1, sku_id="4b9405b0-7788-4568-add1-99614e613b69"),
        ]
    )


@dataclass
class Fault:
    status: int
    times: int | None = 1  # None: every request from now on
    retry_after: str | None = None
    code: str | None = None
    message: str | None = None


@dataclass
class Seen:
    """One request the stand-in received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: CaseInsensitiveDict  # header names are case-insensitive, as in HTTP
    form: dict[str, list[str]] = field(default_factory=dict)


# -- the server ------------------------------------------------------------------------------------


class GraphStandIn(TLSStandIn):
    name = "graph-standin"

    def __init__(self, directory: Path, state: TenantState | None = None):
        super().__init__(directory)
        self.handler = _Handler
        self.state = state or TenantState()
        self.requests: list[Seen] = []
        self.tokens: dict[str, float] = {}  # issued access token -> expiry (epoch seconds)
        self._faults: dict[str, deque[Fault]] = {}

    # -- what tests use ----------------------------------------------------------------------

    def client_kwargs(self) -> dict:
        """GraphClient keyword arguments that point at this stand-in and trust its CA."""
        return {"authority_host": self.host, "base_url": self.graph_url, "ca_bundle": self.ca_path}

    def fault(self, path: str, status: int, *, times: int | None = 1, **kwargs) -> None:
        """Answer the next ``times`` requests to ``path`` with ``status`` (then behave again)."""
        with self._lock:
            self._faults.setdefault(path, deque()).append(Fault(status, times, **kwargs))

    def seen(self, path: str) -> list[Seen]:
        """Requests received for a path (Graph paths without /v1.0, e.g. "/users/$count")."""
        with self._lock:
            return [r for r in self.requests if _graph_path(r.path) == path]

    @property
    def token_requests(self) -> int:
        with self._lock:
            return sum(r.method == "POST" and r.path.endswith("/oauth2/v2.0/token") for r in self.requests)

    def revoke_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    # -- dispatch (runs in handler threads) --------------------------------------------------

    def _record(self, seen: Seen) -> Fault | None:
        with self._lock:
            self.requests.append(seen)
            queue = self._faults.get(_graph_path(seen.path))
            if not queue:
                return None
            fault = queue[0]
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    queue.popleft()
            return fault

    def handle(self, request: _Handler, method: str) -> None:
        split = urlsplit(request.path)
        body = request.read_body()
        form = parse_qs(body.decode()) if method == "POST" else {}
        seen = Seen(
            method,
            split.path,
            parse_qs(split.query, keep_blank_values=True),
            CaseInsensitiveDict(request.headers.items()),
            form,
        )
        fault = self._record(seen)
        if fault is not None:
            return request.graph_error(fault.status, fault.code, fault.message, fault.retry_after)
        parts = split.path.strip("/").split("/")
        if parts[:1] == ["v1.0"]:
            return self._graph(request, seen, parts[1:])
        if method == "GET" and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            return self._openid_configuration(request, parts[0])
        if method == "POST" and parts[1:] == ["oauth2", "v2.0", "token"]:
            return self._token(request, parts[0], seen.form)
        return request.graph_error(404, message=f"Resource not found for the segment '{parts[0]}'.")

    # -- token endpoint ----------------------------------------------------------------------

    def _openid_configuration(self, request: _Handler, tenant: str) -> None:
        if tenant != self.state.tenant_id:
            return request.send_json(400, _aad_error("invalid_tenant", 90002, f"Tenant '{tenant}' not found."))
        base = f"{self.url}/{tenant}"
        request.send_json(
            200,
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "jwks_uri": f"{self.url}/{tenant}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "token id_token"],
            },
        )

    def _token(self, request: _Handler, tenant: str, form: dict[str, list[str]]) -> None:
        def one(name: str) -> str | None:
            return (form.get(name) or [None])[0]

        problem = self._token_problem(tenant, one)
        if problem is not None:
            return request.send_json(*problem)
        token = secrets.token_urlsafe(32)
        with self._lock:
            self.tokens[token] = time.time() + self.state.token_lifetime
        request.send_json(
            200,
            {"token_type": "Bearer", "expires_in": self.state.token_lifetime, "access_token": token},
        )

    def _token_problem(self, tenant: str, one) -> tuple[int, dict] | None:
        state = self.state
        scope = state.expected_scope or f"{self.url}/.default"
        if tenant != state.tenant_id:
            return 400, _aad_error("invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        if one("grant_type") != "client_credentials":
            return 400, _aad_error("unsupported_grant_type", 70003, "The app requested an unsupported grant.")
        if one("client_id") != state.client_id:
            return 400, _aad_error(
                "unauthorized_client",
                700016,
                f"Application with identifier '{one('client_id')}' was not found in the directory '{tenant}'.",
            )
        if one("scope") != scope:
            return 400, _aad_error("invalid_scope", 70011, f"The provided value for scope {one('scope')} is not valid.")
        if one("client_assertion"):
            return self._assertion_problem(one("client_assertion"), tenant)
        if one("client_secret") != state.client_secret:
            return 401, _aad_error(
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the "
                f"client secret value, not the client secret ID, for a secret added to app "
                f"'{state.client_id}'.",
            )
        return None

    def _assertion_problem(self, assertion: str, tenant: str) -> tuple[int, dict] | None:
        if self.state.certificate_pem is None:
            return 401, _aad_error("invalid_client", 700027, "Client assertion contains an invalid signature.")
        cert = x509.load_pem_x509_certificate(self.state.certificate_pem)
        sha1 = cert.fingerprint(hashes.SHA1())  # x5t is a SHA-1 thumbprint by definition
        x5t = base64.urlsafe_b64encode(sha1).rstrip(b"=").decode()
        try:
            header = jwt.get_unverified_header(assertion)
            jwt.decode(
                assertion,
                cert.public_key(),
                algorithms=["RS256", "PS256"],
                audience=f"{self.url}/{tenant}/oauth2/v2.0/token",
                issuer=self.state.client_id,
            )
        except jwt.PyJWTError as exc:
            return 401, _aad_error("invalid_client", 700027, f"Client assertion failed signature validation: {exc}")
        if (header.get("x5t") or "").rstrip("=") != x5t:  # msal keeps the base64 padding
            return 401, _aad_error(
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the client assertion is not registered on application.",
            )
        return None

    # -- Graph -------------------------------------------------------------------------------

    def _graph(self, request: _Handler, seen: Seen, segments: list[str]) -> None:
        if not self._bearer_ok(seen.headers):
            return request.graph_error(401, message="Access token is empty or invalid.")
        resource = segments[0] if segments else ""
        if resource not in PERMISSION_FOR:
            return request.graph_error(404, message=f"Resource not found for the segment '{resource}'.")
        if resource == "servicePrincipals" and segments[2:] == ["synchronization", "jobs"]:
            return self._jobs(request, segments[1])
        if not self.state.permissions & PERMISSION_FOR[resource]:
            return request.graph_error(403)
        if resource == "servicePrincipals":
            return self._service_principals(request, seen, segments)
        if segments == ["auditLogs", "provisioning"]:
            return self._provisioning(request, seen)
        if resource == "subscribedSkus" and len(segments) == 1:
            return request.send_json(200, {"value": self.state.skus})
        if resource == "groups" and len(segments) == 1 and "$filter" in seen.query:
            return self._groups_in_error(request, seen)
        if segments[1:] == ["$count"] and resource in GRAPH_TYPE:
            return self._count(request, seen, resource)
        if len(segments) > 1:
            return request.graph_error(404, message=f"Resource not found for the segment '{segments[1]}'.")
        if resource == "organization":
            return request.send_json(
                200, {"@odata.context": f"{self.graph_url}/$metadata#organization", "value": [self._organization()]}
            )
        if resource == "domains":
            return request.send_json(
                200, {"@odata.context": f"{self.graph_url}/$metadata#domains", "value": self.state.domains}
            )
        return self._collection(request, seen, resource)

    def _jobs(self, request: _Handler, principal_id: str) -> None:
        if not self.state.permissions & SYNCHRONIZATION_PERMISSIONS:
            return request.graph_error(403)
        principal = next((p for p in self.state.service_principals if p["id"] == principal_id), None)
        if principal is None:
            return request.graph_error(404, message=f"Resource '{principal_id}' does not exist.")
        request.send_json(200, {"value": principal["jobs"]})

    def _service_principals(self, request: _Handler, seen: Seen, segments: list[str]) -> None:
        condition = (seen.query.get("$filter") or [None])[-1]
        if len(segments) > 1 or condition != f"applicationTemplateId eq '{CLOUD_SYNC_TEMPLATE}'":
            return request.graph_error(400, "Request_UnsupportedQuery", "Unsupported query.")
        found = [{k: v for k, v in p.items() if k != "jobs"} for p in self.state.service_principals]
        self._page(request, seen, "servicePrincipals", found)

    def _provisioning(self, request: _Handler, seen: Seen) -> None:
        condition = (seen.query.get("$filter") or [""])[-1]
        match = re.fullmatch(
            r"activityDateTime ge (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) and provisioningStatusInfo/status eq '(\w+)'",
            condition,
        )
        if not match:
            return request.graph_error(400, "Request_UnsupportedQuery", f"Invalid filter clause: {condition!r}")
        since, status = match.groups()
        events = [
            e
            for e in self.state.provisioning_events
            if e["activityDateTime"] >= since and e["provisioningStatusInfo"]["status"] == status
        ]
        self._page(request, seen, "auditLogs/provisioning", events)

    def _groups_in_error(self, request: _Handler, seen: Seen) -> None:
        if seen.query["$filter"][-1] != "hasMembersWithLicenseErrors eq true":
            return request.graph_error(400, "Request_UnsupportedQuery", "Unsupported query.")
        in_error = {
            state["assignedByGroup"]
            for u in self.state.users
            for state in u.get("licenseAssignmentStates") or []
            if state["state"] in ("Error", "ActiveWithError") and state["assignedByGroup"]
        }
        select = [p for p in (seen.query.get("$select") or [""])[-1].split(",") if p] or DEFAULT_PROPERTIES["groups"]
        self._page(request, seen, "groups", [_project(g, select) for g in self.state.groups if g["id"] in in_error])

    def _page(self, request: _Handler, seen: Seen, path: str, items: list[dict]) -> None:
        """One page of ``items`` by $top and our $skiptoken, with a nextLink while more remain."""
        query = {k: v[-1] for k, v in seen.query.items()}
        top = query.get("$top", "100")
        if not top.isdigit() or not 1 <= int(top) <= 999:
            return request.graph_error(400, message=f"Invalid page size specified: '{top}'.")
        start = int(query.get("$skiptoken", "0") or 0)
        size = min(int(top), self.state.max_page_size)
        answer: dict = {"@odata.context": f"{self.graph_url}/$metadata#{path}", "value": items[start : start + size]}
        if start + size < len(items):
            rest = {k: v for k, v in query.items() if k != "$skiptoken"}
            rest["$skiptoken"] = str(start + size)
            answer["@odata.nextLink"] = f"{self.graph_url}/{path}?{urlencode(rest, safe='$,')}"
        request.send_json(200, answer)

    def _bearer_ok(self, headers: dict[str, str]) -> bool:
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        with self._lock:
            expiry = self.tokens.get(token)
        return scheme == "Bearer" and expiry is not None and expiry > time.time()

    def _organization(self) -> dict:
        state = self.state
        verified = [d for d in state.domains if d["isVerified"]]
        return {
            "id": state.tenant_id,
            "displayName": state.display_name,
            "onPremisesSyncEnabled": state.sync_enabled,
            "onPremisesLastSyncDateTime": state.last_sync,
            "onPremisesLastPasswordSyncDateTime": state.last_password_sync,
            "verifiedDomains": [
                {
                    "capabilities": "Email, OfficeCommunicationsOnline",
                    "isDefault": d["isDefault"],
                    "isInitial": d["isInitial"],
                    "name": d["id"],
                    "type": d["authenticationType"],
                }
                for d in verified
            ],
        }

    def _collection(self, request: _Handler, seen: Seen, kind: str) -> None:
        query = {k: v[-1] for k, v in seen.query.items()}
        if "$filter" in query:
            return request.graph_error(400, "Request_UnsupportedQuery", "Unsupported query.")
        select = [p for p in query.get("$select", "").split(",") if p]
        unknown = [p for p in select if p not in SELECTABLE[kind]]
        if unknown:
            return request.graph_error(
                400,
                message=f"Could not find a property named '{unknown[0]}' on type 'microsoft.graph.{GRAPH_TYPE[kind]}'.",
            )
        top = query.get("$top", "100")
        if not top.isdigit() or not 1 <= int(top) <= 999:
            return request.graph_error(
                400, message=f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive."
            )
        start = int(query.get("$skiptoken", "0") or 0)
        size = min(int(top), self.state.max_page_size)
        objects = getattr(self.state, kind)
        page = [_project(o, select or DEFAULT_PROPERTIES[kind]) for o in objects[start : start + size]]
        answer: dict = {"@odata.context": f"{self.graph_url}/$metadata#{kind}", "value": page}
        if start + size < len(objects):
            rest = {k: v for k, v in query.items() if k != "$skiptoken"}
            rest["$skiptoken"] = str(start + size)
            answer["@odata.nextLink"] = f"{self.graph_url}/{kind}?{urlencode(rest, safe='$,')}"
        request.send_json(200, answer)

    def _count(self, request: _Handler, seen: Seen, kind: str) -> None:
        if seen.headers.get("ConsistencyLevel", "").lower() != "eventual":
            return request.graph_error(
                400, message="Count is not currently supported without ConsistencyLevel: eventual."
            )
        objects = getattr(self.state, kind)
        condition = (seen.query.get("$filter") or [None])[-1]
        if condition is None:
            n = len(objects)
        elif condition == SYNCED_FILTER:
            n = sum(o.get("onPremisesSyncEnabled") is True for o in objects)
        else:
            return request.graph_error(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause.")
        request.send_bytes(200, str(n).encode(), "text/plain; charset=utf-8")


def _project(obj: dict, properties) -> dict:
    return {p: obj.get(p) for p in properties}


def _graph_path(path: str) -> str:
    return path[len("/v1.0") :] if path.startswith("/v1.0/") else path


def _aad_error(error: str, number: int, text: str) -> dict:
    """Entra's error shape: the description carries trace lines msal users see verbatim."""
    now = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    trace = str(uuid.uuid4())
    return {
        "error": error,
        "error_description": f"AADSTS{number}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: "
        f"{uuid.uuid4()}\r\nTimestamp: {now}",
        "error_codes": [number],
        "timestamp": now,
        "trace_id": trace,
        "correlation_id": str(uuid.uuid4()),
    }


class _Handler(StandInHandler):
    wbufsize = 65536  # headers and body in one write: no delayed-ACK stall per response
    timeout = 30

    def extra_headers(self) -> dict[str, str]:
        return {"request-id": str(uuid.uuid4())}

    def graph_error(
        self, status: int, code: str | None = None, message: str | None = None, retry_after: str | None = None
    ) -> None:
        default_code, default_message = DEFAULT_MESSAGES.get(status, ("UnknownError", "Error."))
        body = {
            "error": {
                "code": code or default_code,
                "message": message or default_message,
                "innerError": {
                    "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
                    "request-id": str(uuid.uuid4()),
                    "client-request-id": str(uuid.uuid4()),
                },
            }
        }
        self.send_json(status, body, {"Retry-After": retry_after} if retry_after else None)


@contextmanager
def run_graph_standin(directory: Path, state: TenantState | None = None) -> Iterator[GraphStandIn]:
    """Start the stand-in, yield it, and stop it (shutdown + join) whatever happens."""
    standin = GraphStandIn(directory, state)
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


def graph_standin(tmp_path: Path) -> Iterator[GraphStandIn]:
    """Body of a pytest fixture for tests of lib/: ``standin = pytest.fixture(graph_standin, name="standin")``.
    (tests/health_support.py's ``standin`` fixture also aims the app's GRAPH_* settings at it.)"""
    with run_graph_standin(tmp_path) as standin:
        yield standin


def _ago(now, **delta) -> str:
    from datetime import timedelta

    return (now - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_cloud_sync(state: TenantState, now, *, matched_guid: uuid.UUID | None = None) -> dict:
    """Make the tenant a Cloud Sync tenant: a configuration whose jobs are in every status
    (quarantine with a reason), a second configuration active, and failures in the provisioning
    log: an escrowed user failing each cycle for days (sourceIdentity = ``matched_guid``), a group
    failing once known only by DN, one outside the window, one of another app. Grants the app the
    permissions these reads need beyond Directory.Read.All. Returns the two configurations."""
    state.permissions |= {"Synchronization.Read.All", "AuditLog.Read.All"}
    corp = cloud_sync_principal(
        "corp.acme.example",
        [
            sync_job("Quarantine", quarantine_reason="EncounteredQuarantineException", failures=9),
            sync_job("Active", template="AD2AADPasswordHash"),
        ],
    )
    lab = cloud_sync_principal(
        "lab.acme.example",
        [sync_job("Active", escrowed=2), sync_job("Paused"), sync_job("NotRun"), sync_job("NotConfigured")],
    )
    other_app = {**cloud_sync_principal("ServiceNow", [sync_job("Active")]), "applicationTemplateId": "other"}
    state.service_principals += [corp, lab]
    source = str(matched_guid or uuid.uuid4())
    events = [
        provisioning_event(
            lab, when=_ago(now, days=days), error="AzureActiveDirectoryConflictingObjectUPN",
            reason="Another object already uses this UPN.", source_id=source, name="Ben", upn="ben@contoso.com",
        )
        for days in (3, 2, 1)
    ] + [
        provisioning_event(
            lab, when=_ago(now, hours=2), error="AzureDirectoryServiceAttributeValueMustBeUnique",
            reason="The proxy address is already in use.", source_id=str(uuid.uuid4()), name="Support",
            kind="Group", dn="CN=Support,OU=Groups,DC=corp,DC=acme,DC=example",
        ),
        provisioning_event(
            lab, when=_ago(now, hours=1), error="HybridSynchronizationActiveDirectoryInternalError",
            reason="Object not found on-prem.", source_id=str(uuid.uuid4()), name="Ghost", upn="ghost@nowhere.example",
        ),
        provisioning_event(
            lab, when=_ago(now, days=10), error="TooOld", reason="outside the window", source_id=str(uuid.uuid4()),
            name="Old",
        ),
        provisioning_event(
            lab, when=_ago(now, hours=3), error="", reason="", source_id=source, name="Ben", status="success",
        ),
        provisioning_event(
            other_app, when=_ago(now, hours=1), error="SaaS", reason="another app", source_id=str(uuid.uuid4()),
            name="Nobody",
        ),
    ]  # fmt: skip
    state.provisioning_events += events
    return {"quarantined": corp, "active": lab}


def add_licence_errors(state: TenantState) -> None:
    """Licence assignment errors of several codes spread over the user list (so across pages with a
    small max_page_size), assigned by the Sales group; one synced user without usage location."""
    e3, exchange = state.skus[0]["skuId"], state.skus[1]["skuId"]
    sales = state.groups[0]["id"]
    users = state.users
    users[0]["licenseAssignmentStates"] = [licence_state(e3, group=sales)]
    users[1]["licenseAssignmentStates"] = [licence_state(exchange, "CountViolation", group=sales)]
    users[2]["licenseAssignmentStates"] = [licence_state(e3, "ProhibitedInUsageLocationViolation", group=sales)]
    users[2]["usageLocation"] = None
    users[4]["licenseAssignmentStates"] = [
        licence_state(exchange, "CountViolation", group=sales),
        licence_state(e3, "MutuallyExclusiveViolation", state="ActiveWithError"),
    ]
