"""Long exports (the evidence pack, the findings workbook) as job rows: status, progress, the files."""

from django.conf import settings
from django.db import models
from django.urls import reverse

from identityhub.tenants.models import Tenant


class ExportJobQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(tenant__in=Tenant.objects.for_user(user))


class ExportJob(models.Model):
    """One background export. `file` is the main download; an evidence pack also has `pdf`."""

    class Kind(models.TextChoices):
        EVIDENCE = "evidence", "Evidence pack (PDF + ZIP of CSVs)"
        WORKBOOK = "workbook", "Findings workbook (XLSX)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="export_jobs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    params = models.JSONField(default=dict, blank=True, help_text="E.g. the findings filter (a querystring).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    stage = models.CharField(max_length=100, blank=True)
    file = models.FileField(upload_to="exports/%Y/%m/", blank=True)
    pdf = models.FileField(upload_to="exports/%Y/%m/", blank=True)
    manifest_sha256 = models.CharField(max_length=64, blank=True, help_text="SHA-256 of manifest.sha256.")
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    files_removed = models.DateTimeField(null=True, blank=True, help_text="When retention removed the files.")

    objects = ExportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-pk"]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk} of {self.tenant}"

    def get_absolute_url(self):
        return reverse("export-job", args=[self.tenant.slug, self.pk])

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE
