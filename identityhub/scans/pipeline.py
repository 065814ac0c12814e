"""A scan from entries to the tenant's current picture: rules, staging, merge, duplicates.

Plain functions over the models; the Celery task only loads the row and calls run_scan().
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import queue
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Count, Exists, F, OuterRef, Value
from django.utils import timezone

from identityhub.lib import rules
from identityhub.lib.entry import Entry
from identityhub.lib.rules.checks import check_in_scope
from identityhub.lib.rules.duplicates import Holder, clash_findings, identity_keys_in_scope, value_keys
from identityhub.rollout.models import tracks_licence_readiness
from identityhub.timelimits import stopped_reason

from .models import DirectoryObject, Finding, IdentityKey, ScanRun, StagedFinding, StagedKey, WantedKey
from .signals import scan_completed, scan_held, scan_reviewed

log = logging.getLogger(__name__)

BATCH = 1000
PROGRESS_EVERY = 2.0  # seconds between progress writes
KEEP_SNAPSHOTS = 3  # completed scans per forest whose objects are kept for history
DUPLICATE_RULES = frozenset(code for code, rule in rules.RULES.items() if rule.error == "duplicate")
# Findings about the cloud side (health app: pre-sync collisions) are not the forest scan's to resolve.
CLOUD_RULE_PREFIX = "cloud."
GUID_NAMESPACE = uuid.UUID("6f0f7a52-4a36-4c5e-9d0e-8f3c1e6b2a11")
_FIRST_UNESCAPED_COMMA = re.compile(r"(?<!\\),")


class ScanCancelled(Exception):
    pass


def context_for(tenant) -> rules.Context:
    return rules.Context(
        ruleset=tenant.ruleset,
        verified_domains=frozenset(tenant.verified_domains),
        licence_readiness=tracks_licence_readiness(tenant),
    )


def parent_dn(dn: str) -> str:
    parts = _FIRST_UNESCAPED_COMMA.split(dn, maxsplit=1)
    return parts[1].strip() if len(parts) == 2 else ""


def object_guid(entry: Entry) -> uuid.UUID:
    """objectGUID, or (for exports without it) a stable GUID derived from the DN."""
    guid = entry.guid
    return uuid.UUID(guid) if guid else uuid.uuid5(GUID_NAMESPACE, entry.dn.lower())


def finding_key(guid: uuid.UUID, rule: str, attribute: str, value: str) -> str:
    return hashlib.sha1(f"{guid}\x1f{rule}\x1f{attribute}\x1f{value}".encode()).hexdigest()  # noqa: S324


def _json_attributes(entry: Entry) -> dict:
    out = {}
    for name, values in entry.attributes.items():
        if name == "objectguid":
            continue
        out[name] = ["b64:" + base64.b64encode(v).decode() if isinstance(v, bytes) else v for v in values]
    return out


def _usn(entry: Entry) -> int | None:
    value = entry.first("uSNChanged")
    return int(value) if value and str(value).isdigit() else None


# ---------------------------------------------------------------------------
# Staging: what one scan read and found, in batches
# ---------------------------------------------------------------------------


class _Rows:
    """Plain-tuple rows for one staging table, written in bulk.

    Why not bulk_create: building ~8 model instances per object (the object, its identity keys,
    its findings) and compiling their INSERTs through the ORM cost more than the rules themselves
    (bench/scan_bench.py, issue 3). The rows are the ones bulk_create would write: every value is
    adapted the way its field adapts it (UUIDs and JSON through the backend's own adapters).
    """

    def __init__(self, model, fields: tuple[str, ...]):
        opts = model._meta
        quote = connection.ops.quote_name
        self.table = quote(opts.db_table)
        self.columns = ", ".join(quote(opts.get_field(name).column) for name in fields)
        self.placeholders = ", ".join(["%s"] * len(fields))

    def write(self, rows: list[tuple]) -> None:
        if not rows:
            return
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # COPY: one stream per batch instead of a parsed and planned INSERT per row. On the
                # driver's own cursor, so its errors are translated here (IntegrityError and so on).
                sql = f"COPY {self.table} ({self.columns}) FROM STDIN"
                with connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                # Names come from the models' _meta, values are parameters.
                sql = f"INSERT INTO {self.table} ({self.columns}) VALUES ({self.placeholders})"  # noqa: S608
                cursor.executemany(sql, rows)


class StagingWriter:
    """Buffers objects, identity keys and findings of one scan and writes them in bulk.

    rows_for() turns an entry and its findings into the rows to store, touching neither the
    database nor the writer's state, so a scan runs it in the directory reader process (see
    run_scan); store() buffers them. Samba can return one entry twice, and base DNs may overlap:
    an object whose GUID this scan already holds is dropped with its keys and findings (within a
    batch here, across batches by the unique constraint, see _write), so memory stays a few
    batches whatever the directory's size.

    With background=True the batches are written by a thread of its own, on its own database
    connection, while the caller reads on: the database server's work (COPY, index upkeep,
    commits: as much CPU as the rules on PostgreSQL) overlaps the scan instead of stalling it
    (bench/scan_bench.py, issue 3). Only outside a transaction: the thread commits batch by batch,
    as writes without it do. The caller ends with flush() (every batch written; the thread's error,
    if any, raised) or abandon() (the thread stopped, the rest dropped).
    """

    def __init__(self, scan: ScanRun, ctx: rules.Context, *, background: bool = False):
        if background and connection.in_atomic_block:
            raise RuntimeError("Background staging writes cannot join the caller's transaction.")
        self.scan, self.ctx = scan, ctx
        self.pending: dict[str, tuple[tuple, list[tuple], list[tuple]]] = {}
        self.rule_counts: Counter = Counter()
        self.in_scope = 0
        self._objects = _Rows(DirectoryObject, _OBJECT_FIELDS)
        self._keys = _Rows(StagedKey, _KEY_FIELDS)  # into IdentityKey at the end: publish_keys()
        self._findings = _Rows(StagedFinding, _FINDING_FIELDS)
        # Rows carry UUIDs and JSON as the text the column takes (COPY and SQLite parse it), decided
        # once here: text pickles cheaply from the reader process, UUID and Jsonb objects do not.
        self._db_uuid = str if connection.features.has_native_uuid_field else (lambda guid: guid.hex)
        self._background = background
        self._thread: _BackgroundWrites | None = None  # started with the first batch, after any fork

    def add(self, entry: Entry, findings: list[rules.Finding]) -> None:
        """Stage an entry in scope (exclusion_reason() is None) with its findings."""
        self.store(self.rows_for(entry, findings))

    def rows_for(self, entry: Entry, findings: list[rules.Finding]) -> tuple[str, tuple, list[tuple], list[tuple]]:
        """(GUID as stored, object row, identity key rows, finding rows) of an entry in scope."""
        guid = object_guid(entry)
        scan_id, forest_id, db_guid = self.scan.pk, self.scan.forest_id, self._db_uuid(guid)
        ou = parent_dn(entry.dn)
        object_class = entry.object_class
        attributes = json.dumps(_json_attributes(entry))
        obj = (scan_id, forest_id, db_guid, entry.dn, object_class, ou, attributes, _usn(entry))
        keys = [
            (scan_id, forest_id, db_guid, kind, norm, attr, raw)
            for kind, norm, attr, raw in identity_keys_in_scope(entry, self.ctx)  # rows_for gets in-scope entries
        ]
        staged = [self._staged(f, entry, guid, db_guid, ou, object_class) for f in findings]
        return db_guid, obj, keys, staged

    def store(self, rows: tuple[str, tuple, list[tuple], list[tuple]]) -> None:
        db_guid, obj, keys, staged = rows
        if db_guid in self.pending:
            return
        self.pending[db_guid] = (obj, keys, staged)
        if len(self.pending) >= BATCH:
            self._hand_over()

    def _staged(self, f: rules.Finding, entry: Entry, guid: uuid.UUID, db_guid, ou: str, object_class: str) -> tuple:
        keys = value_keys(f.attribute, f.suggestion, entry, self.ctx) if f.suggestion else []
        return (
            self.scan.pk,
            self.scan.forest_id,
            finding_key(guid, f.rule, f.attribute, f.value),
            db_guid,
            entry.dn,
            object_class,
            ou,
            f.rule,
            f.severity,
            f.error,
            f.attribute,
            f.value,
            f.suggestion,
            json.dumps([list(k) for k in keys]),
            f.detail,  # e.g. the UPN Entra derives; never longer than the column (rules.DETAIL_MAX)
        )

    def _hand_over(self) -> None:
        batch, self.pending = self.pending, {}
        if not self._background:
            self._write(batch)
            return
        if self._thread is None:
            self._thread = _BackgroundWrites(self._write, name=f"scan-{self.scan.pk}-staging")
        self._thread.put(batch)

    def flush(self) -> None:
        """Write every staged object; with background writes, wait for them (and raise their error)."""
        if self.pending:
            self._hand_over()
        self._background = False
        if self._thread is not None:
            thread, self._thread = self._thread, None
            thread.finish()

    def abandon(self) -> None:
        """Stop background writes without waiting for pending batches (the scan is being discarded)."""
        self.pending = {}
        self._background = False
        if self._thread is not None:
            thread, self._thread = self._thread, None
            thread.stop()

    def _write(self, batch: dict) -> None:
        # Optimistic: an object this scan already stored in an earlier batch is rare, and asking
        # for every batch cost an index lookup per object whose plan went bad as the new scan's
        # rows outgrew the table's statistics (bench/scan_bench.py at a million objects). The
        # unique (scan, guid) constraint refuses the batch instead; it is then written without them.
        try:
            self._write_rows(list(batch.values()))
        except IntegrityError:
            held = DirectoryObject.objects.filter(scan=self.scan, guid__in=list(batch))
            stored = {self._db_uuid(guid) for guid in held.values_list("guid", flat=True)}
            self._write_rows([row for guid, row in batch.items() if guid not in stored])

    def _write_rows(self, rows: list[tuple[tuple, list[tuple], list[tuple]]]) -> None:
        findings = [f for _, _, staged in rows for f in staged]
        with transaction.atomic():  # one commit per batch, not one per table
            self._objects.write([obj for obj, _, _ in rows])
            self._keys.write([k for _, keys, _ in rows for k in keys])
            self._findings.write(findings)
        self.rule_counts.update(f[_FINDING_RULE] for f in findings)
        self.in_scope += len(rows)


class _BackgroundWrites:
    """A thread calling write(batch) for each batch put, in order, on its own database connection.

    The queue holds two batches: the caller runs at most that far ahead, so memory stays bounded.
    After a failed write the rest is discarded and finish() raises the failure; put() raises it
    too, so the caller stops early instead of checking entries that can no longer be stored.
    """

    def __init__(self, write: Callable[[dict], None], name: str):
        self._write = write
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._failure: BaseException | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, batch: dict) -> None:
        self._raise_failure()
        self._queue.put(batch)

    def finish(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._raise_failure()

    def stop(self) -> None:
        self._stopping = True
        self._queue.put(None)
        self._thread.join()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        try:
            while (batch := self._queue.get()) is not None:
                if self._failure is None and not self._stopping:
                    try:
                        self._write(batch)
                    except BaseException as exc:  # noqa: BLE001 - handed to the caller by finish()/put()
                        self._failure = exc
        finally:
            connections.close_all()  # this thread's connections only: Django keeps one per thread


_OBJECT_FIELDS = ("scan", "forest", "guid", "dn", "object_class", "ou", "attributes", "usn_changed")
_KEY_FIELDS = ("scan", "forest", "guid", "kind", "value", "attribute", "raw")
_FINDING_FIELDS = (
    "scan", "forest", "key", "guid", "dn", "object_class", "ou", "rule", "severity", "error", "attribute", "value",
    "suggestion", "suggestion_keys", "detail",
)  # fmt: skip
_FINDING_RULE = _FINDING_FIELDS.index("rule")


# ---------------------------------------------------------------------------
# Running a scan
# ---------------------------------------------------------------------------

STALE_AFTER = 600  # seconds without a heartbeat after which a running scan may be taken over


class ScanBusy(Exception):
    """The forest already has a scan queued or running."""


def queue_scan(forest, user=None, upload=None, kind: str = ScanRun.Kind.FULL) -> ScanRun:
    """Create the ScanRun row and hand it to a worker once the row is committed.

    An uploaded export is always read whole: a delta is asked of the forest's DC only.
    """
    from .tasks import scan_forest

    with transaction.atomic():
        if ScanRun.objects.filter(forest=forest, status__in=ScanRun.ACTIVE).select_for_update().exists():
            raise ScanBusy(f"A scan of {forest} is already queued or running.")
        scan = ScanRun.objects.create(
            tenant=forest.tenant,
            forest=forest,
            source=ScanRun.Source.UPLOAD if upload else ScanRun.Source.LDAP,
            upload=upload or "",
            kind=ScanRun.Kind.FULL if upload else kind,
            triggered_by=user if user and user.is_authenticated else None,
            catalogue_version=rules.CATALOGUE_VERSION,
            ruleset=forest.tenant.ruleset,
        )
        transaction.on_commit(lambda: scan_forest.delay(scan.pk))
    return scan


def claim(scan_id: int) -> ScanRun | None:
    """Mark a queued (or abandoned) scan as running; None when another worker has it or it ended."""
    now = timezone.now()
    stale = now - timezone.timedelta(seconds=STALE_AFTER)
    queued = ScanRun.objects.filter(pk=scan_id, status=ScanRun.Status.QUEUED)
    abandoned = ScanRun.objects.filter(pk=scan_id, status=ScanRun.Status.RUNNING, heartbeat__lt=stale)
    if not (
        queued.update(status=ScanRun.Status.RUNNING, started=now, heartbeat=now) or abandoned.update(heartbeat=now)
    ):
        return None
    scan = ScanRun.objects.select_related("tenant", "forest").get(pk=scan_id)
    discard_staging(scan)  # a re-delivered task starts clean: a rerun never duplicates anything
    return scan


def discard_staging(scan: ScanRun) -> None:
    StagedFinding.objects.filter(scan=scan).delete()
    StagedKey.objects.filter(scan=scan).delete()
    IdentityKey.objects.filter(scan=scan).delete()
    WantedKey.objects.filter(scan=scan).delete()
    DirectoryObject.objects.filter(scan=scan).delete()


def execute(
    scan_id: int, open_entries: Callable[[ScanRun, Callable], Iterable], open_changes: Callable | None = None
) -> ScanRun | None:
    """Claim, run and finish one scan; any failure leaves the previous picture as it was.

    open_entries(scan, prepare) yields prepare(entry) for every entry of the scan's source
    (sources.entries_for; prepare may run in another process). A delta scan reads through
    open_changes (sources.changes_for, see delta.run_delta), or runs as a full scan when it cannot.
    """
    scan = claim(scan_id)
    if scan is None:
        return None
    _supersede_held(scan)
    try:
        if scan.kind == ScanRun.Kind.DELTA and open_changes is not None:
            from . import delta

            delta.execute(scan, open_entries, open_changes)
        else:
            run_scan(scan, open_entries)
    except ScanCancelled:
        _end_without_picture(scan, ScanRun.Status.CANCELLED, "Cancelled before it completed.")
    except Exception as exc:  # noqa: BLE001 - every failure must end the job row, whatever it was
        _log_failure(scan, exc)
        _end_without_picture(scan, ScanRun.Status.FAILED, _reason(exc))
    return _announce(scan)


def _log_failure(scan: ScanRun, exc: Exception) -> None:
    """A malformed export or an unreachable DC is expected: one line, no traceback. Anything else
    is a bug, logged with its traceback."""
    if _is_expected(exc):
        log.warning("scan %s of %s failed: %s", scan.pk, scan.forest, _reason(exc))
    else:
        log.exception("scan %s failed", scan.pk)


def _is_expected(exc: Exception) -> bool:
    from identityhub.lib.directory import DirectoryError
    from identityhub.lib.ldif import ExportFormatError

    return isinstance(exc, DirectoryError | ExportFormatError)


def _announce(scan: ScanRun) -> ScanRun:
    scan.refresh_from_db()
    if scan.status == ScanRun.Status.COMPLETED:
        # Listeners (reverted fixes, rollout criteria, webhooks) run after the picture is in place.
        scan_completed.send(sender=ScanRun, scan=scan)
    elif scan.status == ScanRun.Status.HELD:
        scan_held.send(sender=ScanRun, scan=scan)
    return scan


def _reason(exc: Exception) -> str:
    # Shown on the scan's page and logged: short, whatever the exception carries (a database error
    # can quote a whole row).
    if stopped := stopped_reason(exc, settings.SCAN_SOFT_TIME_LIMIT):
        return stopped
    reason = str(exc) if _is_expected(exc) else f"Internal error ({exc.__class__.__name__}): {exc}"
    return reason if len(reason) <= 500 else reason[:499] + "…"


def _end_without_picture(scan: ScanRun, status: str, error: str) -> None:
    discard_staging(scan)
    ScanRun.objects.filter(pk=scan.pk).update(status=status, error=error, finished=timezone.now())


def run_scan(scan: ScanRun, open_entries: Callable[[ScanRun, Callable], Iterable]) -> None:
    ctx = context_for(scan.tenant)
    # A worker scans outside any transaction: its staging is written while it reads on.
    writer = StagingWriter(scan, ctx, background=not connection.in_atomic_block)

    def prepare(entry: Entry) -> tuple[str | None, tuple | None]:
        """(exclusion reason, None) or (None, rows to store): plain data, made where entries are read."""
        reason = rules.exclusion_reason(entry, ctx)
        if reason:
            return reason, None
        return None, writer.rows_for(entry, check_in_scope(entry, ctx))  # exclusion_reason() was just asked

    exclusions: Counter = Counter()
    read = 0
    started = last_progress = time.monotonic()
    try:
        for reason, rows in open_entries(scan, prepare):
            read += 1
            if reason:
                exclusions[reason] += 1
            else:
                writer.store(rows)
            if time.monotonic() - last_progress >= PROGRESS_EVERY:
                _progress(scan, read)
                last_progress = time.monotonic()
        writer.flush()
    finally:
        writer.abandon()  # after a failure: no batch is written once the caller discards the staging
    _progress(scan, read)
    counts = {"read": read, "in_scope": writer.in_scope, "exclusions": exclusions}
    timings = {"read_and_check": round(time.monotonic() - started, 3)}
    if not hold_if_dropping(scan, timings=timings, **counts):
        complete(scan, timings=timings, **counts)


def complete(scan: ScanRun, *, read: int, in_scope: int, exclusions: Counter, timings: dict) -> None:
    """Make the scan's staging the forest's current picture (see finalize), then prune old snapshots."""
    started = time.monotonic()
    finalize(scan, read=read, in_scope=in_scope, exclusions=exclusions)
    total = timings.get("read_and_check", 0) + time.monotonic() - started
    ScanRun.objects.filter(pk=scan.pk).update(timings={**timings, "total": round(total, 3)})
    prune_snapshots(scan.forest)
    vacuum_findings()


def vacuum_findings() -> None:
    """PostgreSQL, after the scan committed: VACUUM (ANALYZE) the findings table it rewrote.

    The findings list reads a page's ids from its index alone (index-only), which skips the table
    only for pages the visibility map marks all-visible, and only VACUUM marks them. Left to
    autovacuum (off on some servers, late on a busy one), a deep page visited every skipped row in
    the table: page 500 took 48-80 ms instead of 3 ms at 100,000 objects (issue 18). Reads only what
    changed since the last VACUUM; nothing to do inside a transaction (VACUUM cannot run there)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(Finding._meta.db_table)}")  # noqa: S608


# ---------------------------------------------------------------------------
# The accidental-deletion guard: a scan that would drop too much waits for an admin
# ---------------------------------------------------------------------------


def hold_if_dropping(scan: ScanRun, *, read: int, in_scope: int, exclusions: Counter, timings: dict) -> bool:
    """Hold a fully read scan that would drop more than SCAN_CONFIRM_DROP_SHARE of the objects of
    the forest's current picture, or every one of them (an empty file, a DC answering with nothing).

    Like Entra Connect's export deletion threshold: a truncated export or a wrong base DN must not
    resolve the forest's findings by itself. Dropped objects are counted by GUID, so objects
    replaced by as many others count too. The staging stays until confirm_held() or reject_held().
    """
    current = ScanRun.objects.filter(forest=scan.forest_id, is_current=True).exclude(pk=scan.pk).first()
    if current is None:
        return False  # the forest's first picture replaces nothing
    before_objects = DirectoryObject.objects.filter(scan=current)
    seen = DirectoryObject.objects.filter(scan=scan, guid=OuterRef("guid"))
    before, dropped = before_objects.count(), before_objects.exclude(Exists(seen)).count()
    ScanRun.objects.filter(pk=scan.pk).update(objects_before=before, objects_dropped=dropped)
    if before == 0 or (in_scope > 0 and dropped <= settings.SCAN_CONFIRM_DROP_SHARE * before):
        return False
    ScanRun.objects.filter(pk=scan.pk).update(
        status=ScanRun.Status.HELD,
        finished=timezone.now(),
        objects_read=read,
        objects_in_scope=in_scope,
        objects_excluded=sum(exclusions.values()),
        exclusion_counts=dict(exclusions),
        timings=timings,
    )
    log.warning("scan %s held for confirmation: would drop %s of %s objects", scan.pk, dropped, before)
    return True


def confirm_held(scan: ScanRun, user) -> bool:
    """An admin accepts a held scan: a worker completes it (finalize can take minutes). False if
    the scan was not (or no longer) held."""
    from .tasks import complete_confirmed_scan

    now = timezone.now()
    return _review_held(
        scan,
        user,
        complete_confirmed_scan,
        confirmed=True,
        status=ScanRun.Status.RUNNING,
        heartbeat=now,
        reviewed_at=now,
        finished=None,
    )


def reject_held(scan: ScanRun, user) -> bool:
    """An admin discards a held scan; the forest keeps its picture. False if it was not held."""
    from .tasks import discard_scan_staging

    dropped = f"{scan.objects_dropped} of {scan.objects_before}"
    error = f"Rejected by {getattr(user, 'username', '') or 'an admin'}: it would have dropped {dropped} objects."
    return _review_held(
        scan,
        user,
        discard_scan_staging,
        confirmed=False,
        status=ScanRun.Status.REJECTED,
        error=error,
        reviewed_at=timezone.now(),
    )


def _review_held(scan: ScanRun, user, job, *, confirmed: bool, **changes) -> bool:
    """Apply an admin's decision on a held scan once: only a scan still held changes (a second click,
    or a newer scan that superseded it, finds nothing); `job` runs after the commit."""
    with transaction.atomic():
        taken = ScanRun.objects.filter(pk=scan.pk, status=ScanRun.Status.HELD).update(reviewed_by=user, **changes)
        if taken:
            transaction.on_commit(lambda: job.delay(scan.pk))
    if taken:
        scan.refresh_from_db()
        scan_reviewed.send(sender=ScanRun, scan=scan, confirmed=confirmed)
    return bool(taken)


def complete_confirmed(scan_id: int) -> ScanRun | None:
    """The worker's half of confirm_held(): finalize the held scan's staging as any scan's."""
    scan = ScanRun.objects.select_related("tenant", "forest").filter(pk=scan_id).first()
    if scan is None or scan.status != ScanRun.Status.RUNNING or scan.reviewed_at is None:
        return None
    try:
        complete(
            scan,
            read=scan.objects_read,
            in_scope=scan.objects_in_scope,
            exclusions=Counter(scan.exclusion_counts),
            timings=scan.timings,
        )
    except Exception as exc:  # noqa: BLE001 - every failure must end the job row, whatever it was
        _log_failure(scan, exc)
        _end_without_picture(scan, ScanRun.Status.FAILED, _reason(exc))
    return _announce(scan)


def _supersede_held(scan: ScanRun) -> None:
    """A newer scan of the forest replaces any held one: confirming an older read would be wrong."""
    for held in ScanRun.objects.filter(forest=scan.forest_id, status=ScanRun.Status.HELD).exclude(pk=scan.pk):
        superseded = ScanRun.objects.filter(pk=held.pk, status=ScanRun.Status.HELD).update(
            status=ScanRun.Status.REJECTED, error=f"Superseded by scan #{scan.pk} before anyone confirmed it."
        )
        if superseded:
            discard_staging(held)


def _progress(scan: ScanRun, read: int) -> None:
    ScanRun.objects.filter(pk=scan.pk).update(objects_read=read, heartbeat=timezone.now())
    if ScanRun.objects.filter(pk=scan.pk, cancel_requested=True).exists():
        raise ScanCancelled


# ---------------------------------------------------------------------------
# Completing a scan: one transaction turns staging into the current picture
# ---------------------------------------------------------------------------


def finalize(scan: ScanRun, *, read: int, in_scope: int, exclusions: Counter) -> None:
    from identityhub.tenants.models import Tenant

    now = timezone.now()
    with transaction.atomic():
        # Forest scans of one tenant finish one at a time: duplicates span all their forests.
        Tenant.objects.select_for_update().filter(pk=scan.tenant_id).first()
        _tune_planner()
        publish_keys(scan)
        _refresh_statistics()
        vet_suggestions(scan)
        forest_findings = (
            Finding.objects.filter(forest=scan.forest_id)
            .exclude(rule__in=DUPLICATE_RULES)
            .exclude(rule__startswith=CLOUD_RULE_PREFIX)
        )
        merge_findings(scan, forest_findings, StagedFinding.objects.filter(scan=scan), now)
        ScanRun.objects.filter(forest=scan.forest_id, is_current=True).update(is_current=False)
        ScanRun.objects.filter(pk=scan.pk).update(is_current=True)
        recompute_duplicates(scan, now)
        StagedFinding.objects.filter(scan=scan).delete()
        open_findings = Finding.objects.filter(forest=scan.forest_id).unresolved()
        ScanRun.objects.filter(pk=scan.pk).update(
            status=ScanRun.Status.COMPLETED,
            finished=timezone.now(),
            refreshed=timezone.now(),
            catalogue_version=rules.CATALOGUE_VERSION,
            ruleset=scan.tenant.ruleset,
            objects_read=read,
            objects_in_scope=in_scope,
            objects_excluded=sum(exclusions.values()),
            exclusion_counts=dict(exclusions),
            findings_count=open_findings.count(),
            rule_counts=_counts(open_findings, "rule"),
            severity_counts=_counts(open_findings, "severity"),
        )


def publish_keys(scan: ScanRun) -> None:
    """Move the scan's staged identity keys into IdentityKey, in the order of its index."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(IdentityKey._meta.get_field(name).column) for name in _KEY_FIELDS)
    source, target = quote(StagedKey._meta.db_table), quote(IdentityKey._meta.db_table)
    scan_column, value_column = quote(StagedKey._meta.get_field("scan").column), quote("value")
    with connection.cursor() as cursor:
        # Names come from the models' _meta; the scan is a parameter.
        cursor.execute(
            f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {source} "  # noqa: S608
            f"WHERE {scan_column} = %s ORDER BY {value_column}",
            [scan.pk],
        )
    StagedKey.objects.filter(scan=scan).delete()


def _tune_planner() -> None:
    """PostgreSQL, this transaction only: room for finalize's sorts (the keys' order, the
    duplicates GROUP BY), and cursors (the iterators below) planned for the whole result."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL cursor_tuple_fraction = 1.0")


def _refresh_statistics(*models) -> None:
    """PostgreSQL: ANALYZE the columns finalize's joins use, before they run.

    The scan has just added a million rows or more that autovacuum has not sampled yet: with the
    old figures the planner takes thousands of staged findings for one and picks nested loops
    that turn quadratic (a million objects: minutes instead of seconds; bench/scan_bench.py).
    ANALYZE samples a fixed number of rows: the same cost at any size. `models`: only their tables.
    """
    if connection.vendor != "postgresql":
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model, fields in _JOIN_COLUMNS.items():
            if models and model not in models:
                continue
            columns = ", ".join(quote(model._meta.get_field(name).column) for name in fields)
            cursor.execute(f"ANALYZE {quote(model._meta.db_table)} ({columns})")


# The columns finalize's joins and filters use, per table (ANALYZE skips e.g. the JSON attributes).
_JOIN_COLUMNS = {
    StagedFinding: ("scan", "forest", "key", "rule", "suggestion"),
    IdentityKey: ("scan", "kind", "value", "guid"),
    DirectoryObject: ("scan", "guid"),
    Finding: ("tenant", "forest", "key", "rule", "status"),
}


def _counts(queryset, field: str) -> dict:
    return dict(queryset.order_by().values_list(field).annotate(n=Count("id")).values_list(field, "n"))


def vet_suggestions(scan: ScanRun) -> None:
    """Drop every suggestion that would take a value another object holds, or that two suggest.

    The values each suggestion would take are kept as the picture's WantedKey rows: a delta
    re-vets the suggestions wanting a value whose holders it changed (delta.revet_suggestions).
    """
    wanted: dict[tuple[str, str], set] = {}
    proposals = []
    for pk, guid, keys, key, suggestion in (
        StagedFinding.objects.filter(scan=scan, suggestion__isnull=False).values_list(
            "pk", "guid", "suggestion_keys", "key", "suggestion"
        )
    ).iterator(chunk_size=BATCH):
        for kind, value in keys or ():
            wanted.setdefault((kind, value), set()).add((pk, guid))
            proposals.append(WantedKey(scan=scan, forest_id=scan.forest_id, guid=guid, finding=key, kind=kind,
                                       value=value, proposal=suggestion))  # fmt: skip
    if not wanted:
        return
    WantedKey.objects.bulk_create(proposals, batch_size=BATCH)
    scans = list(_current_scan_ids(scan.tenant_id, exclude_forest=scan.forest_id)) + [scan.pk]
    refused = {pk for holders in wanted.values() if len({g for _, g in holders}) > 1 for pk, _ in holders}
    values = sorted({value for _, value in wanted})
    for start in range(0, len(values), 500):
        chunk = values[start : start + 500]
        for kind, value, guid in IdentityKey.objects.filter(scan__in=scans, value__in=chunk).values_list(
            "kind", "value", "guid"
        ):
            refused |= {pk for pk, own in wanted.get((kind, value), ()) if own != guid}
    refused_ids = sorted(refused)
    for start in range(0, len(refused_ids), 500):
        StagedFinding.objects.filter(pk__in=refused_ids[start : start + 500]).update(suggestion=None)


def _current_scan_ids(tenant_id: int, exclude_forest: int | None = None):
    current = ScanRun.objects.filter(tenant_id=tenant_id, is_current=True)
    if exclude_forest is not None:
        current = current.exclude(forest_id=exclude_forest)
    return current.values_list("pk", flat=True)


def merge_findings(scan: ScanRun, scope, staged, now) -> None:
    """Findings in `scope` take what `staged` saw: changed ones move on, new ones open, the rest resolve.

    A finding is the same as a staged one when forest AND key match: the key hashes the object's
    GUID, and one GUID can be in two forests (a migrated object seen in both, see
    recompute_duplicates). Matched by key alone, a finding of the other forest took its values
    from a staged row that is not there (NULL dn: the forest could never be scanned again).

    A finding seen again unchanged is not written at all: rewriting every row on every rescan
    doubled the table at a million objects (issue 18). It was seen when its forest's picture was
    refreshed (FindingQuerySet.with_seen); last_seen and last_scan tell when it last changed.
    """
    same = staged.filter(forest=OuterRef("forest"), key=OuterRef("key"))
    _update_changed_findings(scan, scope, staged, now)
    _insert_new_findings(scan, staged, now)
    scope.unresolved().exclude(Exists(same)).update(status=Finding.Status.RESOLVED, resolved_at=now)


# What a scan takes from what it sees on a finding it already has (the key fixes object, rule,
# attribute and value). A new catalogue may judge a rule differently (issue 14: severities, IdFix error types).
_SEEN_VALUES = ("dn", "ou", "suggestion", "detail", "severity", "error")


def _update_changed_findings(scan: ScanRun, scope, staged, now) -> None:
    """One UPDATE ... FROM `staged` of the findings in `scope` whose staged row differs or that reopen.

    A join, not a correlated subquery per column: six of them per changed finding (one per
    _SEEN_VALUES column, each probing the staged findings again) on top of the EXISTS. Both sides'
    filters are the querysets' own WHERE, compiled on their unaliased tables.
    """
    quote = connection.ops.quote_name
    target, source = quote(Finding._meta.db_table), quote(StagedFinding._meta.db_table)

    def column(model, table: str, name: str) -> str:
        return f"{table}.{quote(model._meta.get_field(name).column)}"

    ours, theirs = (lambda name: column(Finding, target, name)), (lambda name: column(StagedFinding, source, name))
    try:
        scope_where, scope_params = _where_of(scope)
        staged_where, staged_params = _where_of(staged)
    except EmptyResultSet:  # e.g. a delta's scope of no finding: nothing to update
        return
    # NULL suggestion: nothing to suggest. NULL and NULL are no change, NULL and a value are ("<>" says neither).
    differs = " OR ".join(
        [f"{theirs(name)} <> {ours(name)}" for name in _SEEN_VALUES]
        + [f"({theirs('suggestion')} IS NULL) <> ({ours('suggestion')} IS NULL)", f"{ours('status')} = %s"]
    )
    assignments = ", ".join(
        [f"{quote(Finding._meta.get_field(name).column)} = {theirs(name)}" for name in _SEEN_VALUES]
        + [
            f"{quote(Finding._meta.get_field('last_seen').column)} = %s",
            f"{quote(Finding._meta.get_field('last_scan').column)} = %s",
            f"{quote('status')} = CASE WHEN {ours('status')} = %s THEN %s ELSE {ours('status')} END",
            f"{quote('resolved_at')} = NULL",
        ]
    )
    resolved, reopened = Finding.Status.RESOLVED, Finding.Status.OPEN
    sql = (
        f"UPDATE {target} SET {assignments} FROM {source} "  # noqa: S608
        f"WHERE {scope_where} AND {staged_where} AND {theirs('forest')} = {ours('forest')} "
        f"AND {theirs('key')} = {ours('key')} AND ({differs})"
    )
    params = [now, scan.pk, resolved, reopened, *scope_params, *staged_params, resolved]
    with connection.cursor() as cursor:
        # Names come from the models' _meta; the values are parameters.
        cursor.execute(sql, params)


def _where_of(queryset) -> tuple[str, list]:
    """The WHERE of a filter-only queryset on one table, its columns named by the table (no alias)."""
    query = queryset.query
    # A filter on a foreign key leaves an unused join (refcount 0) in alias_map: no join in the SQL.
    if sum(1 for alias in query.alias_map if query.alias_refcount[alias]) > 1 or query.is_sliced:
        raise ValueError(f"not a plain filter of one table: {query}")
    compiler = query.get_compiler(connection=connection)
    try:
        sql, params = compiler.compile(query.where)
    except FullResultSet:  # no filter at all
        return "1 = 1", []
    return sql, list(params)


# The columns a new finding copies from its staged row, in the INSERT's order.
_COPIED = ("forest", "key", "guid", "dn", "object_class", "ou", "rule", "severity", "error", "attribute", "value",
           "suggestion", "detail")  # fmt: skip


def _insert_new_findings(scan: ScanRun, staged, now) -> None:
    """One INSERT ... SELECT of the staged findings no finding of their forest has the key of.

    One statement: a Python cursor over `staged` interleaved with inserts into the table its NOT
    EXISTS reads re-read a growing heap per row. Even as one statement, the first scan of a forest
    plans it while scans_finding is empty: a nested loop anti join over a sequential scan of
    scans_finding looks free, and every rescan of the inner re-reads the pages the statement itself
    adds (quadratic: 3 s, then 10.7 s per 1,000 rows at a million objects). Sequential scans off
    for this statement leave the anti join the (forest, key) unique index (or a hash / merge of
    it): the same cost whatever the statistics say (tests/test_scan_scale.py asserts the plan).
    """
    known = Finding.objects.filter(forest=OuterRef("forest"), key=OuterRef("key"))
    columns = {
        "tenant": Value(scan.tenant_id),
        **{name: F(name) for name in _COPIED},
        "status": Value(Finding.Status.OPEN),
        "first_seen": Value(now, output_field=Finding._meta.get_field("first_seen")),
        "last_seen": Value(now, output_field=Finding._meta.get_field("last_seen")),
        "first_scan": Value(scan.pk),
        "last_scan": Value(scan.pk),
    }
    # values_list() keeps the order of its fields and expressions (Django 5.2).
    select, params = staged.exclude(Exists(known)).order_by().values_list(*columns.values()).query.sql_with_params()
    quote = connection.ops.quote_name
    target = ", ".join(quote(Finding._meta.get_field(name).column) for name in columns)
    with connection.cursor() as cursor, _index_probes_only(cursor):
        # Names come from the models' _meta; the values are parameters of the compiled SELECT.
        cursor.execute(f"INSERT INTO {quote(Finding._meta.db_table)} ({target}) {select}", params)  # noqa: S608


@contextmanager
def _index_probes_only(cursor):
    """PostgreSQL, this statement only: no sequential scan where an index answers (see above)."""
    if connection.vendor != "postgresql":
        yield
        return
    cursor.execute("SET LOCAL enable_seqscan = off")
    try:
        yield
    finally:
        cursor.execute("SET LOCAL enable_seqscan = on")


def recompute_duplicates(scan: ScanRun, now) -> None:
    """Duplicate findings across every forest's current picture of the tenant, every holder flagged."""
    from identityhub.tenants.models import Forest

    current = list(_current_scan_ids(scan.tenant_id))
    staged: list[StagedFinding] = []
    for pairs in _clashing_holders(current):
        staged += _clash_staged(scan, pairs)
        if len(staged) >= BATCH:
            StagedFinding.objects.bulk_create(staged, batch_size=BATCH)
            staged = []
    StagedFinding.objects.bulk_create(staged, batch_size=BATCH)
    _stage_objects_in_two_forests(scan, current)
    # The duplicates were staged after finalize's ANALYZE (and on a first scan, the findings just
    # merged too): planned on those figures, the merge took 17,066 staged rows for 1 and probed
    # findings row by row (38.7 s instead of 1.9 s at 100,000 objects).
    _refresh_statistics(StagedFinding, Finding)
    # By forest, not tenant: the scope's filter is then the leading column of the (forest, key)
    # unique index every staged duplicate is matched by.
    forests = sorted(Forest.objects.filter(tenant=scan.tenant_id).values_list("pk", flat=True))
    scope = Finding.objects.filter(forest__in=forests, rule__in=DUPLICATE_RULES)
    merge_findings(scan, scope, StagedFinding.objects.filter(scan=scan, rule__in=DUPLICATE_RULES), now)


def _clashing_holders(current: list[int]) -> Iterator[list[tuple[IdentityKey, DirectoryObject]]]:
    """Per (kind, value) that two or more objects hold in the pictures `current`: its keys, each
    with the object holding it.

    One statement, streamed in (kind, value) order: the clashing groups (a GROUP BY over the
    pictures' keys) joined back to their keys and objects. Reading the groups into Python and then
    their keys 500 values at a time, and their objects once more per chunk, was finalize's longest
    step at a million objects (issue 18); tests/test_scan_scale.py asserts the plan.
    """
    if not current:
        return
    quote = connection.ops.quote_name
    keys, objects = quote(IdentityKey._meta.db_table), quote(DirectoryObject._meta.db_table)
    key_columns = ("scan_id", "forest_id", "guid", "kind", "value", "attribute", "raw")
    object_columns = ("dn", "object_class", "ou")
    selected = [f"k.{quote(c)}" for c in key_columns] + [f"o.{quote(c)}" for c in object_columns]
    in_current = ", ".join(["%s"] * len(current))
    kind, value, guid, scan_id = quote("kind"), quote("value"), quote("guid"), quote("scan_id")
    # Names come from the models' _meta; the scans are parameters. The groups are a subquery the
    # keys join (COUNT(DISTINCT) is no window function), counted over the distinct (kind, value,
    # guid): COUNT(DISTINCT guid) sorts every key by value (15 s for 1.17 M keys at 200,000
    # objects), two hash aggregates do not (8 s).
    sql = (
        f"SELECT {', '.join(selected)} FROM {keys} k "  # noqa: S608
        f"JOIN (SELECT {kind}, {value} FROM (SELECT DISTINCT {kind}, {value}, {guid} FROM {keys} "
        f"WHERE {scan_id} IN ({in_current})) held GROUP BY {kind}, {value} HAVING COUNT(*) > 1) c "
        f"ON c.{kind} = k.{kind} AND c.{value} = k.{value} "
        f"JOIN {objects} o ON o.{scan_id} = k.{scan_id} AND o.{guid} = k.{guid} "
        f"WHERE k.{scan_id} IN ({in_current}) ORDER BY k.{kind}, k.{value}"
    )
    guid_field = IdentityKey._meta.get_field("guid")
    group: list[tuple[IdentityKey, DirectoryObject]] = []
    with _serial_plan(), connection.chunked_cursor() as cursor:
        cursor.execute(sql, [*current, *current])
        while rows := cursor.fetchmany(BATCH):
            for row in rows:
                guid_value = guid_field.to_python(row[2])
                key = IdentityKey(**dict(zip(key_columns, row[:7], strict=True)))
                key.guid = guid_value
                obj = DirectoryObject(scan_id=row[0], forest_id=row[1], guid=guid_value, dn=row[7],
                                      object_class=row[8], ou=row[9])  # fmt: skip
                if group and (group[0][0].kind, group[0][0].value) != (key.kind, key.value):
                    yield group
                    group = []
                group.append((key, obj))
    if group:
        yield group


@contextmanager
def _serial_plan():
    """PostgreSQL, the statement planned inside: no parallel workers. Each worker of a parallel hash
    join builds its own copy of the grouped keys: the whole GROUP BY three times over (EXPLAIN
    ANALYZE at 200,000 objects: loops=3), on a machine whose cores the scan workers share."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = DEFAULT")


def _stage_duplicates(scan: ScanRun, keys: list[IdentityKey]) -> None:
    """Stage the duplicate findings of `keys` (every key of each clashing value, a delta's few)."""
    objects = {
        (o.scan_id, o.guid): o
        for o in DirectoryObject.objects.filter(
            scan__in={k.scan_id for k in keys}, guid__in={k.guid for k in keys}
        ).only("scan_id", "guid", "dn", "object_class", "ou")
    }
    by_value: dict[tuple[str, str], list[tuple[IdentityKey, DirectoryObject]]] = {}
    for k in keys:
        by_value.setdefault((k.kind, k.value), []).append((k, objects[(k.scan_id, k.guid)]))
    staged = [finding for pairs in by_value.values() for finding in _clash_staged(scan, pairs)]
    StagedFinding.objects.bulk_create(staged, batch_size=BATCH)


def _clash_staged(scan: ScanRun, pairs: list[tuple[IdentityKey, DirectoryObject]]) -> list[StagedFinding]:
    """The staged findings of one clashing (kind, value): `pairs` are its keys and their objects."""
    # In a fixed order, not the table's: each detail names the other holders in this order, and a
    # detail that changed with the rows' order would rewrite every duplicate finding each rescan.
    pairs = sorted(pairs, key=lambda pair: (str(pair[0].guid), pair[0].forest_id, pair[0].attribute, pair[0].raw))
    kind, value = pairs[0][0].kind, pairs[0][0].value
    holders = [Holder(k.guid, obj.dn, obj.object_class, k.attribute, k.raw) for k, obj in pairs]
    pair_of_holder = {id(holder): pair for holder, pair in zip(holders, pairs, strict=True)}
    staged = []
    # Every holder's finding names the others and what resiliency does on its side (one rule module).
    for holder, code, detail in clash_findings(kind, value, holders):
        k, obj = pair_of_holder[id(holder)]
        finding = finding_on_key(scan.pk, k, obj, code)
        finding.detail = detail
        staged.append(finding)
    return staged


def _stage_objects_in_two_forests(scan: ScanRun, current: list[int]) -> None:
    """A finding on every copy of an object whose GUID more than one forest's picture holds.

    One object in two forests is real life during a consolidation (or one export uploaded to two
    forests). It is not a duplicate of its own values: the keys above count holders by GUID.
    """
    if len(current) < 2:  # one forest: (scan, guid) is unique, nothing can be seen twice
        return
    twice = (
        DirectoryObject.objects.filter(scan__in=current)
        .values("guid")
        .annotate(copies=Count("scan"))
        .filter(copies__gt=1)
        .values_list("guid", flat=True)
    )
    guids = list(twice)
    code = "duplicate.objectguid"
    names = dict(ScanRun.objects.filter(pk__in=current).values_list("pk", "forest__name"))
    for start in range(0, len(guids), 500):
        copies: dict[uuid.UUID, list[DirectoryObject]] = {}
        held = DirectoryObject.objects.filter(scan__in=current, guid__in=guids[start : start + 500])
        # By forest, not scan: a rescan's id is newer, and the detail names the other copies in this order.
        for obj in held.only("scan_id", "forest_id", "guid", "dn", "object_class", "ou").order_by("forest_id"):
            copies.setdefault(obj.guid, []).append(obj)
        staged = [
            staged_finding(
                scan.pk, obj.forest_id, obj, code, "objectGUID", str(obj.guid), detail=_also_in(obj, objs, names)
            )
            for objs in copies.values()
            for obj in objs
        ]
        StagedFinding.objects.bulk_create(staged, batch_size=BATCH)


def _also_in(obj: DirectoryObject, copies: list[DirectoryObject], names: dict[int, str]) -> str:
    others = "; ".join(f"{names[o.scan_id]}: {o.dn}" for o in copies if o is not obj)
    detail = f"Also in {others}"
    limit = StagedFinding._meta.get_field("detail").max_length
    return detail if len(detail) <= limit else detail[: limit - 1] + "…"


def staged_finding(
    scan_id: int, forest_id: int, obj: DirectoryObject, code: str, attribute: str, value: str, detail: str = ""
) -> StagedFinding:
    """A staged finding of rule `code` on `obj`'s `attribute` holding `value`, found after the rules ran."""
    rule = rules.RULES[code]
    return StagedFinding(
        scan_id=scan_id,
        forest_id=forest_id,
        key=finding_key(obj.guid, code, attribute, value),
        guid=obj.guid,
        dn=obj.dn,
        object_class=obj.object_class,
        ou=obj.ou,
        rule=code,
        severity=rule.severity,
        error=rule.error,
        attribute=attribute,
        value=value,
        detail=detail,
    )


def finding_on_key(scan_id: int, key: IdentityKey, obj: DirectoryObject, code: str) -> StagedFinding:
    """A staged finding of rule `code` about the value an identity key holds (duplicates, collisions)."""
    return staged_finding(scan_id, key.forest_id, obj, code, key.attribute, key.raw)


def prune_snapshots(forest) -> None:
    """Keep the objects of the last few completed full scans (history); older snapshots go.

    Deltas hold no rows once completed (they update the current picture in place), and the
    current picture is never pruned, however many scans ran since.
    """
    keep = list(
        ScanRun.objects.filter(forest=forest, status=ScanRun.Status.COMPLETED, kind=ScanRun.Kind.FULL)
        .order_by("-finished")
        .values_list("pk", flat=True)[:KEEP_SNAPSHOTS]
    )
    old = (
        ScanRun.objects.filter(forest=forest, kind=ScanRun.Kind.FULL)
        .exclude(pk__in=keep)
        .exclude(status__in=ScanRun.KEEPS_STAGING)
        .exclude(is_current=True)
    )
    DirectoryObject.objects.filter(scan__in=old).delete()
    IdentityKey.objects.filter(scan__in=old).delete()
    WantedKey.objects.filter(scan__in=old).delete()


SCHEDULE_INTERVALS = {"hourly": 3600, "6h": 6 * 3600, "daily": 86400, "weekly": 7 * 86400}
AT_SET_TIME = {"daily": 1, "weekly": 7}  # days between full scans that start at the forest's full_scan_time


def queue_due_scans(now) -> list[ScanRun]:
    """For every scheduled forest: a full scan when its schedule says one is due, else a delta
    when the last scan is older than its delta interval. "Only when started by hand" queues none."""
    from identityhub.tenants.models import Forest

    queued = []
    for forest in Forest.objects.exclude(scan_schedule="manual").select_related("tenant"):
        if not forest.server_list:
            continue
        kind = due_kind(forest, now)
        if kind is None:
            continue
        try:
            queued.append(queue_scan(forest, kind=kind))
        except ScanBusy:
            continue
    return queued


def due_kind(forest, now) -> str | None:
    """ScanRun.Kind of the scan the forest's schedule wants now, or None."""
    scans = ScanRun.objects.filter(forest=forest, source=ScanRun.Source.LDAP)
    last_full = scans.filter(kind=ScanRun.Kind.FULL).order_by("-created").first()
    if last_full is None or last_full.created < _last_full_slot(forest, now):
        return ScanRun.Kind.FULL
    last = scans.order_by("-created").first()
    if forest.delta_minutes and (now - last.created).total_seconds() >= forest.delta_minutes * 60:
        return ScanRun.Kind.DELTA
    return None


def _last_full_slot(forest, now):
    """When the latest full scan was due: an interval ago, or the last time the set time came round."""
    days = AT_SET_TIME.get(forest.scan_schedule)
    if days is None:
        return now - timezone.timedelta(seconds=SCHEDULE_INTERVALS[forest.scan_schedule])
    local = timezone.localtime(now)
    slot = local.replace(hour=forest.full_scan_time.hour, minute=forest.full_scan_time.minute, second=0, microsecond=0)
    if slot > local:
        slot -= timezone.timedelta(days=1)
    # Weekly: due once the last full scan is older than the set time six days before this one's.
    return slot - timezone.timedelta(days=days - 1)
