"""Entra Cloud Sync as Microsoft Graph shows it: configurations, their jobs, provisioning-log errors.

Plain Python over a GraphClient (no Django). graph.pull_health() calls read_cloud_sync(); a missing
permission does not fail the pull, it is recorded in the result's ``problems`` so the health page
can say which permission to grant.

Microsoft's pages this follows:

* Cloud Sync configurations are service principals instantiated from the "AD2AAD" application
  template 1a4721b3-e57f-4451-ae87-ef078703ec94, each with a job from the templates
  AD2AADProvisioning (users, groups, contacts) and AD2AADPasswordHash:
  https://learn.microsoft.com/entra/identity/hybrid/cloud-sync/how-to-inbound-synch-ms-graph
* ``GET /servicePrincipals?$filter=applicationTemplateId eq '...'`` (applicationTemplateId supports
  $filter eq): https://learn.microsoft.com/graph/api/serviceprincipal-list and
  https://learn.microsoft.com/graph/api/resources/serviceprincipal
* ``GET /servicePrincipals/{id}/synchronization/jobs``, status codes and quarantine:
  https://learn.microsoft.com/graph/api/synchronization-synchronizationjob-list and
  https://learn.microsoft.com/graph/api/resources/synchronization-synchronizationstatus
* ``GET /auditLogs/provisioning`` (provisioningObjectSummary):
  https://learn.microsoft.com/graph/api/provisioningobjectsummary-list
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from .graph import GraphClient, GraphError, parse_datetime, unread_part

TEMPLATE_ID = "1a4721b3-e57f-4451-ae87-ef078703ec94"
PROVISIONING_JOB = "AD2AADProvisioning"
JOB_STATUSES = ("NotConfigured", "NotRun", "Active", "Paused", "Quarantine")
DEFAULT_DAYS = 7
# A tenant in trouble logs a failure per object per cycle: read at most this many events, newest
# last is not guaranteed, so the summary says when it stopped early.
MAX_EVENTS = 20_000
PAGE_SIZE = "500"
_UNDATED = datetime(1970, 1, 1, tzinfo=UTC)
OBJECT_TYPES = {"user": "user", "group": "group", "contact": "contact", "orgcontact": "contact"}


def _iso(value: str | None) -> str | None:
    parsed = parse_datetime(value)
    return parsed.isoformat() if parsed else None


def _execution(data: dict | None) -> dict | None:
    """A synchronizationTaskExecution, reduced to what an admin reads."""
    if not data:
        return None
    error = data.get("error") or {}
    return {
        "began": _iso(data.get("timeBegan")),
        "ended": _iso(data.get("timeEnded")),
        "state": data.get("state"),
        "escrowed": int(data.get("countEscrowed") or 0),
        "exported": int(data.get("countExported") or 0),
        "error": (error.get("message") or error.get("code") or "") if isinstance(error, dict) else str(error),
    }


def job_summary(job: dict) -> dict:
    """One synchronizationJob: status code, quarantine, last and last good run, escrows, failures."""
    status = job.get("status") or {}
    quarantine = status.get("quarantine") or None
    if quarantine:
        error = quarantine.get("error") or {}
        quarantine = {
            "reason": quarantine.get("reason"),
            "since": _iso(quarantine.get("seriesBegan") or quarantine.get("currentBegan")),
            "next_attempt": _iso(quarantine.get("nextAttempt")),
            "series_count": int(quarantine.get("seriesCount") or 0),
            "error": (error.get("message") or error.get("code") or "") if isinstance(error, dict) else "",
        }
    last = _execution(status.get("lastExecution"))
    code = status.get("code") or "NotConfigured"
    return {
        "id": job.get("id"),
        "template": job.get("templateId"),
        "status": code if code in JOB_STATUSES else str(code),
        "quarantine": quarantine,
        "last_execution": last,
        "last_successful_execution": _execution(status.get("lastSuccessfulExecution")),
        "escrows": last["escrowed"] if last else 0,
        "escrows_pruned": int(status.get("escrowsPruned") or 0),
        "successive_failures": int(status.get("countSuccessiveCompleteFailures") or 0),
    }


def anchor_of_source(source_id: str | None) -> str | None:
    """Cloud Sync logs the on-prem object's objectGUID as the source ID; as an anchor that is
    base64 of its bytes_le, the form onPremisesImmutableId takes. A base64 value is kept."""
    if not source_id:
        return None
    try:
        return base64.b64encode(uuid.UUID(source_id).bytes_le).decode()
    except ValueError:
        pass
    try:
        raw = base64.b64decode(source_id, validate=True)
    except (binascii.Error, ValueError):
        return None
    return source_id if len(raw) == 16 else None


def _property(event: dict, name: str) -> str:
    """A modifiedProperties value (newValue, else oldValue) by display name, case-insensitive."""
    for prop in event.get("modifiedProperties") or []:
        if (prop.get("displayName") or "").lower() == name.lower():
            return (prop.get("newValue") or prop.get("oldValue") or "").strip().strip('"')
    return ""


def failure_of(event: dict) -> dict:
    """One provisioningObjectSummary with status failure, as plain values."""
    info = (event.get("provisioningStatusInfo") or {}).get("errorInformation") or {}
    source = event.get("sourceIdentity") or {}
    target = event.get("targetIdentity") or {}
    kind = (source.get("identityType") or target.get("identityType") or "").lower()
    return {
        "occurred": parse_datetime(event.get("activityDateTime")),
        "action": event.get("provisioningAction") or "",
        "job_id": event.get("jobId") or "",
        "service_principal": (event.get("servicePrincipal") or {}).get("id"),
        "error_code": info.get("errorCode") or "",
        "category": info.get("errorCategory") or "",
        "reason": info.get("reason") or "",
        "source_id": source.get("id") or "",
        "target_id": target.get("id") or "",
        "display_name": source.get("displayName") or target.get("displayName") or "",
        "object_type": OBJECT_TYPES.get(kind, kind[:10]),
        "dn": _property(event, "distinguishedName"),
        "upn": _property(event, "userPrincipalName"),
    }


def provisioning_errors(failures: list[dict]) -> list[dict]:
    """Failures folded per object and error code: an escrowed object fails every cycle, and its
    age is that of its first failure in the window. Rows in the shape of provisioning errors."""
    folded: dict[tuple, dict] = {}
    for f in sorted(failures, key=lambda f: f["occurred"] or _UNDATED):
        key = (f["source_id"] or f["target_id"] or f["dn"] or f["display_name"], f["error_code"])
        row = folded.get(key)
        if row is None:
            folded[key] = {
                "source": "cloud_sync",
                "object_id": f["target_id"] or f["source_id"],
                "object_type": f["object_type"],
                "display_name": f["display_name"],
                "upn": f["upn"],
                "immutable_id": anchor_of_source(f["source_id"]),
                "dn": f["dn"],
                "category": f["category"],
                "property": f["error_code"],
                "value": f["reason"],
                "action": f["action"],
                "job_id": f["job_id"],
                "occurred": f["occurred"],
                "last_occurred": f["occurred"],
                "occurrences": 1,
            }
        else:
            row["occurrences"] += 1
            row["last_occurred"] = f["occurred"] or row["last_occurred"]
            row["upn"] = row["upn"] or f["upn"]
            row["dn"] = row["dn"] or f["dn"]
            row["value"] = f["reason"] or row["value"]  # the latest reason
    return list(folded.values())


def read_cloud_sync(client: GraphClient, now: datetime, days: int = DEFAULT_DAYS, max_events: int = MAX_EVENTS) -> dict:
    """Configurations with their jobs, and provisioning-log failures of the last ``days`` days.

    ``detected`` is True when a configuration has a provisioning job, False when Graph shows none,
    None when the app may not read service principals (then nothing else is read either).
    """
    out: dict[str, Any] = {
        "detected": None,
        "configurations": [],
        "days": days,
        "errors": [],
        "events_read": 0,
        "truncated": False,
        "problems": [],
    }
    try:
        principals = list(
            client.get_all(
                "/servicePrincipals",
                {"$filter": f"applicationTemplateId eq '{TEMPLATE_ID}'", "$select": "id,appId,displayName"},
            )
        )
    except GraphError as exc:
        out["problems"].append(unread_part("Cloud Sync configurations", exc))
        return out
    for sp in principals:
        config = {"id": sp.get("id"), "display_name": sp.get("displayName") or "", "jobs": []}
        try:
            jobs = client.get_all(f"/servicePrincipals/{sp['id']}/synchronization/jobs")
            config["jobs"] = [job_summary(j) for j in jobs]
        except GraphError as exc:
            out["problems"].append(unread_part("Cloud Sync jobs", exc))
            config["jobs_unreadable"] = True
        out["configurations"].append(config)
    out["detected"] = any(j["template"] == PROVISIONING_JOB for c in out["configurations"] for j in c["jobs"]) or any(
        c.get("jobs_unreadable") for c in out["configurations"]
    )
    if not principals:
        return out
    ids = {sp.get("id") for sp in principals}
    since = (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    params = {
        "$filter": f"activityDateTime ge {since} and provisioningStatusInfo/status eq 'failure'",
        "$top": PAGE_SIZE,
    }
    failures = []
    try:
        for event in client.get_all("/auditLogs/provisioning", params):
            out["events_read"] += 1
            # The log also holds other provisioning apps (SaaS, HR inbound): keep Cloud Sync's.
            if (event.get("servicePrincipal") or {}).get("id") in ids:
                failures.append(failure_of(event))
            if out["events_read"] >= max_events:
                out["truncated"] = True
                break
    except GraphError as exc:
        out["problems"].append(unread_part("Provisioning logs", exc))
    out["errors"] = provisioning_errors(failures)
    return out
