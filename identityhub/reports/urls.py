from django.urls import path

from . import views

urlpatterns = [
    # /t/<slug>/...: exports of exactly what a list shows (same filters, same order)
    path("t/<slug:slug>/findings/export.csv", views.list_export("findings", "csv"), name="finding-export-csv"),
    path("t/<slug:slug>/findings/export.xlsx", views.list_export("findings", "xlsx"), name="finding-export-xlsx"),
    path("t/<slug:slug>/objects/export.csv", views.list_export("objects", "csv"), name="object-export-csv"),
    path("t/<slug:slug>/objects/export.xlsx", views.list_export("objects", "xlsx"), name="object-export-xlsx"),
    path("t/<slug:slug>/changes/export.xlsx", views.list_export("changes", "xlsx"), name="change-export-xlsx"),
    path("t/<slug:slug>/exceptions/export.csv", views.list_export("exceptions", "csv"), name="waiver-export-csv"),
    path("t/<slug:slug>/exceptions/export.xlsx", views.list_export("exceptions", "xlsx"), name="waiver-export-xlsx"),
    path(
        "t/<slug:slug>/health/errors/export.csv",
        views.list_export("provisioning-errors", "csv"),
        name="provisioning-error-export-csv",
    ),
    path(
        "t/<slug:slug>/health/errors/export.xlsx",
        views.list_export("provisioning-errors", "xlsx"),
        name="provisioning-error-export-xlsx",
    ),
    path(
        "t/<slug:slug>/health/licence-errors/export.csv",
        views.list_export("licence-errors", "csv"),
        name="licence-error-export-csv",
    ),
    path(
        "t/<slug:slug>/health/licence-errors/export.xlsx",
        views.list_export("licence-errors", "xlsx"),
        name="licence-error-export-xlsx",
    ),
    # /t/<slug>/reports/...: the evidence pack and the findings workbook, as background jobs
    path("t/<slug:slug>/reports/", views.reports, name="reports"),
    path("t/<slug:slug>/reports/start/", views.export_start, name="export-start"),
    path("t/<slug:slug>/reports/<int:job_id>/", views.export_job, name="export-job"),
    path("t/<slug:slug>/reports/<int:job_id>/download/", views.export_download, name="export-download"),
    path("t/<slug:slug>/reports/<int:job_id>/download/pdf/", views.export_download_pdf, name="export-download-pdf"),
]
