"""Delta scans: the forest's current picture brought up to date in place, at a cost that follows
the changes.

A full scan copies the whole forest into a new snapshot. A delta reads only what changed on the
DC since the last scan's watermark (lib.directory.iter_changes) and, in one transaction, replaces
the touched objects of the current picture: their rows, their identity keys, their findings, and
the duplicate findings of every value they held before or hold now. Rows, keys and findings that
were not touched are not read. A delta that fails or is cancelled changes nothing, as a full scan.

Whenever a delta could give another picture than a full scan (no watermark, another DC, a DC
restored from backup, a watermark older than the tombstone lifetime, rights missing to see
deletions, the forest's scope or the rules changed since), the job runs a full scan instead and
says why (ScanRun.full_reason).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from identityhub.lib import rules
from identityhub.lib.directory import FullScanNeeded, Gone
from identityhub.lib.entry import Entry
from identityhub.lib.rules.checks import check_in_scope
from identityhub.lib.rules.duplicates import all_keys, key_of

from . import pipeline
from .models import DirectoryObject, Finding, IdentityKey, ScanRun, StagedFinding, StagedKey, WantedKey

CHUNK = 500  # values per IN (...) list


class FullInstead(Exception):
    """No delta is safe from here; the message says why, and a full scan runs instead."""


def picture_context(forest) -> str:
    """A fingerprint of everything besides the directory that shapes the picture: what is read
    (scope, filter, port) and how it is judged (catalogue, rule set, verified domains)."""
    tenant = forest.tenant
    shape = {
        "bases": [b.lower() for b in (forest.include_ou_list or forest.base_dn_list)],
        "exclude": [e.lower() for e in forest.exclude_ou_list],
        "filter": forest.extra_filter,
        "port": forest.port,
        "catalogue": rules.CATALOGUE_VERSION,
        "ruleset": tenant.ruleset,
        "domains": sorted(d.lower() for d in tenant.verified_domains),
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()


def plan(scan: ScanRun) -> tuple[ScanRun, dict]:
    """(the current picture, the watermark to continue from), or FullInstead."""
    forest = scan.forest
    if scan.source != ScanRun.Source.LDAP:
        raise FullInstead("Uploaded exports are always read whole.")
    picture = ScanRun.objects.filter(forest=forest, is_current=True).first()
    if picture is None:
        raise FullInstead("The forest has no completed scan yet.")
    last = ScanRun.objects.filter(forest=forest, status=ScanRun.Status.COMPLETED).order_by("-finished").first()
    if last is None or (last.pk != picture.pk and last.picture_id != picture.pk):
        raise FullInstead("The last completed scan is not the current picture's.")
    if not last.watermark.get("usn"):
        why = "an uploaded export" if last.source == ScanRun.Source.UPLOAD else "a read without a DC watermark"
        raise FullInstead(f"The current picture came from {why}.")
    if last.watermark.get("context") != picture_context(forest):
        raise FullInstead("The forest's scope, filter or rules changed since the last scan.")
    return picture, last.watermark


def execute(scan: ScanRun, open_entries: Callable, open_changes: Callable) -> None:
    """Run a claimed delta scan, or a full scan when no delta is safe (pipeline.execute's body)."""
    try:
        picture, mark = plan(scan)
        run_delta(scan, picture, mark, open_changes)
    except (FullInstead, FullScanNeeded) as exc:
        pipeline.discard_staging(scan)
        ScanRun.objects.filter(pk=scan.pk).update(kind=ScanRun.Kind.FULL, full_reason=str(exc)[:500], picture=None)
        scan.kind = ScanRun.Kind.FULL
        pipeline.run_scan(scan, open_entries)


def run_delta(scan: ScanRun, picture: ScanRun, mark: dict, open_changes: Callable) -> None:
    """Stage the changes since `mark`, then apply them to `picture` in one transaction.

    open_changes(scan, mark, prepare) returns (new watermark, changes): prepare(entry) for each
    object in scope that changed, a directory.Gone for each that left the scope. It raises
    FullScanNeeded before yielding anything when no delta is safe.
    """
    ctx = pipeline.context_for(scan.tenant)
    context = picture_context(scan.forest)
    writer = pipeline.StagingWriter(scan, ctx)
    ScanRun.objects.filter(pk=scan.pk).update(picture=picture)

    def prepare(entry: Entry):
        reason = rules.exclusion_reason(entry, ctx)
        if reason:
            return reason, str(pipeline.object_guid(entry))
        return None, writer.rows_for(entry, check_in_scope(entry, ctx))

    started = last_progress = time.monotonic()
    new_mark, changes = open_changes(scan, mark, prepare)
    read, changed, gone, exclusions = 0, set(), set(), Counter()
    for item in changes:
        read += 1
        if isinstance(item, Gone):
            gone.add(uuid.UUID(item.guid))
        else:
            reason, rows = item
            if reason:  # no longer synced (e.g. now a system mailbox): it leaves the picture
                exclusions[reason] += 1
                gone.add(uuid.UUID(rows))
            else:
                changed.add(uuid.UUID(str(rows[0])))
                writer.store(rows)
        if time.monotonic() - last_progress >= pipeline.PROGRESS_EVERY:
            pipeline._progress(scan, read)
            last_progress = time.monotonic()
    writer.flush()
    pipeline._progress(scan, read)
    read_seconds = time.monotonic() - started
    watermark = {**new_mark.as_dict(), "context": context}
    _full_if_dropping(scan, picture, gone - changed)
    apply(scan, picture, changed=changed, gone=gone - changed, read=read, exclusions=exclusions, watermark=watermark)
    ScanRun.objects.filter(pk=scan.pk).update(
        timings={"read_and_check": round(read_seconds, 3), "total": round(time.monotonic() - started, 3)},
    )


def _full_if_dropping(scan: ScanRun, picture: ScanRun, gone: set[uuid.UUID]) -> None:
    """The guard against vanishing objects (pipeline.hold_if_dropping) for deltas: a delta that would
    drop more than SCAN_CONFIRM_DROP_SHARE of the picture is not applied; a full scan runs instead,
    and is held for an admin's confirmation if it really drops as many."""
    if not gone:
        return
    leaving = objects_leaving(picture, gone)
    before = DirectoryObject.objects.filter(scan=picture).count()
    if before and leaving > settings.SCAN_CONFIRM_DROP_SHARE * before:
        raise FullInstead(
            f"The delta would drop {leaving} of {before} objects: a full scan checks that, and waits for "
            "an admin's confirmation if it drops as many."
        )


def objects_leaving(picture: ScanRun, gone: set[uuid.UUID]) -> int:
    """How many objects of the picture a delta would drop: what a guard against vanishing objects weighs."""
    return sum(
        DirectoryObject.objects.filter(scan=picture, guid__in=chunk).count() for chunk in _chunks(sorted(gone, key=str))
    )


def apply(
    scan: ScanRun, picture: ScanRun, *, changed: set, gone: set, read: int, exclusions: Counter, watermark: dict
) -> None:
    """One transaction: the picture's touched objects, keys and findings replaced by the staged ones."""
    from identityhub.tenants.models import Tenant

    now = timezone.now()
    touched = changed | gone
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=scan.tenant_id).first()
        if not ScanRun.objects.filter(pk=picture.pk, is_current=True).exists():
            raise FullInstead("A newer scan replaced the picture while the delta ran.")
        present, old_values = _drop_objects(picture, touched)
        new_values = _adopt_staging(scan, picture)
        pipeline.merge_findings(scan, _own_findings(scan, touched), StagedFinding.objects.filter(scan=scan), now)
        _recompute_duplicates(scan, old_values | new_values, touched, now)
        StagedFinding.objects.filter(scan=scan).delete()
        revet_suggestions(scan, old_values | new_values)
        # Exact figures, as a full scan gives them: a GROUP BY over the forest's open findings (the
        # findings list's own index), not the per-object rows. Added up from the last scan's
        # figures they would drift with every fix and acceptance made between scans.
        open_findings = Finding.objects.filter(forest=scan.forest_id).unresolved()
        rule_counts, severity_counts = (
            pipeline._counts(open_findings, "rule"),
            pipeline._counts(open_findings, "severity"),
        )
        deleted = len(present & gone)
        in_scope = _last_in_scope(scan) + len(changed - present) - deleted
        ScanRun.objects.filter(pk=scan.pk).update(
            status=ScanRun.Status.COMPLETED,
            finished=now,
            refreshed=now,
            watermark=watermark,
            catalogue_version=rules.CATALOGUE_VERSION,
            ruleset=scan.tenant.ruleset,
            objects_read=read,
            objects_changed=len(changed),
            objects_deleted=deleted,
            objects_in_scope=in_scope,
            objects_excluded=sum(exclusions.values()),
            exclusion_counts=dict(exclusions),
            findings_count=sum(severity_counts.values()),
            rule_counts=rule_counts,
            severity_counts=severity_counts,
        )
        ScanRun.objects.filter(pk=picture.pk).update(refreshed=now)


def _chunks(values: list, size: int = CHUNK):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _own_findings(scan: ScanRun, guids: set):
    """This forest's findings about `guids`, but the cloud side's (the health app's to resolve)."""
    return (
        Finding.objects.filter(forest=scan.forest_id, guid__in=sorted(guids, key=str))
        .exclude(rule__in=pipeline.DUPLICATE_RULES)
        .exclude(rule__startswith=pipeline.CLOUD_RULE_PREFIX)
    )


def _drop_objects(picture: ScanRun, touched: set) -> tuple[set, set]:
    """Remove the touched objects, their identity keys and their suggestions' keys from the picture.

    Returns (the GUIDs the picture held, every key their values held or their suggestions wanted).
    IdentityKey has no index by GUID: an object's keys are found by the values its stored row holds
    (as remediation does).
    """
    present, values = set(), set()
    for chunk in _chunks(sorted(touched, key=str)):
        rows = DirectoryObject.objects.filter(scan=picture, guid__in=chunk).select_related("forest")
        for obj in rows:
            present.add(obj.guid)
            values |= all_keys(obj.as_entry())
    guids = sorted(present, key=str)
    for chunk in _chunks(guids):
        wanted = WantedKey.objects.filter(scan=picture, guid__in=chunk)
        values |= set(wanted.values_list("kind", "value"))
        wanted.delete()
    held = sorted({value for _, value in values})
    for chunk in _chunks(held):
        IdentityKey.objects.filter(scan=picture, value__in=chunk, guid__in=guids).delete()
    for chunk in _chunks(guids):
        DirectoryObject.objects.filter(scan=picture, guid__in=chunk).delete()
    return present, values


def _adopt_staging(scan: ScanRun, picture: ScanRun) -> set:
    """The delta's staged objects, keys and suggestions' keys become the picture's; returns those keys."""
    DirectoryObject.objects.filter(scan=scan).update(scan=picture)
    keys = set(StagedKey.objects.filter(scan=scan).values_list("kind", "value"))
    proposals = []
    for guid, key, suggestion, wanted in StagedFinding.objects.filter(scan=scan, suggestion__isnull=False).values_list(
        "guid", "key", "suggestion", "suggestion_keys"
    ):
        for kind, value in wanted or ():
            keys.add((kind, value))
            proposals.append(WantedKey(scan=picture, forest_id=scan.forest_id, guid=guid, finding=key, kind=kind,
                                       value=value, proposal=suggestion))  # fmt: skip
    WantedKey.objects.bulk_create(proposals, batch_size=pipeline.BATCH)
    quote = connection.ops.quote_name
    columns = [quote(IdentityKey._meta.get_field(name).column) for name in pipeline._KEY_FIELDS]
    source, target = quote(StagedKey._meta.db_table), quote(IdentityKey._meta.db_table)
    scan_column = quote(StagedKey._meta.get_field("scan").column)
    with connection.cursor() as cursor:
        # Names come from the models' _meta; the scans are parameters.
        cursor.execute(
            f"INSERT INTO {target} ({', '.join(columns)}) SELECT %s, {', '.join(columns[1:])} "  # noqa: S608
            f"FROM {source} WHERE {scan_column} = %s",
            [picture.pk, scan.pk],
        )
    StagedKey.objects.filter(scan=scan).delete()
    return keys


def _last_in_scope(scan: ScanRun) -> int:
    last = (
        ScanRun.objects.filter(forest=scan.forest_id, status=ScanRun.Status.COMPLETED)
        .exclude(pk=scan.pk)
        .order_by("-finished")
        .first()
    )
    return last.objects_in_scope if last else 0


def _recompute_duplicates(scan: ScanRun, values: set, touched: set, now) -> set:
    """Duplicate findings of every key a touched object held or holds, across the tenant's pictures.

    Only those keys' groups can have changed: a value no touched object held before or holds now
    has the same holders as before. Returns the (forest, GUID) holders of those keys, untouched ones
    included, whose findings may have changed.
    """
    current = list(pipeline._current_scan_ids(scan.tenant_id))
    keys = []
    for chunk in _chunks(sorted({value for _, value in values})):
        keys += [
            k for k in IdentityKey.objects.filter(scan__in=current, value__in=chunk) if (k.kind, k.value) in values
        ]
    groups: dict[tuple[str, str], set] = {}
    for k in keys:
        groups.setdefault((k.kind, k.value), set()).add(k.guid)
    clashing = [k for k in keys if len(groups[(k.kind, k.value)]) > 1]
    pipeline._stage_duplicates(scan, clashing)
    holders = {k.guid for k in keys} | touched
    scope = []
    for chunk in _chunks(sorted(holders, key=str)):
        for pk, attribute, value in Finding.objects.filter(
            tenant=scan.tenant_id, rule__in=pipeline.DUPLICATE_RULES, guid__in=chunk
        ).values_list("pk", "attribute", "value"):
            if key_of(attribute, value) in values:
                scope.append(pk)
    staged = StagedFinding.objects.filter(scan=scan, rule__in=pipeline.DUPLICATE_RULES)
    pipeline.merge_findings(scan, Finding.objects.filter(pk__in=scope), staged, now)
    return holders


def revet_suggestions(scan: ScanRun, values: set) -> None:
    """Vet again, tenant-wide, every suggestion wanting one of `values` (keys whose holders or
    wanters the delta changed), as pipeline.vet_suggestions vets a full scan's: refused when
    another object holds the value, or another object of the same picture wants it too."""
    current = list(pipeline._current_scan_ids(scan.tenant_id))
    objects = set()
    for chunk in _chunks(sorted({value for _, value in values})):
        rows = WantedKey.objects.filter(scan__in=current, value__in=chunk).values_list("scan", "guid", "kind", "value")
        objects |= {(s, guid) for s, guid, kind, value in rows if (kind, value) in values}
    proposals: dict[tuple[int, str], dict] = {}  # (forest, finding key) -> guid, scan, proposal, keys
    for picture in {s for s, _ in objects}:
        guids = sorted((g for s, g in objects if s == picture), key=str)
        for chunk in _chunks(guids):
            for row in WantedKey.objects.filter(scan=picture, guid__in=chunk).values(
                "scan", "forest", "guid", "finding", "kind", "value", "proposal"
            ):
                item = proposals.setdefault((row["forest"], row["finding"]), {**row, "keys": set()})
                item["keys"].add((row["kind"], row["value"]))
    if not proposals:
        return
    needed = sorted({value for item in proposals.values() for _, value in item["keys"]})
    held: dict[tuple[str, str], set] = {}
    wanted: dict[tuple[int, str, str], set] = {}
    for chunk in _chunks(needed):
        for kind, value, guid in IdentityKey.objects.filter(scan__in=current, value__in=chunk).values_list(
            "kind", "value", "guid"
        ):
            held.setdefault((kind, value), set()).add(guid)
        for picture, kind, value, guid in WantedKey.objects.filter(scan__in=current, value__in=chunk).values_list(
            "scan", "kind", "value", "guid"
        ):
            wanted.setdefault((picture, kind, value), set()).add(guid)
    wanted_now = {}
    for (forest, key), item in proposals.items():
        own = {item["guid"]}
        refused = any(held.get(k, set()) - own or wanted.get((item["scan"], *k), set()) - own for k in item["keys"])
        wanted_now[(forest, key)] = None if refused else item["proposal"]
    # Read the suggestions they carry now; write only those that change (usually none or a few).
    for forest in {forest for forest, _ in wanted_now}:
        keys = sorted(key for f, key in wanted_now if f == forest)
        for chunk in _chunks(keys):
            rows = Finding.objects.filter(forest=forest, key__in=chunk).unresolved()
            for pk, key, suggestion in rows.values_list("pk", "key", "suggestion"):
                if suggestion != wanted_now[(forest, key)]:
                    Finding.objects.filter(pk=pk).update(suggestion=wanted_now[(forest, key)])
