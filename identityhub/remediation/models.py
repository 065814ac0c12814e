"""Changes made to AD (the audit trail, and the way back), waivers, and bulk apply jobs."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from identityhub.scans.models import Finding
from identityhub.tenants.models import Forest, Tenant


class ChangeQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(tenant__in=Tenant.objects.for_user(user))


class ApplyRun(models.Model):
    """The job row of a bulk apply: many changes, written by a worker, polled by the page."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="apply_runs")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    action = models.CharField(max_length=20, blank=True)
    finding_ids = models.JSONField(default=list, help_text="The rows of the run, in the order they are applied.")
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)
    # The worker running it: its claim and its last sign of life. A run whose worker died (its
    # heartbeat went stale) is taken over by another worker; see bulk.run_bulk.
    claim = models.CharField(max_length=32, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"Bulk apply #{self.pk}"

    def get_absolute_url(self):
        return reverse("apply-run", args=[self.tenant.slug, self.pk])

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class Change(models.Model):
    """One change to one attribute of one object: who, when, old, new, and what AD said.

    Immutable once it has an outcome: nothing edits or deletes a Change. An undo is a new Change
    the other way, guarded like any write.
    """

    class Action(models.TextChoices):
        EDIT = "edit", "Edit"
        REMOVE = "remove", "Remove"
        ACCEPT = "accept", "Accept as is"
        UNDO = "undo", "Undo"
        EXCEPTION = "exception", "Exception granted"  # the change log records decisions too
        REVOKE = "revoke", "Exception revoked"

    class Result(models.TextChoices):
        AWAITING_APPROVAL = "awaiting", "Awaiting approval"
        QUEUED = "queued", "Queued"
        APPLIED = "applied", "Applied"
        CONFLICT = "conflict", "Conflict"
        REFUSED = "refused", "Refused"
        REJECTED = "rejected", "Rejected by approver"
        REVERTED = "reverted", "Reverted"
        # A forest without a reachable DC (planned.py): in the LDIF to import, until an export shows it.
        PLANNED = "planned", "Planned (LDIF)"
        # The modify was sent and the connection lost before AD's answer: a re-read settles it as
        # applied, not applied or conflict.
        UNKNOWN = "unknown", "Outcome being confirmed"
        # A re-read (or, for a planned change, the next export) found the values the change started from.
        NOT_APPLIED = "not_applied", "Not applied"
        # No DC could be reached (or the connection broke) before anything was sent: AD did not
        # refuse anything, it never saw the change; it may be tried again.
        NOT_SENT = "not_sent", "Not sent (no DC reachable)"

    OPEN_RESULTS = (Result.AWAITING_APPROVAL, Result.QUEUED, Result.PLANNED)
    # Outcomes still to be settled by a re-read of AD (and so not final either).
    UNSETTLED_RESULTS = (Result.QUEUED, Result.UNKNOWN)
    # Fields that may still change after creation, and only while the result is open (or when an
    # applied change is undone, which marks it reverted).
    OUTCOME_FIELDS = {"result", "error", "current_values", "approved_by", "approved_at", "applied_at"}

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="changes")
    forest = models.ForeignKey(Forest, on_delete=models.PROTECT, related_name="changes")
    finding = models.ForeignKey(Finding, on_delete=models.SET_NULL, null=True, blank=True, related_name="changes")
    guid = models.UUIDField()
    dn = models.TextField()
    attribute = models.CharField(max_length=64)
    old_values = models.JSONField(default=list)
    new_values = models.JSONField(default=list)
    action = models.CharField(max_length=10, choices=Action.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    result = models.CharField(max_length=16, choices=Result.choices)
    error = models.TextField(blank=True)
    current_values = models.JSONField(null=True, blank=True, help_text="What AD held when it refused a conflict.")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    reverts = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="undone_by")
    apply_run = models.ForeignKey(ApplyRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="changes")

    objects = ChangeQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-pk"]
        indexes = [
            models.Index(fields=["tenant", "created"]),
            models.Index(fields=["forest", "guid", "attribute"]),
            # The change log counts the planned changes on every request (issue 18): from these few
            # rows, not a scan of every change the tenant ever made. Partial: only planned ones.
            models.Index(fields=["tenant"], condition=models.Q(result="planned"), name="change_planned"),
        ]
        constraints = [
            # A bulk row is claimed by creating its change: a row is never applied twice in a run.
            models.UniqueConstraint(
                fields=["apply_run", "finding"],
                condition=models.Q(apply_run__isnull=False, finding__isnull=False),
                name="one_change_per_bulk_row",
            )
        ]

    def __str__(self):
        return f"{self.get_action_display()} {self.attribute} of {self.dn}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            self._refuse_edits(kwargs.get("update_fields"))
        super().save(*args, **kwargs)

    def _refuse_edits(self, update_fields):
        if update_fields is None or not set(update_fields) <= self.OUTCOME_FIELDS:
            raise ValidationError("A change is immutable: only its outcome is recorded, once.")
        stored = Change.objects.filter(pk=self.pk).values_list("result", flat=True).first()
        closing = (
            stored in self.OPEN_RESULTS
            or stored == self.Result.UNKNOWN
            or (stored == self.Result.APPLIED and self.result == self.Result.REVERTED)
        )
        if not closing:
            raise ValidationError("This change already has its outcome.")

    def delete(self, *args, **kwargs):
        raise ValidationError("Changes are never deleted: they are the audit trail.")

    @classmethod
    def record(cls, finding, action: str, user, old: list, new: list, result: str, **fields) -> "Change":
        """The row for an action on a finding (the audit trail's one constructor)."""
        return cls.objects.create(
            tenant=finding.tenant,
            forest=finding.forest,
            finding=finding,
            guid=finding.guid,
            dn=finding.dn,
            attribute=finding.attribute,
            old_values=old,
            new_values=new,
            action=action,
            requested_by=user,
            result=result,
            **fields,
        )


class Waiver(models.Model):
    """An exception: the finding is known and accepted until the expiry date, for a stated reason."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="waivers")
    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="waivers")
    justification = models.TextField()
    expires_on = models.DateField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    reopened_at = models.DateTimeField(null=True, blank=True, help_text="When expiry reopened the finding.")
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="When an admin ended it before its date.")
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"Exception for {self.finding} until {self.expires_on}"


class RevertedFix(models.Model):
    """A value we changed came back: an HR or identity feed undid the fix. Admins must see it."""

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="reverted_fixes")
    change = models.ForeignKey(Change, on_delete=models.PROTECT, related_name="reverted_fixes")
    scan = models.ForeignKey("scans.ScanRun", on_delete=models.CASCADE, related_name="+")
    detected_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["finding", "change"], name="one_flag_per_reverted_change")]

    def __str__(self):
        return f"{self.change} reverted (seen by {self.scan})"
