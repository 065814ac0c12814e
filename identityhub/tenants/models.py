"""Tenants (one Microsoft 365 tenant each), their on-premises forests, and who may do what."""

import datetime
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.urls import reverse

from .fields import EncryptedTextField


class Role(models.TextChoices):
    LEAD = "lead", "Project lead"
    ADMIN = "admin", "Admin"
    AUDITOR = "auditor", "Auditor"


# What each role may do; superusers may do everything. Views ask for one of these.
PERMISSIONS = {
    "view": {Role.LEAD, Role.ADMIN, Role.AUDITOR},
    "edit": {Role.ADMIN},
    "export": {Role.LEAD, Role.ADMIN, Role.AUDITOR},
    "progress": {Role.LEAD},  # sign off rollout criteria
    "webhooks": {Role.LEAD, Role.ADMIN},  # manage the rollout's webhooks
}


class TenantQuerySet(models.QuerySet):
    def for_user(self, user):
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self.all()
        return self.filter(memberships__user=user)


class Tenant(models.Model):
    """A Microsoft 365 / Entra ID tenant being taken through steps 7 and 8."""

    class AuthMethod(models.TextChoices):
        PHS = "phs", "Password hash sync"
        PTA = "pta", "Pass-through authentication"
        FEDERATED = "federated", "Federation (AD FS or third party)"

    class RuleSet(models.TextChoices):
        MULTI_TENANT = "multi-tenant", "Multi-tenant (Microsoft 365)"
        DEDICATED = "dedicated", "Dedicated"

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True)
    entra_tenant_id = models.UUIDField("Entra tenant ID", null=True, blank=True)
    verified_domains = models.JSONField(
        default=list, blank=True, help_text="Domains verified in the tenant; routable-domain rules use them."
    )
    auth_method = models.CharField(
        "authentication method", max_length=12, choices=AuthMethod.choices, default=AuthMethod.PHS
    )
    ruleset = models.CharField("rule set", max_length=12, choices=RuleSet.choices, default=RuleSet.MULTI_TENANT)
    require_approval = models.BooleanField(
        "four-eyes approval", default=False, help_text="Every change to AD waits for a second admin's approval."
    )
    created = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("tenant-detail", args=[self.slug])


class Membership(models.Model):
    """A user's role in one tenant: given by hand (local), or granted by a RoleMapping at sign-in."""

    class Source(models.TextChoices):
        LOCAL = "local", "Local (given by hand)"
        MAPPED = "mapped", "Mapped from Entra ID"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices)
    # Mapped memberships are recomputed at every Entra sign-in; local ones are never touched by it.
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.LOCAL)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="one_role_per_user_and_tenant")]

    def __str__(self):
        return f"{self.user} is {self.get_role_display()} of {self.tenant}"


# When several mappings of one tenant match a user, the role listed first wins (one role per tenant).
ROLE_PRECEDENCE = [Role.ADMIN, Role.LEAD, Role.AUDITOR]


class RoleMappingQuerySet(models.QuerySet):
    def roles_for(self, entra_tenant_id: str, groups, app_roles) -> dict[int, str]:
        """IdentityHub tenant pk -> role, for a user of that Entra tenant with these groups/app roles."""
        matches = self.filter(entra_tenant_id=entra_tenant_id).filter(
            models.Q(kind=RoleMapping.Kind.GROUP, value__in=[g.lower() for g in groups])
            | models.Q(kind=RoleMapping.Kind.APP_ROLE, value__in=list(app_roles))
        )
        best: dict[int, str] = {}
        for tenant_id, role in matches.values_list("tenant_id", "role"):
            if tenant_id not in best or ROLE_PRECEDENCE.index(role) < ROLE_PRECEDENCE.index(best[tenant_id]):
                best[tenant_id] = role
        return best


class RoleMapping(models.Model):
    """Entra group or app role -> role in this tenant, applied at every Entra sign-in."""

    class Kind(models.TextChoices):
        GROUP = "group", "Entra group (object ID)"
        APP_ROLE = "app_role", "App role (value)"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="role_mappings")
    entra_tenant_id = models.UUIDField(
        "Entra tenant ID", help_text="The Entra tenant whose group or app role this is (the users' tid)."
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    value = models.CharField(
        max_length=255, help_text="The group's object ID, or the app role's value (e.g. IdentityHub.Admin)."
    )
    role = models.CharField(max_length=10, choices=Role.choices)

    objects = RoleMappingQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "value"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "entra_tenant_id", "kind", "value"], name="one_role_per_mapping")
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.value} -> {self.get_role_display()} of {self.tenant}"

    def clean(self):
        self.value = (self.value or "").strip()
        if self.kind == self.Kind.GROUP:
            try:
                self.value = str(uuid.UUID(self.value))
            except ValueError:
                raise ValidationError({"value": "A group is named by its object ID (a GUID), not its name."}) from None


class ForestQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(tenant__in=Tenant.objects.for_user(user))

    def without_secrets(self):
        """Forests to name and link, not to connect to: the bind password (decrypted for every row that
        carries it, a Fernet token each) and the CA certificate's text stay in the database."""
        return self.defer(*Forest.CONNECTION_SECRETS)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


server_list_validator = RegexValidator(
    r"^[A-Za-z0-9.\-:\[\]\s]*$", "One host name or IP address per line, optionally with :port."
)


class Forest(models.Model):
    """An on-premises Active Directory forest of a tenant, and how to read it over LDAP."""

    class Port(models.IntegerChoices):
        LDAP = 389, "389 (LDAP)"
        LDAPS = 636, "636 (LDAPS)"
        GLOBAL_CATALOG = 3268, "3268 (global catalog)"
        GLOBAL_CATALOG_TLS = 3269, "3269 (global catalog over TLS)"

    class Schedule(models.TextChoices):
        MANUAL = "manual", "Only when started by hand"
        HOURLY = "hourly", "Every hour"
        EVERY_6_HOURS = "6h", "Every 6 hours"
        DAILY = "daily", "Every day"
        WEEKLY = "weekly", "Every week"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="forests")
    name = models.CharField(max_length=100, help_text="The forest root domain, e.g. corp.example.com.")
    servers = models.TextField(
        validators=[server_list_validator], help_text="Domain controllers, one per line; tried in order."
    )
    port = models.PositiveIntegerField(choices=Port.choices, default=Port.LDAPS)
    use_starttls = models.BooleanField("use StartTLS", default=False)
    ca_certificate = models.TextField(
        "CA certificate (PEM)", blank=True, help_text="Leave empty to trust the system's CAs."
    )
    base_dns = models.TextField("base DNs", help_text="One per line, e.g. DC=corp,DC=example,DC=com.")
    bind_user = models.CharField(max_length=255, help_text="A UPN (svc-idhub@corp.example.com) or a DN.")
    bind_password = EncryptedTextField(blank=True)
    include_ous = models.TextField("include OUs", blank=True, help_text="Only these OUs (one DN per line).")
    exclude_ous = models.TextField("exclude OUs", blank=True, help_text="Skip these OUs (one DN per line).")
    extra_filter = models.CharField(
        "extra LDAP filter", max_length=500, blank=True, help_text="ANDed with the object filter."
    )
    scan_schedule = models.CharField(
        "full scans", max_length=10, choices=Schedule.choices, default=Schedule.DAILY,
        help_text="Daily and weekly full scans start at the full scan time.",
    )  # fmt: skip
    full_scan_time = models.TimeField(default=datetime.time(2, 0), help_text="Server time; nightly by default.")
    delta_minutes = models.PositiveSmallIntegerField(
        "delta scan every (minutes)",
        default=15,
        validators=[MaxValueValidator(1440)],
        help_text="Reads only what changed since the last scan; 0 for none.",
    )
    export_only = models.BooleanField(
        "no DC reachable (exports only)",
        default=False,
        help_text="IdentityHub cannot reach a DC of this forest: it is checked from ldifde/csvde exports, "
        "and fixes become planned changes, exported as LDIF for an admin to import.",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = ForestQuerySet.as_manager()
    # What only connecting to the forest needs (ForestQuerySet.without_secrets).
    CONNECTION_SECRETS = ("bind_password", "ca_certificate")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="unique_forest_name_per_tenant")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("forest-edit", args=[self.tenant.slug, self.pk])

    @classmethod
    def secrets_via(cls, relation: str) -> tuple[str, ...]:
        """The secret columns of the forest a row reaches through `relation`, for .defer(): rows that
        only name their forest never load (and decrypt) its secrets."""
        return tuple(f"{relation}__{name}" for name in cls.CONNECTION_SECRETS)

    @property
    def server_list(self) -> list[str]:
        return _lines(self.servers)

    @property
    def base_dn_list(self) -> list[str]:
        return _lines(self.base_dns)

    @property
    def include_ou_list(self) -> list[str]:
        return _lines(self.include_ous)

    @property
    def exclude_ou_list(self) -> list[str]:
        return _lines(self.exclude_ous)
