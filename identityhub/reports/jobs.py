"""Start and run long exports. The task (tasks.py) loads the row and calls `execute`; the logic is here."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from identityhub.timelimits import stopped_reason

from . import datasets, evidence
from .models import ExportJob
from .workbook import build_workbook

log = logging.getLogger(__name__)


def queue_export(tenant, user, kind: str, params: dict | None = None) -> ExportJob:
    from .tasks import run_export

    with transaction.atomic():
        job = ExportJob.objects.create(tenant=tenant, kind=kind, params=params or {}, created_by=user)
        transaction.on_commit(lambda: run_export.delay(job.pk))
    return job


def claim(job_id: int) -> ExportJob | None:
    """Mark a queued job running; None when it ended or another worker has it (a rerun does nothing)."""
    claimed = ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.QUEUED).update(
        status=ExportJob.Status.RUNNING, started=timezone.now(), stage="starting"
    )
    return ExportJob.objects.select_related("tenant", "created_by").get(pk=job_id) if claimed else None


def _progress(job_id: int):
    def report(percent: int, stage: str) -> None:
        ExportJob.objects.filter(pk=job_id).update(progress=min(max(percent, 0), 99), stage=stage[:100])

    return report


def execute(job_id: int) -> ExportJob | None:
    job = claim(job_id)
    if job is None:
        return None
    try:
        with tempfile.TemporaryDirectory(prefix="identityhub-export-") as tmp:
            if job.kind == ExportJob.Kind.WORKBOOK:
                _workbook(job, Path(tmp))
            else:
                _evidence(job, Path(tmp))
    except Exception as exc:
        stopped = stopped_reason(exc, settings.EXPORT_SOFT_TIME_LIMIT)
        if stopped:
            log.warning("export job %s: %s", job_id, stopped)
        else:
            log.exception("export job %s failed", job_id)
        ExportJob.objects.filter(pk=job_id).update(
            status=ExportJob.Status.FAILED, error=stopped or f"{type(exc).__name__}: {exc}", finished=timezone.now()
        )
        return ExportJob.objects.get(pk=job_id)
    job.status, job.progress, job.stage, job.finished = ExportJob.Status.COMPLETED, 100, "done", timezone.now()
    job.save(update_fields=["status", "progress", "stage", "finished", "file", "pdf", "manifest_sha256"])
    return job


def _workbook(job: ExportJob, tmp: Path) -> None:
    querystring = job.params.get("filter", "")
    request = evidence.JobRequest(job.created_by, querystring)
    queryset = datasets.findings_queryset(request, job.tenant)
    path = tmp / "workbook.xlsx"
    with path.open("wb") as handle:
        build_workbook(handle, job.tenant, queryset, filter_text=querystring, progress=_progress(job.pk))
    name = f"findings-{job.tenant.slug}-{timezone.now():%Y%m%d-%H%M%S}.xlsx"
    with path.open("rb") as handle:
        job.file.save(name, File(handle), save=False)


def _evidence(job: ExportJob, tmp: Path) -> None:
    progress = _progress(job.pk)
    work = tmp / "pack"
    work.mkdir()
    pack = evidence.build(job.tenant, job.created_by, work, progress=progress)
    zip_path = tmp / "pack.zip"
    evidence.write_zip(pack, zip_path)
    progress(90, "PDF")
    pdf = evidence.render_pdf(pack)
    zip_name = pack.context["zip_name"]
    with zip_path.open("rb") as handle:
        job.file.save(zip_name, File(handle), save=False)
    pdf_path = tmp / "pack.pdf"
    pdf_path.write_bytes(pdf)
    with pdf_path.open("rb") as handle:
        job.pdf.save(zip_name.replace(".zip", ".pdf"), File(handle), save=False)
    job.manifest_sha256 = pack.manifest_sha256


def fail_overdue(tenant=None, now=None) -> int:
    """Mark failed the jobs still "running" past their hard time limit: the worker was killed or lost.

    At the soft limit a job records its own failure; past the hard limit nothing in the job can, so the
    pages (and the daily clean-up) do it, and the job's page stops polling.
    """
    now = now or timezone.now()
    deadline = now - timezone.timedelta(seconds=settings.EXPORT_SOFT_TIME_LIMIT + settings.TIME_LIMIT_GRACE + 60)
    overdue = ExportJob.objects.filter(status=ExportJob.Status.RUNNING, started__lt=deadline)
    if tenant is not None:
        overdue = overdue.filter(tenant=tenant)
    minutes = round(settings.EXPORT_SOFT_TIME_LIMIT / 60)
    return overdue.update(
        status=ExportJob.Status.FAILED,
        error=f"Stopped: it ran longer than its time limit of {minutes} minutes and its worker was ended.",
        finished=now,
    )


def remove_expired_files(now=None, days: int | None = None) -> int:
    """Delete the files of exports finished more than `days` ago; the job rows stay as the record.

    Exports hold a tenant's whole directory picture: they are not kept for ever (EXPORT_RETENTION_DAYS).
    The row keeps who asked, when, the filter and the manifest digest; the page says to export again.
    """
    now = now or timezone.now()
    days = settings.EXPORT_RETENTION_DAYS if days is None else days
    expired = ExportJob.objects.filter(finished__lt=now - timezone.timedelta(days=days), files_removed__isnull=True)
    removed = 0
    for job in expired.exclude(status__in=ExportJob.ACTIVE).iterator():
        for stored in (job.file, job.pdf):
            if stored:
                stored.delete(save=False)
        ExportJob.objects.filter(pk=job.pk).update(file="", pdf="", files_removed=now)
        removed += 1
    return removed
