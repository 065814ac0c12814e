"""Sync health of a tenant as Microsoft Graph reports it: the connection, pulls, snapshots, errors.

A HealthPull is the job row of one pull. Only a successful pull writes a SyncSnapshot (with its
ProvisioningError rows), so a failed pull records why and the last good snapshot stays the
tenant's picture.
"""

from datetime import timedelta

from django.conf import settings
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


class ProvisioningErrorQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(snapshot__tenant__in=Tenant.objects.for_user(user))


class ProvisioningError(models.Model):
    """One onPremisesProvisioningErrors entry of one object, matched to our on-prem object if found."""

    snapshot = models.ForeignKey(SyncSnapshot, on_delete=models.CASCADE, related_name="provisioning_errors")
    object_id = models.CharField("cloud object ID", max_length=64)
    object_type = models.CharField(max_length=10)  # user | group | contact
    display_name = models.CharField(max_length=256, blank=True)
    upn = models.CharField("UPN", max_length=256, blank=True)
    immutable_id = models.CharField(max_length=64, blank=True)
    category = models.CharField(max_length=40, blank=True)
    property = models.CharField(max_length=64, blank=True)
    value = models.TextField(blank=True)
    occurred = models.DateTimeField(null=True, blank=True)
    matched_forest = models.ForeignKey(Forest, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    matched_guid = models.UUIDField("matched objectGUID", null=True, blank=True)
    matched_dn = models.TextField(blank=True)
    matched_by = models.CharField(max_length=20, blank=True)  # anchor | upn | value
    matched_finding = models.ForeignKey(
        "scans.Finding", null=True, blank=True, on_delete=models.SET_NULL, related_name="provisioning_errors"
    )

    objects = ProvisioningErrorQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred", "display_name"]

    def __str__(self):
        return f"{self.category} {self.property} on {self.display_name}"
