"""Vetting a change: would its value raise a finding, clash with another object, or remove what
an object must have? Run when a change is proposed, again when it is approved (four eyes) and for
every bulk row when it is applied, never only at preview time.

A target is a Finding or a Change: both carry tenant, forest, guid, dn and attribute.
"""

from __future__ import annotations

from django.db.models import Min

from identityhub.lib import directory, rules
from identityhub.lib.rules.duplicates import key_of, value_keys
from identityhub.scans.models import DirectoryObject, ScanRun
from identityhub.scans.pipeline import context_for

from .models import Change
from .recheck import current_snapshot, is_taken_for

# Attributes an object cannot be without: what AD's schema makes mandatory (mustContain) for the
# classes the scan reads, among the attributes a finding can be about. Removing one is refused in
# the preview, inline and in bulk, before AD would refuse it.
# https://learn.microsoft.com/en-us/windows/win32/adschema/c-user (sAMAccountName: from securityPrincipal)
MANDATORY = {
    "samaccountname": ("user", "group", "computer", "inetorgperson"),
    "cn": (),  # every class: the RDN
    "objectclass": (),
}
# Entra needs a UPN on every synced user; AD would take the removal, sync would not.
NEEDED_BY_SYNC = {"userprincipalname": "A user needs a userPrincipalName: edit it instead."}
# Changes whose values are (or may be) in AD though the current picture may not show them yet.
IN_FLIGHT = (Change.Result.QUEUED, Change.Result.UNKNOWN)
ADDRESS_ATTRIBUTES = ("userPrincipalName", "mail", "proxyAddresses")


def vet_value(target, new_value: str, *, exclude_change: int | None = None, rules_apply: bool = True) -> list[str]:
    """Why `new_value` may not be written to the target's attribute now (empty: it may).

    rules_apply=False (an undo, which puts back what was there): only whether another object holds it.
    """
    snapshot = current_snapshot(target.forest, target.guid)
    if snapshot is None:
        return ["The object is not in the forest's current scan; scan again first."]
    if not new_value.strip():
        return ["Enter a value, or use Remove."]
    entry = snapshot.as_entry()
    ctx = context_for(target.tenant)
    problems = rules.check_value(
        entry, target.attribute, new_value, ctx, is_taken=is_taken_for(target.tenant, target.guid)
    )
    if not rules_apply:
        problems = [p for p in problems if p.rule.startswith("duplicate.")]
    reasons = [f"{rules.RULES[p.rule].title} ({p.rule})" for p in problems]
    reasons += _taken_by_other_changes(target, entry, new_value, ctx, exclude_change)
    if target.attribute.lower() == "samaccountname":
        reasons += _sam_taken_in_domain(target, new_value)
    return reasons


def vet_removal(target, value: str | None = None) -> list[str]:
    """Why the target's value may not be removed (empty: it may)."""
    attribute = target.attribute.lower()
    if attribute in NEEDED_BY_SYNC:
        return [NEEDED_BY_SYNC[attribute]]
    if attribute in MANDATORY:
        snapshot = current_snapshot(target.forest, target.guid)
        classes = {c.lower() for c in snapshot.as_entry().object_classes} if snapshot else set()
        required_by = MANDATORY[attribute]
        if not required_by or classes & set(required_by) or snapshot is None:
            return [f"{target.attribute} is mandatory for this object (AD's schema requires it): edit it instead."]
    if attribute == "proxyaddresses" and (value or "").startswith("SMTP:"):
        return ["This is the primary SMTP address: make another address primary instead of removing it."]
    return []


def vet_change(change: Change) -> list[str]:
    """A proposed change vetted again now (at approval): rules, current values, other changes."""
    if change.action == Change.Action.REMOVE or not change.new_values:
        return [r for value in change.old_values for r in vet_removal(change, value)]
    reasons = []
    for value in change.new_values:
        reasons += vet_value(change, value, exclude_change=change.pk, rules_apply=change.action != Change.Action.UNDO)
    return list(dict.fromkeys(reasons))


def _taken_by_other_changes(target, entry, new_value: str, ctx, exclude_change) -> list[str]:
    """Another object was given this value by a change in flight, or applied since the scan."""
    keys = set(value_keys(_canonical(target.attribute), new_value, entry, ctx))
    if not keys:
        return []
    attributes = ADDRESS_ATTRIBUTES if any(kind == "address" for kind, _ in keys) else (target.attribute,)
    since = ScanRun.objects.filter(tenant=target.tenant, is_current=True).aggregate(at=Min("created"))["at"]
    others = Change.objects.filter(tenant=target.tenant, attribute__in=attributes).exclude(guid=target.guid)
    in_flight = others.filter(result__in=IN_FLIGHT)
    applied = others.filter(result=Change.Result.APPLIED, applied_at__gte=since) if since else others.none()
    if exclude_change:
        in_flight, applied = in_flight.exclude(pk=exclude_change), applied.exclude(pk=exclude_change)
    candidates = in_flight | applied
    for _, norm in keys:
        if '"' not in norm and "\\" not in norm:
            # Narrowed in the database (the JSON list as text holds the value, whatever its case):
            # a bulk run vets each row against every change applied since the scan.
            candidates = candidates.filter(new_values__icontains=norm)
    for pk, dn, attribute, values in candidates.values_list("pk", "dn", "attribute", "new_values")[:1000]:
        for value in values:
            if key_of(_canonical(attribute), value) in keys:
                return [f"Change #{pk} already gives {value} to {dn} (values must be unique in the tenant)."]
    return []


def _sam_taken_in_domain(target, new_value: str) -> list[str]:
    """AD requires sAMAccountName to be unique within the object's domain, whatever Entra needs."""
    try:
        domain = directory.domain_of(target.dn)
    except Exception:  # noqa: BLE001 - a DN ldap3 cannot parse: the write refuses it clearly
        return []
    for dn in sam_holders(target.forest, new_value, target.guid).values_list("dn", flat=True)[:20]:
        if dn.lower().replace(" ", "").endswith(_dc_suffix(domain)):
            return [f"sAMAccountName {new_value} is already used in {domain} by {dn}."]
    return []


def sam_holders(forest, value: str, guid):
    """Objects of the forest's current picture, other than `guid`, whose sAMAccountName is `value`
    (any case). On PostgreSQL the expression index scans_directoryobject_sam (migration
    0011_loose_directoryobject_sam) answers it; keep this lookup's expression and that index's the same."""
    return DirectoryObject.objects.filter(
        scan__forest=forest, scan__is_current=True, attributes__samaccountname__0__iexact=value
    ).exclude(guid=guid)


def _dc_suffix(domain: str) -> str:
    return ",".join(f"dc={part}" for part in domain.split("."))


_CANONICAL = {name.lower(): name for name in (*ADDRESS_ATTRIBUTES, "mailNickname", "sAMAccountName", "targetAddress")}


def _canonical(attribute: str) -> str:
    return _CANONICAL.get(attribute.lower(), attribute)
