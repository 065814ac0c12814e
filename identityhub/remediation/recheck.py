"""After a write: read the object back and re-check it at once, without waiting for a full scan."""

from __future__ import annotations

import base64
import uuid

from django.db import transaction
from django.utils import timezone

from identityhub.lib import rules
from identityhub.lib.entry import Entry
from identityhub.scans import pipeline
from identityhub.scans.models import DirectoryObject, Finding, IdentityKey, ScanRun, StagedFinding


def entry_from_snapshot(obj: DirectoryObject) -> Entry:
    """The Entry a scan stored, as the rules saw it (binary values back to bytes)."""
    attributes = {
        name: [base64.b64decode(v[4:]) if isinstance(v, str) and v.startswith("b64:") else v for v in values]
        for name, values in obj.attributes.items()
    }
    attributes["objectguid"] = [uuid.UUID(str(obj.guid)).bytes_le]
    return Entry(dn=obj.dn, attributes=attributes, source=obj.forest.name)


def current_snapshot(forest, guid) -> DirectoryObject | None:
    return (
        DirectoryObject.objects.filter(forest=forest, guid=guid, scan__is_current=True).select_related("forest").first()
    )


def is_taken_for(tenant, guid):
    """is_taken for the rules: does another object of the tenant's current picture hold the key?"""
    current = ScanRun.objects.filter(tenant=tenant, is_current=True).values("pk")

    def is_taken(kind: str, value: str) -> bool:
        return IdentityKey.objects.filter(scan__in=current, kind=kind, value=value).exclude(guid=guid).exists()

    return is_taken


def refresh_object(forest, entry: Entry | None, guid, *, duplicates: bool = True) -> None:
    """Replace the object in the forest's current picture by what AD holds now, and merge its findings."""
    scan = ScanRun.objects.filter(forest=forest, is_current=True).select_related("tenant", "forest").first()
    if scan is None:
        return
    now = timezone.now()
    with transaction.atomic():
        DirectoryObject.objects.filter(scan=scan, guid=guid).delete()
        IdentityKey.objects.filter(scan=scan, guid=guid).delete()
        ctx = pipeline.context_for(scan.tenant)
        if entry is not None and not rules.exclusion_reason(entry, ctx):
            writer = pipeline.StagingWriter(scan, ctx)
            writer.add(entry, rules.check_entry(entry, ctx))
            writer.flush()
        own = StagedFinding.objects.filter(scan=scan, guid=guid)
        scope = (
            Finding.objects.filter(forest=forest, guid=guid)
            .exclude(rule__in=pipeline.DUPLICATE_RULES)
            .exclude(rule__startswith=pipeline.CLOUD_RULE_PREFIX)
        )
        pipeline.merge_findings(scan, scope, own, now)
        own.delete()
        if duplicates:
            recompute_duplicates(scan, now)


def recompute_duplicates(scan: ScanRun, now=None) -> None:
    with transaction.atomic():
        pipeline.recompute_duplicates(scan, now or timezone.now())
        StagedFinding.objects.filter(scan=scan).delete()
