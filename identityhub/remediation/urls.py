from django.urls import path

from . import changelog, runs, views

urlpatterns = [
    # /t/<slug>/findings/<finding_id>/...: inline actions (htmx) on one finding
    path("t/<slug:slug>/findings/<int:finding_id>/edit/", views.finding_edit, name="finding-edit"),
    path("t/<slug:slug>/findings/<int:finding_id>/remove/", views.finding_remove, name="finding-remove"),
    path("t/<slug:slug>/findings/<int:finding_id>/accept/", views.finding_accept, name="finding-accept"),
    path("t/<slug:slug>/findings/<int:finding_id>/waive/", views.finding_waive, name="finding-waive"),
    path("t/<slug:slug>/findings/<int:finding_id>/actions/", views.finding_actions, name="finding-actions"),
    # bulk: preview (dry run), then apply as a background job
    path("t/<slug:slug>/findings/bulk/preview/", views.bulk_preview, name="bulk-preview"),
    path("t/<slug:slug>/findings/bulk/apply/", views.bulk_apply, name="bulk-apply"),
    path("t/<slug:slug>/apply/", runs.apply_run_list, name="apply-run-list"),
    path("t/<slug:slug>/apply/<int:run_id>/", views.apply_run_detail, name="apply-run"),
    path("t/<slug:slug>/apply/<int:run_id>/retry/", views.apply_run_retry, name="apply-run-retry"),
    # the change log, its exports, undo and four-eyes approval
    path("t/<slug:slug>/changes/", changelog.change_list, name="change-list"),
    path("t/<slug:slug>/changes/export.csv", changelog.change_export_csv, name="change-export-csv"),
    path("t/<slug:slug>/changes/export.ldf", changelog.change_export_ldif, name="change-export-ldif"),
    path("t/<slug:slug>/changes/planned.ldf", changelog.planned_export, {"kind": "ldf"}, name="planned-export-ldif"),
    path("t/<slug:slug>/changes/planned.csv", changelog.planned_export, {"kind": "csv"}, name="planned-export-csv"),
    path("t/<slug:slug>/changes/<int:change_id>/undo/", views.change_undo, name="change-undo"),
    path("t/<slug:slug>/changes/<int:change_id>/approve/", changelog.change_approve, name="change-approve"),
    path("t/<slug:slug>/changes/<int:change_id>/reject/", changelog.change_reject, name="change-reject"),
    path("t/<slug:slug>/exceptions/", changelog.waiver_list, name="waiver-list"),
    path("t/<slug:slug>/exceptions/<int:waiver_id>/revoke/", changelog.waiver_revoke, name="waiver-revoke"),
]
