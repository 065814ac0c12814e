"""Sync health of a tenant as Microsoft Graph reports it: the connection, pulls, snapshots, errors.

A HealthPull is the job row of one pull. Only a successful pull writes a SyncSnapshot (with its
ProvisioningError rows), so a failed pull records why and the last good snapshot stays the
tenant's picture.
"""

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from identityhub.tenants.fields import EncryptedTextField
from identityhub.tenants.models import Forest, Tenant

# The sync cycle is 30 minutes: a last sync younger than GREEN is on time, younger than AMBER late.
SYNC_GREEN = timedelta(minutes=40)
SYNC_AMBER = timedelta(hours=3)


def age_colour(age: timedelta | None) -> str:
    """Tile colour of a sync age: green under 40 minutes, amber under 3 hours, red beyond or never."""
    if age is None:
        return "red"
    if age < SYNC_GREEN:
        return "green"
    if age < SYNC_AMBER:
        return "amber"
    return "red"


class TenantScopedQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(tenant__in=Tenant.objects.for_user(user))


class SyncEngine(models.TextChoices):
    """Which Microsoft engine syncs the tenant: Entra Connect Sync (a server), Entra Cloud Sync
    (agents, configured in the cloud), or both while a tenant moves from one to the other."""

    CONNECT = "connect", "Entra Connect Sync"
    CLOUD = "cloud", "Entra Cloud Sync"
    BOTH = "both", "Both (during a migration)"


def engine_of(connection, snapshot) -> str:
    """The engine set on the Graph connection, else the one Graph shows: Cloud Sync when the latest
    snapshot found a Cloud Sync provisioning job, Connect Sync otherwise (Graph has no sign of a
    Connect server that an app can read)."""
    if connection is not None and connection.sync_engine:
        return connection.sync_engine
    if snapshot is not None and (snapshot.cloud_sync or {}).get("detected"):
        return SyncEngine.CLOUD
    return SyncEngine.CONNECT


class GraphConnection(models.Model):
    """How IdentityHub reads a tenant from Graph: an app registration's client credentials.

    The Entra tenant ID is Tenant.entra_tenant_id (one source of truth, shown on the tenant page).
    Either a client secret or a certificate (private key, encrypted, plus its SHA-1 thumbprint).
    """

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="graph_connection")
    client_id = models.UUIDField("application (client) ID")
    client_secret = EncryptedTextField(blank=True)
    certificate_key = EncryptedTextField("certificate private key (PEM)", blank=True)
    certificate_thumbprint = models.CharField(max_length=40, blank=True, help_text="SHA-1, hex, as the portal shows.")
    sync_engine = models.CharField(
        max_length=8, blank=True, choices=SyncEngine.choices,
        help_text="Empty: detected from Graph (a Cloud Sync configuration with a provisioning job means Cloud Sync).",
    )  # fmt: skip
    provisioning_log_days = models.PositiveSmallIntegerField(
        "provisioning log window (days)", default=7, validators=[MinValueValidator(1), MaxValueValidator(30)],
        help_text="Cloud Sync failures of this many days are read from the provisioning logs (kept 30 days).",
    )  # fmt: skip
    updated = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    objects = TenantScopedQuerySet.as_manager()

    def __str__(self):
        return f"Graph connection of {self.tenant}"

    @property
    def uses_certificate(self) -> bool:
        return bool(self.certificate_key) and not self.client_secret


class HealthPull(models.Model):
    """The job row of one pull from Graph."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="health_pulls")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"Health pull #{self.pk} of {self.tenant}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def seconds(self) -> float | None:
        if self.started and self.finished:
            return (self.finished - self.started).total_seconds()
        return None


class SyncSnapshot(models.Model):
    """What Graph said about the tenant's sync at one successful pull; kept as history."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sync_snapshots")
    pull = models.OneToOneField(HealthPull, null=True, blank=True, on_delete=models.SET_NULL, related_name="snapshot")
    taken = models.DateTimeField(db_index=True)
    is_demo = models.BooleanField(default=False, help_text="Seeded from bundled demo data, not pulled.")
    sync_enabled = models.BooleanField()
    last_sync = models.DateTimeField(null=True, blank=True)
    last_password_sync = models.DateTimeField(null=True, blank=True)
    verified_domains = models.JSONField(default=list)
    domains = models.JSONField(default=list)
    counts = models.JSONField(default=dict, help_text="{users|groups|contacts: {synced, cloud_only}}")
    error_count = models.PositiveIntegerField(default=0)
    # Summaries kept for the trend when details are pruned; their rows are ProvisioningError
    # (source cloud_sync) and LicenceError.
    cloud_sync = models.JSONField(
        default=dict, blank=True, help_text="{detected, configurations: [{jobs}], days, error_count, problems}"
    )
    licensing = models.JSONField(
        default=dict, blank=True,
        help_text="{users_without_usage_location, errors_by_code, users_in_error, skus, groups_in_error, problems}",
    )  # fmt: skip
    raw = models.JSONField(default=dict, blank=True, help_text="The report as pulled (emptied on old snapshots).")

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-taken"]

    def __str__(self):
        return f"Sync snapshot of {self.tenant} at {self.taken:%Y-%m-%d %H:%M}"

    def get_absolute_url(self):
        return reverse("health", args=[self.tenant.slug])

    @property
    def sync_age(self) -> timedelta | None:
        """Age of the last sync when the snapshot was taken (the trend chart's second line)."""
        return self.taken - self.last_sync if self.last_sync else None

    @property
    def cloud_sync_jobs(self) -> list[dict]:
        """Every Cloud Sync job with its configuration's name."""
        return [
            {**job, "configuration": config.get("display_name", "")}
            for config in (self.cloud_sync or {}).get("configurations", [])
            for job in config.get("jobs", [])
        ]

    @property
    def problems(self) -> list[dict]:
        """Parts Graph would not let the app read (a permission missing), named with the permission."""
        return (self.cloud_sync or {}).get("problems", []) + (self.licensing or {}).get("problems", [])


class ProvisioningErrorQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(snapshot__tenant__in=Tenant.objects.for_user(user))


class ProvisioningError(models.Model):
    """An object Entra could not provision, matched to our on-prem object if found: one
    onPremisesProvisioningErrors entry (Connect Sync), or one object's failures with one error code in
    Cloud Sync's provisioning logs (property = the error code, value = Microsoft's reason)."""

    class Source(models.TextChoices):
        CONNECT = "connect", "Connect Sync"
        CLOUD_SYNC = "cloud_sync", "Cloud Sync"

    snapshot = models.ForeignKey(SyncSnapshot, on_delete=models.CASCADE, related_name="provisioning_errors")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.CONNECT)
    object_id = models.CharField("cloud object ID", max_length=64)
    object_type = models.CharField(max_length=10)  # user | group | contact
    display_name = models.CharField(max_length=256, blank=True)
    upn = models.CharField("UPN", max_length=256, blank=True)
    immutable_id = models.CharField(max_length=64, blank=True)
    category = models.CharField(max_length=40, blank=True)
    property = models.CharField(max_length=64, blank=True)
    value = models.TextField(blank=True)
    occurred = models.DateTimeField(null=True, blank=True, help_text="Cloud Sync: the first failure in the window.")
    last_occurred = models.DateTimeField(null=True, blank=True)
    occurrences = models.PositiveIntegerField(default=1)
    action = models.CharField(max_length=20, blank=True)  # Cloud Sync: create | update | delete | ...
    job_id = models.CharField(max_length=200, blank=True)
    source_dn = models.TextField("on-prem DN as logged", blank=True)
    matched_forest = models.ForeignKey(Forest, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    matched_guid = models.UUIDField("matched objectGUID", null=True, blank=True)
    matched_dn = models.TextField(blank=True)
    matched_by = models.CharField(max_length=20, blank=True)  # anchor | dn | upn | value
    matched_finding = models.ForeignKey(
        "scans.Finding", null=True, blank=True, on_delete=models.SET_NULL, related_name="provisioning_errors"
    )

    objects = ProvisioningErrorQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred", "display_name"]

    def __str__(self):
        return f"{self.category} {self.property} on {self.display_name}"


class LicenceErrorQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(snapshot__tenant__in=Tenant.objects.for_user(user))

    def of_code(self, code: str | None):
        """Narrowed to one error code (``?licence_code=`` on the page and its exports); all if empty."""
        return self.filter(error_code=code) if code else self


class LicenceError(models.Model):
    """One licence a user could not get (licenseAssignmentStates in Error), matched to our on-prem object."""

    snapshot = models.ForeignKey(SyncSnapshot, on_delete=models.CASCADE, related_name="licence_errors")
    user_id = models.CharField("cloud user ID", max_length=64)
    display_name = models.CharField(max_length=256, blank=True)
    upn = models.CharField("UPN", max_length=256, blank=True)
    immutable_id = models.CharField(max_length=64, blank=True)
    usage_location = models.CharField(max_length=8, blank=True)
    sku_id = models.CharField("SKU ID", max_length=64, blank=True)
    sku_part_number = models.CharField("SKU", max_length=100, blank=True)
    error_code = models.CharField(max_length=64)
    state = models.CharField(max_length=20, blank=True)
    group_id = models.CharField("assigned by group", max_length=64, blank=True)
    matched_forest = models.ForeignKey(Forest, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    matched_guid = models.UUIDField("matched objectGUID", null=True, blank=True)
    matched_dn = models.TextField(blank=True)
    matched_by = models.CharField(max_length=20, blank=True)

    objects = LicenceErrorQuerySet.as_manager()

    class Meta:
        ordering = ["error_code", "upn"]

    def __str__(self):
        return f"{self.error_code} {self.sku_part_number} for {self.upn}"
