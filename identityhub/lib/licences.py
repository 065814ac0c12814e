"""Readiness to assign licences, as Microsoft Graph shows it. Plain Python (no Django).

* A licence needs the user's ``usageLocation``, a two-letter ISO 3166 country code:
  https://learn.microsoft.com/graph/api/resources/user (usageLocation) and
  https://learn.microsoft.com/entra/identity/users/licensing-groups-resolve-problems
* Group-based licensing fails per user; ``licenseAssignmentStates`` on the user says which SKU,
  which group and the error (CountViolation, MutuallyExclusiveViolation, DependencyViolation,
  ProhibitedInUsageLocationViolation, UniquenessViolation, Other):
  https://learn.microsoft.com/graph/api/resources/licenseassignmentstate
* Groups with members in error: ``GET /groups?$filter=hasMembersWithLicenseErrors eq true``
  (Group.Read.All): https://learn.microsoft.com/graph/api/resources/group
* Consumed and enabled units per SKU: ``GET /subscribedSkus`` (LicenseAssignment.Read.All):
  https://learn.microsoft.com/graph/api/subscribedsku-list

The users are read once, by graph.pull_health()'s directory pass: LicenceTally collects from it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .graph import GraphClient, GraphError, unread_part

# The per-user properties the directory pass selects for this module.
USER_FIELDS = ("usageLocation", "licenseAssignmentStates")
ERROR_STATES = frozenset({"Error", "ActiveWithError"})
COUNT_VIOLATION = "CountViolation"
MAX_LISTED = 10_000  # users in error kept with their details; the counts stay exact beyond
MAX_EXAMPLES = 20


class LicenceTally:
    """Collects usage locations and licence assignment errors from the users of one pass."""

    def __init__(self, max_listed: int = MAX_LISTED):
        self.max_listed = max_listed
        self.without_location = Counter()  # synced / cloud_only -> users without usageLocation
        self.examples: list[str] = []
        self.by_code: Counter = Counter()
        self.users_in_error: set[str] = set()
        self.errors: list[dict] = []
        self.truncated = False

    def add_user(self, obj: dict) -> None:
        synced = obj.get("onPremisesSyncEnabled") is True
        if not obj.get("usageLocation"):
            self.without_location["synced" if synced else "cloud_only"] += 1
            if synced and len(self.examples) < MAX_EXAMPLES:
                self.examples.append(obj.get("userPrincipalName") or obj.get("id") or "")
        for state in obj.get("licenseAssignmentStates") or []:
            error = state.get("error")
            if state.get("state") not in ERROR_STATES and error in (None, "", "None"):
                continue
            code = error if error not in (None, "", "None") else "Other"
            self.by_code[code] += 1
            self.users_in_error.add(obj.get("id") or "")
            if len(self.errors) >= self.max_listed:
                self.truncated = True
                continue
            self.errors.append(
                {
                    "user_id": obj.get("id") or "",
                    "display_name": obj.get("displayName") or "",
                    "upn": obj.get("userPrincipalName") or "",
                    "immutable_id": obj.get("onPremisesImmutableId"),
                    "synced": synced,
                    "usage_location": obj.get("usageLocation") or "",
                    "sku_id": state.get("skuId") or "",
                    "error_code": code,
                    "state": state.get("state") or "",
                    "group_id": state.get("assignedByGroup") or "",
                }
            )


def fetch_skus(client: GraphClient) -> list[dict]:
    skus = []
    for sku in client.get_all("/subscribedSkus"):
        prepaid = sku.get("prepaidUnits") or {}
        skus.append(
            {
                "sku_id": sku.get("skuId") or "",
                "sku_part_number": sku.get("skuPartNumber") or "",
                "applies_to": sku.get("appliesTo") or "",
                "consumed": int(sku.get("consumedUnits") or 0),
                "enabled": int(prepaid.get("enabled") or 0),
                "warning": int(prepaid.get("warning") or 0),
                "suspended": int(prepaid.get("suspended") or 0),
            }
        )
    return skus


def fetch_groups_in_error(client: GraphClient) -> list[dict]:
    params = {"$filter": "hasMembersWithLicenseErrors eq true", "$select": "id,displayName"}
    return [{"id": g.get("id"), "display_name": g.get("displayName") or ""} for g in client.get_all("/groups", params)]


def read_licensing(client: GraphClient, tally: LicenceTally) -> dict:
    """The licensing picture: usage locations and errors from the tally, SKUs and groups from Graph.
    A permission Graph refuses leaves its part empty and is named in ``problems``."""
    out: dict[str, Any] = {"skus": [], "groups_in_error": [], "problems": []}
    try:
        out["skus"] = fetch_skus(client)
    except GraphError as exc:
        out["problems"].append(unread_part("Subscribed SKUs", exc))
    try:
        groups = fetch_groups_in_error(client)
    except GraphError as exc:
        out["problems"].append(unread_part("Groups with licence errors", exc))
        groups = []
    names = {s["sku_id"]: s["sku_part_number"] for s in out["skus"]}
    for error in tally.errors:
        error["sku_part_number"] = names.get(error["sku_id"], "")
    members = Counter(e["group_id"] for e in tally.errors if e["group_id"])
    out["groups_in_error"] = [{**g, "users_in_error": members.get(g["id"], 0)} for g in groups]
    out.update(
        users_without_usage_location={
            "synced": tally.without_location["synced"],
            "cloud_only": tally.without_location["cloud_only"],
            "examples": list(tally.examples),
        },
        errors_by_code=dict(sorted(tally.by_code.items())),
        users_in_error=len(tally.users_in_error),
        errors=tally.errors,
        errors_truncated=tally.truncated,
    )
    return out
