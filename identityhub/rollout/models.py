"""A tenant's way through step 7 (synchronize identities) and step 8 (monitor sync health).

Checkpoint holds a tenant's thresholds and where it stands; CriterionState the last computed state
of each criterion of criteria.py; SignOff a lead's word where evidence cannot be read; the
TestGroupRoundTrip the exit criterion's test group; RolloutEvent the timeline; Webhook and
WebhookDelivery the notifications that leave the house.
"""

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.urls import reverse

from identityhub.tenants.fields import EncryptedTextField
from identityhub.tenants.models import Forest, Tenant


class TenantScopedQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(tenant__in=Tenant.objects.for_user(user))


class State(models.TextChoices):
    MET = "met", "Met"
    NOT_MET = "not_met", "Not met"
    UNKNOWN = "unknown", "Unknown"


class Checkpoint(models.Model):
    """One per tenant: the rollout's thresholds, and the progress last computed from the evidence."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="checkpoint")
    # Thresholds (the criteria read them; an admin edits them on the rollout page).
    scan_max_age_hours = models.PositiveIntegerField(
        "forest scan max age (hours)", default=168, validators=[MinValueValidator(1)]
    )
    count_tolerance_percent = models.PositiveIntegerField(
        "count tolerance (%)", default=2, validators=[MaxValueValidator(100)],
        help_text="How far synced counts may differ from in-scope on-prem counts, per kind.",
    )  # fmt: skip
    sync_cycle_minutes = models.PositiveIntegerField(
        "sync cycle threshold (minutes)", default=40, validators=[MinValueValidator(1)],
        help_text="The last sync must be younger than this (the cycle is 30 minutes).",
    )  # fmt: skip
    password_sync_max_age_minutes = models.PositiveIntegerField(
        "password sync max age (minutes)", default=180, validators=[MinValueValidator(1)]
    )
    error_max_age_hours = models.PositiveIntegerField(
        "provisioning error max age (hours)", default=24, validators=[MinValueValidator(1)]
    )
    pull_max_age_minutes = models.PositiveIntegerField(
        "health pull max age (minutes)", default=90, validators=[MinValueValidator(1)]
    )
    round_trip_timeout_minutes = models.PositiveIntegerField(
        "test group timeout (minutes)", default=120, validators=[MinValueValidator(1)],
        help_text="How long the test group may take to appear in Entra ID before the trip fails.",
    )  # fmt: skip
    test_group_container = models.CharField(
        max_length=500, blank=True,
        help_text="DN of the OU the test group is created in; empty: the forest's first included OU or base DN. "
        "It must be in Entra Connect's sync scope.",
    )  # fmt: skip
    escrow_max_age_hours = models.PositiveIntegerField(
        "Cloud Sync escrow max age (hours)", default=24, validators=[MinValueValidator(1)],
        help_text="Cloud Sync: an object failing in the provisioning logs for longer than this blocks step 7.",
    )  # fmt: skip
    ready_to_license = models.BooleanField(
        "track “Ready to license”", default=False,
        help_text="The optional checkpoint after step 7: scans also check users' country (c), which sync turns "
        "into the usage location a licence needs, and Graph's licence assignment errors are criteria.",
    )  # fmt: skip
    # Progress, as recompute() last saw it.
    current_step = models.PositiveSmallIntegerField(default=7, help_text="7, 8, or 9 when both steps are done.")
    percent = models.PositiveSmallIntegerField(default=0)
    step7_done_at = models.DateTimeField(null=True, blank=True)
    step8_done_at = models.DateTimeField(null=True, blank=True)
    health_colour = models.CharField(max_length=5, blank=True)  # green | amber | red | "" (no data)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    open_blocking = models.PositiveIntegerField(default=0)
    last_sync = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)

    THRESHOLD_FIELDS = (
        "scan_max_age_hours",
        "count_tolerance_percent",
        "sync_cycle_minutes",
        "password_sync_max_age_minutes",
        "error_max_age_hours",
        "pull_max_age_minutes",
        "round_trip_timeout_minutes",
        "test_group_container",
        "escrow_max_age_hours",
        "ready_to_license",
    )

    objects = TenantScopedQuerySet.as_manager()

    def __str__(self):
        return f"Rollout of {self.tenant}"

    def get_absolute_url(self):
        return reverse("rollout", args=[self.tenant.slug])

    @property
    def is_done(self) -> bool:
        return self.current_step > 8

    @property
    def round_trip_timeout(self) -> timedelta:
        return timedelta(minutes=self.round_trip_timeout_minutes)


class CriterionState(models.Model):
    """The last computed state of one criterion of one tenant, with its evidence."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="criterion_states")
    code = models.CharField(max_length=40)
    state = models.CharField(max_length=10, choices=State.choices, default=State.UNKNOWN)
    explanation = models.CharField(max_length=500, blank=True)
    evidence_url = models.CharField(max_length=500, blank=True)
    computed_at = models.DateTimeField()
    changed_at = models.DateTimeField(help_text="When the state last changed.")

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "code"], name="one_state_per_criterion")]

    def __str__(self):
        return f"{self.code} of {self.tenant}: {self.state}"


class SignOff(models.Model):
    """A lead's statement that a criterion holds, with a comment; revoking keeps the row."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sign_offs")
    code = models.CharField(max_length=40)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    comment = models.TextField()
    at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self):
        return f"{self.code} signed off by {self.user} for {self.tenant}"


class TestGroupRoundTrip(models.Model):
    """The exit criterion's test: create a group in AD, see Entra ID show it after a sync, remove it.

    requested -> created (in AD, waiting for a health pull to see it in Graph) -> removed (seen,
    then deleted from AD: the criterion is met). The answer to the create lost: unknown, until a
    re-read of AD settles it as created or failed. Side exits: failed (AD refused to create it),
    expired (not seen within the timeout; deleted anyway: removed_at says whether it is gone),
    cleanup_failed (seen, but AD still holds it: delete it by hand). The answer to the delete
    lost: removal_unknown, until a re-read of AD settles it as removed / expired (gone) or
    cleanup_failed / expired (still there); seen_at says which.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        UNKNOWN = "unknown", "Answer lost, reading AD to confirm"
        CREATED = "created", "Created in AD, waiting for sync"
        REMOVED = "removed", "Seen in Entra ID, removed from AD"
        CLEANUP_FAILED = "cleanup_failed", "Seen in Entra ID, removal failed"
        EXPIRED = "expired", "Not seen in time"
        FAILED = "failed", "Failed"
        REMOVAL_UNKNOWN = "removal_unknown", "Removal answer lost, reading AD to confirm"

    ACTIVE = (Status.REQUESTED, Status.UNKNOWN, Status.CREATED)
    # A write was sent and its answer lost: only a re-read of AD settles these (roundtrip.confirm).
    # A removal is not active: the trip has ended (seen or expired), only AD's side is open.
    UNSETTLED = (Status.UNKNOWN, Status.REMOVAL_UNKNOWN)

    __test__ = False  # not a pytest test class, whatever its name says

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="round_trips")
    forest = models.ForeignKey(Forest, on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    name = models.CharField(max_length=64)
    sam_account_name = models.CharField(max_length=20)
    container = models.CharField(max_length=500)
    dn = models.TextField(blank=True)
    sid = models.CharField("objectSid", max_length=200, blank=True)
    graph_id = models.CharField("Entra object ID", max_length=64, blank=True)
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    created_at = models.DateTimeField(null=True, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-pk"]

    def __str__(self):
        return f"Test group {self.name} of {self.tenant}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_unsettled(self) -> bool:
        return self.status in self.UNSETTLED


class RolloutEvent(models.Model):
    """One line of the tenant's timeline."""

    class Kind(models.TextChoices):
        SCAN = "scan", "Scan"
        FIX = "fix", "Applied fix"
        PULL = "pull", "Health pull"
        SIGN_OFF = "signoff", "Sign-off"
        ROUND_TRIP = "roundtrip", "Test group"
        STEP = "step", "Step"
        HEALTH = "health", "Health"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="rollout_events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    at = models.DateTimeField(db_index=True)
    text = models.CharField(max_length=500)
    url = models.CharField(max_length=500, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["tenant", "at"])]

    def __str__(self):
        return self.text


class Webhook(models.Model):
    """A receiver of a tenant's rollout events: a Teams or Slack incoming webhook, or any JSON endpoint.

    Deliveries go out from the worker to this URL: in production, usually over the internet.
    """

    class Event(models.TextChoices):
        STEP_COMPLETED = "step.completed", "A step completed"
        HEALTH_RED = "health.red", "Sync health turned red"
        NEW_BLOCKING = "scan.new_blocking", "A scan found new blocking findings"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField("URL", max_length=1000, validators=[URLValidator(schemes=["http", "https"])])
    events = models.JSONField(default=list, help_text="Event codes this receiver wants.")
    active = models.BooleanField(default=True)
    secret = EncryptedTextField(blank=True, help_text="If set, each body is signed (X-IdentityHub-Signature).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["created", "pk"]

    def __str__(self):
        return self.url


class WebhookDelivery(models.Model):
    """One event for one webhook: the job row of its delivery, attempts and all."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Gave up"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=30)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-pk"]

    def __str__(self):
        return f"{self.event} to {self.webhook}"


def tracks_licence_readiness(tenant) -> bool:
    """Whether scans judge users' usage location (the "Ready to license" checkpoint is on)."""
    return Checkpoint.objects.filter(tenant=tenant, ready_to_license=True).exists()


class ScanFigures(models.Model):
    """What the rollout page counts of one current scan's picture (its DirectoryObject rows): objects
    per OU (the OU scores) and per object class (synced counts match). They change only with the
    picture, so they are counted once when a scan completes (receivers.py), not each time a finding
    is fixed or accepted; `as_of` is the picture's time they were counted at (figures.py)."""

    scan = models.OneToOneField("scans.ScanRun", on_delete=models.CASCADE, primary_key=True, related_name="+")
    as_of = models.DateTimeField(null=True, blank=True)
    objects_by_ou = models.JSONField(default=dict)
    objects_by_class = models.JSONField(default=dict)

    def __str__(self):
        return f"Figures of scan #{self.scan_id}"
