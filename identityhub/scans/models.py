"""Scans of a forest, the objects they read, and the findings with their history across scans.

A scan writes its objects, identity keys and findings against its own ScanRun while it runs;
only when it completes does it become the forest's current picture (ScanRun.is_current) and are
its findings merged into Finding. A failed scan leaves the previous picture untouched.
"""

import base64
import datetime
import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Greatest, Left
from django.urls import reverse

from identityhub.lib.entry import Entry
from identityhub.tenants.models import Forest, Tenant

# The findings list sorted by value reads an index of the values' first characters (finding_open_value).
VALUE_SORT_PREFIX = 200


class ScanRunQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(tenant__in=Tenant.objects.for_user(user))

    def current(self):
        return self.filter(is_current=True)

    def refreshed_by_forest(self) -> dict[int, datetime.datetime | None]:
        """Forest id -> ScanRun.refreshed of its current scan (one per forest), for
        FindingQuerySet.with_seen(refreshed=...)."""
        return dict(self.current().values_list("forest_id", "refreshed"))


class ScanRun(models.Model):
    """The job row of one scan of one forest: status, progress, counts, timings."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        # Read completely, but it would drop too many of the forest's objects (pipeline.hold_if_dropping):
        # kept aside, staging and all, until an admin confirms (it then completes) or rejects it.
        HELD = "held", "Needs confirmation"
        REJECTED = "rejected", "Rejected"

    class Source(models.TextChoices):
        LDAP = "ldap", "LDAP"
        UPLOAD = "upload", "Uploaded export"

    class Kind(models.TextChoices):
        FULL = "full", "Full"
        DELTA = "delta", "Delta"

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    KEEPS_STAGING = (*ACTIVE, Status.HELD)  # never pruned nor discarded by another scan's housekeeping

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="scans")
    forest = models.ForeignKey(Forest, on_delete=models.CASCADE, related_name="scans")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.LDAP)
    # What ran: a delta asked for may run as a full scan, and full_reason says why.
    kind = models.CharField(max_length=5, choices=Kind.choices, default=Kind.FULL)
    full_reason = models.CharField(max_length=500, blank=True, help_text="Why a full scan ran instead of a delta.")
    # A delta changes the picture of the full scan it continues in place: its rows keep that scan's id.
    picture = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Delta: the picture."
    )
    # Where this scan's read stood on its DC (lib.directory.Watermark) and the scope and rules it
    # read with ("context"): what the next delta continues from. Empty for uploads.
    watermark = models.JSONField(default=dict, blank=True)
    # The picture's last confirmation by a full or delta scan: "scanned recently", "last seen".
    refreshed = models.DateTimeField(null=True, blank=True)
    upload = models.FileField(upload_to="uploads/%Y/%m/", blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    is_current = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)

    catalogue_version = models.CharField(max_length=20, blank=True)
    ruleset = models.CharField(max_length=12, blank=True)
    scope = models.JSONField(default=dict, blank=True, help_text="Servers, bases, filter: what was read.")
    objects_read = models.PositiveIntegerField(default=0)
    objects_in_scope = models.PositiveIntegerField(default=0)
    objects_excluded = models.PositiveIntegerField(default=0)
    objects_changed = models.PositiveIntegerField(default=0, help_text="Delta: objects added or changed in scope.")
    objects_deleted = models.PositiveIntegerField(default=0, help_text="Objects that left the picture.")
    findings_count = models.PositiveIntegerField(default=0)
    rule_counts = models.JSONField(default=dict, blank=True)
    severity_counts = models.JSONField(default=dict, blank=True)
    exclusion_counts = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    # The accidental-deletion guard: what the scan would replace, set when the forest had a picture.
    objects_before = models.PositiveIntegerField(
        null=True, blank=True, help_text="Objects in scope in the picture this scan replaces."
    )
    objects_dropped = models.PositiveIntegerField(
        null=True, blank=True, help_text="Objects of that picture this scan did not see."
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    objects = ScanRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["forest"], condition=Q(is_current=True), name="one_current_scan_per_forest")
        ]

    def __str__(self):
        return f"Scan #{self.pk} of {self.forest}"

    def get_absolute_url(self):
        return reverse("scan-detail", args=[self.tenant.slug, self.pk])

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def drop_percent(self) -> int | None:
        """Share of the previous picture's objects this scan would drop, in whole percent (rounded up)."""
        if not self.objects_before or self.objects_dropped is None:
            return None
        return -(-100 * self.objects_dropped // self.objects_before)

    @property
    def duration(self):
        if self.started and self.finished:
            return self.finished - self.started
        return None


class DirectoryObject(models.Model):
    """One object as one scan read it (the snapshot). Excluded objects are not stored."""

    # No index of their own on the foreign keys of the per-scan tables: each table's composite
    # indexes start with them, and every index is upkeep for each of the millions of rows a scan
    # writes (bench/scan_bench.py, issue 3). Nor a database constraint on `forest` (the scan's
    # forest, already guarded through `scan`): each constraint is a trigger query per row at commit.
    # The identity-key tables have none at all: their rows are written in the same transaction as
    # the objects they belong to (staging) or while finalize holds the scan's row (publishing).
    scan = models.ForeignKey(ScanRun, on_delete=models.CASCADE, related_name="directory_objects", db_index=False)
    forest = models.ForeignKey(Forest, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    guid = models.UUIDField()
    dn = models.TextField()
    object_class = models.CharField(max_length=30)
    ou = models.TextField(help_text="The DN of the container holding the object.")
    attributes = models.JSONField(default=dict)
    usn_changed = models.BigIntegerField(null=True, blank=True)

    class Meta:
        # The one index besides the key: every index is upkeep for each object a scan writes, and
        # one whose keys arrive in random order (GUIDs, addresses) touches a random page per row,
        # which at a million objects outgrows the database's cache (bench/scan_bench.py, issue 3).
        # An object's history across scans goes through the forest's few ScanRuns. One exception,
        # PostgreSQL only: an expression index on sAMAccountName for vetting, which would otherwise
        # read every kept snapshot per vetted value (migration 0011_loose_directoryobject_sam).
        constraints = [models.UniqueConstraint(fields=["scan", "guid"], name="one_object_per_guid_per_scan")]

    def __str__(self):
        return self.dn

    def as_entry(self) -> Entry:
        """The Entry the scan stored, as the rules saw it (binary values back to bytes)."""
        attributes = {
            name: [base64.b64decode(v[4:]) if isinstance(v, str) and v.startswith("b64:") else v for v in values]
            for name, values in self.attributes.items()
        }
        attributes["objectguid"] = [uuid.UUID(str(self.guid)).bytes_le]
        return Entry(dn=self.dn, attributes=attributes, source=self.forest.name)


class KeyColumns(models.Model):
    """What an identity key holds: the object, the kind and normalised value, and where it came from."""

    guid = models.UUIDField()
    kind = models.CharField(max_length=20)
    value = models.TextField()
    attribute = models.CharField(max_length=64)
    raw = models.TextField()

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.kind}:{self.value}"


class IdentityKey(KeyColumns):
    """A value that must be unique tenant-wide (UPN, SMTP address, mail...), normalised as Entra compares."""

    scan = models.ForeignKey(ScanRun, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    forest = models.ForeignKey(Forest, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)

    class Meta:
        # Duplicates, vetting and an edit's re-check look values up (an object's own keys too: by
        # the values its snapshot holds). No index by GUID: see DirectoryObject.Meta.
        indexes = [models.Index(fields=["scan", "value"])]


class StagedKey(KeyColumns):
    """An identity key as a running scan found it; publish_keys() moves a completed scan's keys
    into IdentityKey in value order, so IdentityKey's index grows by appending instead of taking
    a random page per key (at a million objects, six million keys: bench/scan_bench.py)."""

    scan = models.ForeignKey(ScanRun, on_delete=models.CASCADE, related_name="+", db_constraint=False)  # appends
    forest = models.ForeignKey(Forest, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)


class WantedKey(models.Model):
    """A value a finding's suggestion would take (before vetting), in one scan's picture.

    Suggestions are vetted against the values other objects hold or want (pipeline.vet_suggestions).
    A delta re-vets the suggestions wanting a value whose holders it changed: these rows find them
    without re-reading the forest's findings. Written for findings whose suggestion takes an
    identity key (UPN, addresses, mailNickname...): far fewer rows than IdentityKey.
    """

    scan = models.ForeignKey(ScanRun, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    forest = models.ForeignKey(Forest, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    guid = models.UUIDField()
    finding = models.CharField(max_length=64, help_text="Finding.key of the finding suggesting it.")
    kind = models.CharField(max_length=20)
    value = models.TextField()
    proposal = models.TextField(help_text="The suggestion before vetting.")

    class Meta:
        indexes = [models.Index(fields=["scan", "value"]), models.Index(fields=["scan", "guid"])]

    def __str__(self):
        return f"{self.kind}:{self.value}"


class StagedFinding(models.Model):
    """A finding as one scan produced it, before it is merged into Finding when the scan completes."""

    scan = models.ForeignKey(ScanRun, on_delete=models.CASCADE, related_name="+", db_index=False)
    forest = models.ForeignKey(Forest, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    key = models.CharField(max_length=64)
    guid = models.UUIDField()
    dn = models.TextField()
    object_class = models.CharField(max_length=30)
    ou = models.TextField()
    rule = models.CharField(max_length=64)
    severity = models.CharField(max_length=10)
    error = models.CharField(max_length=20)
    attribute = models.CharField(max_length=64)
    value = models.TextField()
    # None: nothing to suggest; "" would mean "remove the value".
    suggestion = models.TextField(null=True, blank=True)  # noqa: DJ001
    suggestion_keys = models.JSONField(default=list, blank=True, help_text="Identity keys the suggestion would take.")
    detail = models.CharField(
        max_length=500, blank=True, default="", help_text="E.g. the cloud object it collides with."
    )

    class Meta:
        indexes = [models.Index(fields=["scan", "key"])]

    def __str__(self):
        return f"{self.rule} on {self.dn}"


class Severity(models.TextChoices):
    """Most severe first: the order every page, export and message lists severities in (the rule
    catalogue's SEVERITIES, which the Django-free rule engine keeps; a test holds them equal)."""

    BLOCKING = "blocking", "Blocking"
    DEGRADING = "degrading", "Degrading"
    HYGIENE = "hygiene", "Hygiene"

    @classmethod
    def split(cls, counts: dict | None) -> list[tuple[str, int]]:
        """[(severity, n)] in this order, zeros included, from counts keyed by severity: a JSONField
        such as ScanRun.severity_counts comes back in PostgreSQL's jsonb key order (hygiene first)."""
        counts = counts or {}
        return [(severity, counts.get(severity, 0)) for severity in cls.values]


class FindingQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(tenant__in=Tenant.objects.for_user(user))

    def open(self):
        """The one definition of an open finding, for every count, list default, criterion, score,
        export and API answer: still present in AD and neither accepted nor excepted."""
        return self.filter(status=Finding.Status.OPEN)

    def unresolved(self):
        """Still present in AD, whatever the admins decided (open, accepted or excepted): what a scan
        compares with, not what anyone counts as open."""
        return self.exclude(status=Finding.Status.RESOLVED)

    def with_seen(self, refreshed: dict[int, datetime.datetime | None] | None = None):
        """Annotate `seen`: when the finding was last known present. A delta scan reads only what
        changed, and a full scan does not rewrite a finding it sees again unchanged (issue 18), so
        an unresolved finding was still there when the forest's picture was last refreshed
        (ScanRun.refreshed), though its last_seen (its last change) is older.

        `refreshed` (ScanRunQuerySet.refreshed_by_forest(): forest id -> that time) puts the times in
        the query as constants instead of a correlated subquery per row, for a long export.
        """
        if refreshed is None:
            current = ScanRun.objects.filter(forest=models.OuterRef("forest"), is_current=True)
            refresh = models.Subquery(current.values("refreshed")[:1])
        else:
            refresh = models.Case(
                *(models.When(forest_id=forest, then=models.Value(at)) for forest, at in refreshed.items() if at),
                default=None,
                output_field=models.DateTimeField(),
            )
        return self.annotate(
            seen=models.Case(
                models.When(
                    ~Q(status=Finding.Status.RESOLVED),
                    then=Greatest(models.F("last_seen"), Coalesce(refresh, models.F("last_seen"))),
                ),
                default=models.F("last_seen"),
            )
        )


class Finding(models.Model):
    """One problem with one value of one object, tracked across scans until it is gone."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"
        ACCEPTED = "accepted", "Accepted"
        EXCEPTED = "excepted", "Excepted"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="findings")
    forest = models.ForeignKey(Forest, on_delete=models.CASCADE, related_name="findings")
    key = models.CharField(max_length=64, help_text="Hash of object, rule, attribute and value.")
    guid = models.UUIDField()
    dn = models.TextField()
    object_class = models.CharField(max_length=30)
    ou = models.TextField()
    rule = models.CharField(max_length=64)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    error = models.CharField(max_length=20)
    attribute = models.CharField(max_length=64)
    value = models.TextField()
    # None: nothing to suggest; "" would mean "remove the value".
    suggestion = models.TextField(null=True, blank=True)  # noqa: DJ001
    detail = models.CharField(
        max_length=500, blank=True, default="", help_text="E.g. the cloud object it collides with."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    first_scan = models.ForeignKey(ScanRun, on_delete=models.SET_NULL, null=True, related_name="+")
    last_scan = models.ForeignKey(ScanRun, on_delete=models.SET_NULL, null=True, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Set by a health pull (health app) when Graph shows the object synced without error after
    # the finding was resolved. A verified_at older than resolved_at belongs to an earlier fix.
    verified_at = models.DateTimeField(null=True, blank=True)

    objects = FindingQuerySet.as_manager()

    class Meta:
        ordering = ["dn", "rule"]
        constraints = [models.UniqueConstraint(fields=["forest", "key"], name="one_finding_per_key_per_forest")]
        indexes = [
            models.Index(fields=["tenant", "status", "severity"]),
            models.Index(fields=["tenant", "rule"]),
            models.Index(fields=["forest", "guid"]),
            # The findings list's default (open, by severity then rule, id as tie-breaker) read in index
            # order, a page at a time, instead of sorting every open finding per request; by tenant,
            # by forest, and by rule (a chip) ordered the same way. Partial: only open findings.
            # The search's trigram indexes are PostgreSQL-only (migration 0010_i18p_finding_list_indexes).
            models.Index(
                fields=["tenant", "severity", "rule", "id"], condition=Q(status="open"), name="finding_open_order"
            ),
            # The same order over every status: an export of all findings (?status=all, half a million
            # rows) streams in index order from its first row instead of sorting the table first.
            models.Index(fields=["tenant", "severity", "rule", "id"], name="finding_order"),
            models.Index(
                fields=["forest", "severity", "rule", "id"], condition=Q(status="open"), name="finding_open_forest"
            ),
            models.Index(
                fields=["tenant", "rule", "severity", "id"], condition=Q(status="open"), name="finding_open_rule"
            ),
            # Sorted by value (FindingTable.order_value): the value's first VALUE_SORT_PREFIX characters,
            # not the value: a btree entry holds at most ~2,700 bytes, and a longer value (a .length
            # finding from an export) would fail the scan that writes it. Then the id: ties (16,835
            # blank values at a million objects) come in index order, not sorted per request.
            models.Index(
                F("tenant"),
                Left("value", VALUE_SORT_PREFIX),
                F("id"),
                condition=Q(status="open"),
                name="finding_open_value",
            ),
        ]

    def __str__(self):
        return f"{self.rule} on {self.dn}"

    def get_absolute_url(self):
        return reverse("object-detail", args=[self.tenant.slug, self.forest_id, self.guid])

    AWAITING_SYNC = "fixed, awaiting sync"
    VERIFIED_CLEAN = "verified clean"

    @property
    def seen_at(self):
        """When the finding was last known present (see FindingQuerySet.with_seen)."""
        return getattr(self, "seen", None) or self.last_seen

    @property
    def sync_state(self) -> str:
        """Closing the loop, for resolved findings: "fixed, awaiting sync" until a health pull after
        the next sync shows the object synced without error, then "verified clean"; "" otherwise."""
        if self.status != self.Status.RESOLVED:
            return ""
        if self.verified_at and self.resolved_at and self.verified_at >= self.resolved_at:
            return self.VERIFIED_CLEAN
        return self.AWAITING_SYNC
