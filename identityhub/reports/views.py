"""Exports of the lists (exactly what is on screen), the reports page, and the background export jobs."""

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from identityhub.tenants.access import tenant_view

from . import datasets, jobs
from .models import ExportJob
from .tabular import csv_response, xlsx_response


def _filename(tenant, dataset, ext: str) -> str:
    return f"{dataset.name}-{tenant.slug}-{timezone.now():%Y%m%d-%H%M%S}.{ext}"


# Lists whose XLSX may be too large to build in a request, and how many rows their query reads.
IN_BACKGROUND = {"findings": datasets.findings_queryset}


def _large_xlsx_in_background(request, tenant, list_name: str) -> ExportJob | None:
    """More rows than EXPORT_XLSX_IN_REQUEST_MAX_ROWS: the findings workbook job with the list's
    filter instead (its page shows the progress and the download), and the page says why."""
    limit = settings.EXPORT_XLSX_IN_REQUEST_MAX_ROWS
    queryset = IN_BACKGROUND[list_name](request, tenant).order_by()
    if queryset[: limit + 1].count() <= limit:  # reads at most limit + 1 rows of the index
        return None
    job = jobs.queue_export(tenant, request.user, ExportJob.Kind.WORKBOOK, {"filter": request.GET.urlencode()[:2000]})
    messages.info(
        request,
        f"More than {limit:,} {list_name}: too many to build a spreadsheet while you wait. The workbook is "
        "being prepared in the background; download it from this page when it is ready (CSV is immediate).",
    )
    return job


def list_export(list_name: str, fmt: str):
    """A view exporting one list (findings, objects, ...) as CSV (streamed) or XLSX."""
    build = datasets.LISTS[list_name]

    @require_GET
    @tenant_view("export")
    def view(request, tenant):
        big = fmt == "xlsx" and list_name in IN_BACKGROUND and _large_xlsx_in_background(request, tenant, list_name)
        if big:
            return redirect(big)
        dataset = build(request, tenant)
        if fmt == "csv":
            return csv_response(_filename(tenant, dataset, "csv"), dataset.header, dataset.rows)
        title = dataset.name.replace("-", " ").capitalize()
        return xlsx_response(_filename(tenant, dataset, "xlsx"), [(title, dataset.header, dataset.rows)])

    view.__name__ = view.__qualname__ = f"{list_name.replace('-', '_')}_export_{fmt}"
    return view


@require_GET
@tenant_view("export")
def reports(request, tenant):
    jobs.fail_overdue(tenant)
    export_jobs = ExportJob.objects.for_user(request.user).filter(tenant=tenant).select_related("created_by")[:50]
    return render(request, "reports/reports.html", {"tenant": tenant, "jobs": export_jobs})


@require_POST
@tenant_view("export")
def export_start(request, tenant):
    kind = request.POST.get("kind")
    if kind not in ExportJob.Kind.values:
        kind = ExportJob.Kind.EVIDENCE
    params = {"filter": request.POST.get("filter", "")[:2000]} if kind == ExportJob.Kind.WORKBOOK else {}
    job = jobs.queue_export(tenant, request.user, kind, params)
    return redirect(job)


def _job(request, tenant, job_id) -> ExportJob:
    return get_object_or_404(ExportJob.objects.for_user(request.user), tenant=tenant, pk=job_id)


@require_GET
@tenant_view("export")
def export_job(request, tenant, job_id):
    jobs.fail_overdue(tenant)
    job = _job(request, tenant, job_id)
    template = "reports/export_job.html#progress" if request.htmx else "reports/export_job.html"
    context = {"tenant": tenant, "job": job, "retention_days": settings.EXPORT_RETENTION_DAYS}
    return render(request, template, context)


def _download(request, tenant, job_id, field):
    # tenant_view has checked the tenant and the export role again; the job must be this tenant's.
    job = _job(request, tenant, job_id)
    stored = getattr(job, field)
    if job.status != ExportJob.Status.COMPLETED or not stored:
        raise Http404("Nothing to download (yet).")
    name = stored.name.rsplit("/", 1)[-1]
    return FileResponse(stored.open("rb"), as_attachment=True, filename=name)


@require_GET
@tenant_view("export")
def export_download(request, tenant, job_id):
    return _download(request, tenant, job_id, "file")


@require_GET
@tenant_view("export")
def export_download_pdf(request, tenant, job_id):
    return _download(request, tenant, job_id, "pdf")
