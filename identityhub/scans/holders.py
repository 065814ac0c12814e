"""Who else holds the value of a duplicate finding: the other objects of the tenant's current scans
with the same identity key (the same kind and normalised value, as lib.rules.duplicates compares)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.urls import reverse

from identityhub.lib.rules.duplicates import key_of

from .models import DirectoryObject, IdentityKey, ScanRun
from .names import object_name


@dataclass(frozen=True)
class Holder:
    forest_id: int
    forest_name: str
    guid: UUID
    dn: str
    attribute: str
    raw: str
    url: str

    @property
    def name(self) -> str:
        return object_name(self.dn)


def _key(finding) -> tuple[str, str] | None:
    if not finding.rule.startswith("duplicate."):
        return None
    key = key_of(finding.attribute, finding.value)
    return key if key and key[1] else None


def other_holders(findings, tenant, limit: int = 20) -> dict[int, list[Holder]]:
    """finding.pk -> the other holders of its value, for the duplicate findings among `findings`
    (a page of the list or one object's findings): three queries whatever their number."""
    keys = {f.pk: key for f in findings if (key := _key(f)) is not None}
    if not keys:
        return {}
    scans = dict(ScanRun.objects.filter(tenant=tenant, is_current=True).values_list("pk", "forest__name").order_by())
    rows = list(
        IdentityKey.objects.filter(scan__in=list(scans), value__in={v for _, v in keys.values()})
        .values_list("scan_id", "forest_id", "guid", "kind", "value", "attribute", "raw")
        .order_by()[: 50 * len(keys) + limit]
    )
    wanted = {(scan_id, guid) for scan_id, _, guid, *_ in rows}
    dns = {}
    if wanted:
        objects = DirectoryObject.objects.filter(scan__in={s for s, _ in wanted}, guid__in={g for _, g in wanted})
        dns = {(o.scan_id, o.guid): o.dn for o in objects.only("scan_id", "guid", "dn")}
    by_key: dict[tuple[str, str], list] = {}
    for scan_id, forest_id, guid, kind, value, attribute, raw in rows:
        by_key.setdefault((kind, value), []).append((scan_id, forest_id, guid, attribute, raw))
    slug = tenant.slug
    out: dict[int, list[Holder]] = {}
    by_pk = {f.pk: f for f in findings}
    for pk, key in keys.items():
        own = by_pk[pk]
        seen, holders = set(), []
        for scan_id, forest_id, guid, attribute, raw in by_key.get(key, []):
            if (forest_id, guid) == (own.forest_id, own.guid) or (forest_id, guid) in seen:
                continue
            seen.add((forest_id, guid))
            url = reverse("object-detail", args=[slug, forest_id, guid])
            dn = dns.get((scan_id, guid), str(guid))
            holders.append(Holder(forest_id, scans.get(scan_id, ""), guid, dn, attribute, raw, url))
        out[pk] = sorted(holders, key=lambda h: h.dn.lower())[:limit]
    return out
