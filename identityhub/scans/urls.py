from django.urls import path

from . import views

urlpatterns = [
    # /t/<slug>/...
    path("t/<slug:slug>/findings/", views.finding_list, name="finding-list"),
    path("t/<slug:slug>/scans/", views.scan_list, name="scan-list"),
    path("t/<slug:slug>/scans/<int:scan_id>/", views.scan_detail, name="scan-detail"),
    path("t/<slug:slug>/scans/<int:scan_id>/cancel/", views.scan_cancel, name="scan-cancel"),
    path("t/<slug:slug>/scans/<int:scan_id>/confirm/", views.scan_confirm, name="scan-confirm"),
    path("t/<slug:slug>/scans/<int:scan_id>/reject/", views.scan_reject, name="scan-reject"),
    path("t/<slug:slug>/forests/<int:pk>/scan/", views.scan_now, name="scan-now"),
    path("t/<slug:slug>/forests/<int:pk>/upload/", views.scan_upload, name="scan-upload"),
    path("t/<slug:slug>/forests/<int:pk>/objects/<uuid:guid>/", views.object_detail, name="object-detail"),
]
