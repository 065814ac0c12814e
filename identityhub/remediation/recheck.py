"""After a write: read the object back and re-check it at once, without waiting for a full scan."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from identityhub.lib import rules
from identityhub.lib.entry import Entry
from identityhub.lib.rules.duplicates import all_keys
from identityhub.scans import counts, pipeline
from identityhub.scans.models import DirectoryObject, Finding, IdentityKey, ScanRun, StagedFinding


def current_snapshot(forest, guid) -> DirectoryObject | None:
    current = DirectoryObject.objects.filter(scan__forest=forest, scan__is_current=True, guid=guid)
    return current.select_related("forest").first()


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
        for old in DirectoryObject.objects.filter(scan=scan, guid=guid).select_related("forest"):
            values = {value for _, value in all_keys(old.as_entry())}
            IdentityKey.objects.filter(scan=scan, value__in=values, guid=guid).delete()
            old.delete()
        ctx = pipeline.context_for(scan.tenant)
        if entry is not None and not rules.exclusion_reason(entry, ctx):
            writer = pipeline.StagingWriter(scan, ctx)
            writer.add(entry, rules.check_entry(entry, ctx))
            writer.flush()
            pipeline.publish_keys(scan)
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
        counts.changed(scan.tenant_id)  # a fix resolved (or opened) findings: the pages count anew


def recompute_duplicates(scan: ScanRun, now=None) -> None:
    with transaction.atomic():
        pipeline.recompute_duplicates(scan, now or timezone.now())
        StagedFinding.objects.filter(scan=scan).delete()
        counts.changed(scan.tenant_id)
