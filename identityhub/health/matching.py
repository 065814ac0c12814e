"""Graph's picture against our on-prem picture: provisioning errors to objects and findings,
pre-sync cloud collisions as findings, and fixed findings verified once they arrive clean.

Our picture is the tenant's current scans (ScanRun.is_current): their DirectoryObject and
IdentityKey rows. Entra compares addresses case-insensitively and UPN, mail and SMTP proxies
share one namespace, which is what IdentityKey kind "address" already is.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections import defaultdict

from django.db.models import F, Q

from identityhub.lib.rules.duplicates import ADDRESS, all_keys
from identityhub.scans import counts
from identityhub.scans.models import DirectoryObject, Finding, IdentityKey, ScanRun, StagedFinding
from identityhub.scans.pipeline import finding_on_key, merge_findings

from .models import LicenceError, ProvisioningError

COLLISION_RULE = "cloud.collision"
CHUNK = 500
# Graph's propertyCausingError -> the AD attributes a finding about it may name.
PROPERTY_ATTRIBUTES = {
    "UserPrincipalName": ("userPrincipalName",),
    "ProxyAddress": ("proxyAddresses", "mail"),
}


def anchor_of(guid: uuid.UUID) -> str:
    """onPremisesImmutableId of an object synced with default settings: base64 of objectGUID's bytes_le."""
    return base64.b64encode(guid.bytes_le).decode()


def guid_of_anchor(anchor: str | None) -> uuid.UUID | None:
    try:
        raw = base64.b64decode(anchor or "", validate=True)
    except (binascii.Error, ValueError):
        return None
    return uuid.UUID(bytes_le=raw) if len(raw) == 16 else None


def address_value(value: str | None) -> str:
    """A UPN, mail or "smtp:addr" proxy value the way IdentityKey stores an address."""
    value = (value or "").strip()
    prefix, sep, rest = value.partition(":")
    if sep and prefix.lower() == "smtp":
        value = rest
    return value.strip().lower()


def _current_scans(tenant) -> list[int]:
    return list(ScanRun.objects.filter(tenant=tenant, is_current=True).values_list("pk", flat=True))


def _chunks(items):
    items = sorted(items)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _holders(scans: list[int], values) -> dict[str, set[tuple[int, uuid.UUID]]]:
    """address -> {(forest_id, guid)} of the on-prem objects holding it."""
    holders: dict[str, set] = defaultdict(set)
    for chunk in _chunks(set(values)):
        rows = IdentityKey.objects.filter(scan__in=scans, kind=ADDRESS, value__in=chunk)
        for value, forest_id, guid in rows.values_list("value", "forest_id", "guid"):
            holders[value].add((forest_id, guid))
    return holders


# -- provisioning errors -> objects and findings ------------------------------------------------


def locate(scans: list[int], items: list[dict]) -> list[tuple[int, uuid.UUID, str] | None]:
    """Per item, the on-prem object (forest_id, objectGUID, how) of our current picture: by the
    anchor (``immutable_id``), then the DN (``dn``, as Cloud Sync logs it), then the UPN (``upn``),
    then the conflicting ``value``; a UPN or value two objects hold matches neither. None: not found."""
    anchors = {i["immutable_id"]: guid_of_anchor(i["immutable_id"]) for i in items if i.get("immutable_id")}
    by_guid: dict[uuid.UUID, int] = {}
    for chunk in _chunks({g for g in anchors.values() if g}):
        by_guid.update(
            (guid, forest_id)
            for guid, forest_id in DirectoryObject.objects.filter(scan__in=scans, guid__in=chunk).values_list(
                "guid", "forest_id"
            )
        )
    # DNs only of what the anchor does not find: dn has no index (a scan writes millions of rows), and
    # Cloud Sync logs the DN as AD holds it, so an exact comparison is enough.
    by_dn: dict[str, set] = defaultdict(set)
    unanchored = {i["dn"] for i in items if i.get("dn") and anchors.get(i.get("immutable_id")) not in by_guid}
    for chunk in _chunks(unanchored):
        for dn, forest_id, guid in DirectoryObject.objects.filter(scan__in=scans, dn__in=chunk).values_list(
            "dn", "forest_id", "guid"
        ):
            by_dn[dn].add((forest_id, guid))
    values = {address_value(i.get("upn")) for i in items} | {address_value(i.get("value")) for i in items}
    holders = _holders(scans, values - {""})
    found: list[tuple[int, uuid.UUID, str] | None] = []
    for item in items:
        guid = anchors.get(item.get("immutable_id"))
        if guid in by_guid:
            found.append((by_guid[guid], guid, "anchor"))
            continue
        match = None
        candidates = (
            ("dn", by_dn.get(item.get("dn") or "")),
            ("upn", holders.get(address_value(item.get("upn"))) if item.get("upn") else None),
            ("value", holders.get(address_value(item.get("value"))) if item.get("value") else None),
        )
        for how, objects in candidates:
            if objects and len(objects) == 1:
                forest_id, guid = next(iter(objects))
                match = (forest_id, guid, how)
                break
        found.append(match)
    return found


def match_errors(tenant, errors: list[dict]) -> list[ProvisioningError]:
    """Unsaved ProvisioningError rows (Connect Sync's and Cloud Sync's), each matched to its on-prem
    object (see locate()) and to the finding that best explains it."""
    scans = _current_scans(tenant)
    # Cloud Sync's value is Microsoft's reason, not a conflicting address: nothing to look up by it.
    items = [{**e, "value": e["value"] if e.get("source", "connect") == "connect" else None} for e in errors]
    rows = []
    for e, match in zip(errors, locate(scans, items), strict=True):
        row = ProvisioningError(
            source=e.get("source") or ProvisioningError.Source.CONNECT,
            object_id=(e["object_id"] or "")[:64],
            object_type=(e["object_type"] or "")[:10],
            display_name=(e["display_name"] or "")[:256],
            upn=(e.get("upn") or "")[:256],
            immutable_id=(e.get("immutable_id") or "")[:64],
            category=(e["category"] or "")[:40],
            property=(e["property"] or "")[:64],
            value=e["value"] or "",
            occurred=e["occurred"],
            last_occurred=e.get("last_occurred"),
            occurrences=e.get("occurrences") or 1,
            action=(e.get("action") or "")[:20],
            job_id=(e.get("job_id") or "")[:200],
            source_dn=e.get("dn") or "",
        )
        if match:
            row.matched_forest_id, row.matched_guid, row.matched_by = match
        rows.append(row)
    _attach_findings(tenant, scans, rows)
    return rows


def match_licence_errors(tenant, errors: list[dict]) -> list[LicenceError]:
    """Unsaved LicenceError rows, each matched to its on-prem user (anchor, then UPN)."""
    scans = _current_scans(tenant)
    items = [{"immutable_id": e.get("immutable_id"), "upn": e.get("upn")} for e in errors]
    rows = []
    for e, match in zip(errors, locate(scans, items), strict=True):
        row = LicenceError(
            user_id=e["user_id"][:64],
            display_name=e["display_name"][:256],
            upn=e["upn"][:256],
            immutable_id=(e.get("immutable_id") or "")[:64],
            usage_location=(e.get("usage_location") or "")[:8],
            sku_id=e["sku_id"][:64],
            sku_part_number=(e.get("sku_part_number") or "")[:100],
            error_code=e["error_code"][:64],
            state=e["state"][:20],
            group_id=(e.get("group_id") or "")[:64],
        )
        if match:
            row.matched_forest_id, row.matched_guid, row.matched_by = match
        rows.append(row)
    dns = _dns(scans, {r.matched_guid for r in rows if r.matched_guid})
    for row in rows:
        row.matched_dn = dns.get((row.matched_forest_id, row.matched_guid), "")
    return rows


def _dns(scans: list[int], guids) -> dict[tuple[int, uuid.UUID], str]:
    dns = {}
    for chunk in _chunks(guids):
        dns.update(
            ((forest_id, guid), dn)
            for forest_id, guid, dn in DirectoryObject.objects.filter(scan__in=scans, guid__in=chunk).values_list(
                "forest_id", "guid", "dn"
            )
        )
    return dns


def _attach_findings(tenant, scans: list[int], rows: list[ProvisioningError]) -> None:
    matched = [r for r in rows if r.matched_guid]
    if not matched:
        return
    findings: dict[tuple[int, uuid.UUID], list[Finding]] = defaultdict(list)
    for chunk in _chunks({r.matched_guid for r in matched}):
        for f in Finding.objects.filter(tenant=tenant, guid__in=chunk).order_by("status", "rule", "pk"):
            findings[(f.forest_id, f.guid)].append(f)
    dns = _dns(scans, {r.matched_guid for r in matched})
    for row in matched:
        candidates = findings.get((row.matched_forest_id, row.matched_guid), [])
        row.matched_dn = dns.get((row.matched_forest_id, row.matched_guid)) or (candidates[0].dn if candidates else "")
        row.matched_finding = _best_finding(row, candidates)


def _best_finding(row: ProvisioningError, candidates: list[Finding]) -> Finding | None:
    attributes = PROPERTY_ATTRIBUTES.get(row.property, ())
    value = address_value(row.value)

    def rank(f: Finding) -> tuple:
        return (
            f.attribute not in attributes,
            address_value(f.value) != value,
            f.status != Finding.Status.OPEN,
            f.severity != "blocking",
        )

    return min(candidates, key=rank) if candidates else None


# -- pre-sync cloud collisions ------------------------------------------------------------------


def merge_cloud_collisions(tenant, cloud_only_identities, now, holders: dict[str, str] | None = None) -> int:
    """Every on-prem address a cloud-only object already uses becomes a cloud.collision finding,
    merged per forest exactly as a scan merges (pipeline.merge_findings): new ones open, seen ones
    move on, gone ones resolve. `holders` (value -> the cloud object) names the other side in the
    finding's detail. Returns the number of clashing values."""
    holders = holders or {}
    current = {s.forest_id: s for s in ScanRun.objects.filter(tenant=tenant, is_current=True)}
    scans = [s.pk for s in current.values()]
    holders_keys: list[IdentityKey] = []
    for chunk in _chunks({value for _, value in cloud_only_identities}):
        holders_keys += IdentityKey.objects.filter(scan__in=scans, kind=ADDRESS, value__in=chunk)
    objects = {}
    for chunk in _chunks({k.guid for k in holders_keys}):
        rows = DirectoryObject.objects.filter(scan__in=scans, guid__in=chunk)
        for obj in rows.only("scan_id", "guid", "dn", "object_class", "ou"):
            objects[(obj.scan_id, obj.guid)] = obj
    staged: dict[str, StagedFinding] = {}
    for k in holders_keys:
        obj = objects.get((k.scan_id, k.guid))
        if obj is None:
            continue
        finding = finding_on_key(k.scan_id, k, obj, COLLISION_RULE)
        if k.value in holders:
            finding.detail = f"In use in Entra ID by the cloud-only {holders[k.value]}."[:500]
        staged[finding.key] = finding
    StagedFinding.objects.bulk_create(staged.values(), batch_size=1000)
    for forest_id, scan in current.items():
        mine = StagedFinding.objects.filter(scan=scan, rule=COLLISION_RULE)
        merge_findings(scan, Finding.objects.filter(forest=forest_id, rule=COLLISION_RULE), mine, now)
        mine.delete()
    # A forest without a current picture has no on-prem values to clash.
    Finding.objects.filter(tenant=tenant, rule=COLLISION_RULE).exclude(forest_id__in=list(current)).unresolved().update(
        status=Finding.Status.RESOLVED, resolved_at=now
    )
    counts.changed(tenant.pk)
    return len({k.value for k in holders_keys})


# -- closing the loop ---------------------------------------------------------------------------


def verify_fixed(tenant, last_sync, synced_clean_identities, errors: list[ProvisioningError], now) -> int:
    """Resolved findings whose object Graph shows synced without error after a sync that ran
    since the fix get verified_at = now ("verified clean"). Returns how many."""
    if last_sync is None:
        return 0
    pending = (
        Finding.objects.filter(tenant=tenant, status=Finding.Status.RESOLVED, resolved_at__lt=last_sync)
        .filter(Q(verified_at__isnull=True) | Q(verified_at__lt=F("resolved_at")))
        .order_by()
    )
    objects = set(pending.values_list("forest_id", "guid"))
    if not objects:
        return 0
    anchors = {value for kind, value in synced_clean_identities if kind == "anchor"}
    addresses = {value for kind, value in synced_clean_identities if kind != "anchor"}
    erroring = {(e.matched_forest_id, e.matched_guid) for e in errors if e.matched_guid}
    keys: dict[tuple[int, uuid.UUID], set[str]] = defaultdict(set)
    for chunk in _chunks({guid for _, guid in objects}):
        # The addresses from each object's snapshot (its identity keys are indexed by value only).
        rows = DirectoryObject.objects.filter(scan__in=_current_scans(tenant), guid__in=chunk).select_related("forest")
        for obj in rows:
            keys[(obj.forest_id, obj.guid)] = {value for kind, value in all_keys(obj.as_entry()) if kind == ADDRESS}
    arrived: dict[int, list[uuid.UUID]] = defaultdict(list)
    for forest_id, guid in objects:
        if (forest_id, guid) in erroring:
            continue
        if anchor_of(guid) in anchors or keys[(forest_id, guid)] & addresses:
            arrived[forest_id].append(guid)
    verified = 0
    for forest_id, guids in arrived.items():
        for chunk in _chunks(guids):
            verified += pending.filter(forest_id=forest_id, guid__in=chunk).update(verified_at=now)
    if verified:
        counts.changed(tenant.pk)  # "awaiting sync" and "verified clean" moved
    return verified
