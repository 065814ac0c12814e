from django.urls import path

from . import views

urlpatterns = [
    path("", views.tenant_list, name="tenant-list"),
    # /t/<slug>/
    path("t/<slug:slug>/", views.tenant_detail, name="tenant-detail"),
    path("t/<slug:slug>/forests/new/", views.forest_create, name="forest-create"),
    path("t/<slug:slug>/forests/new/test/", views.forest_test_connection, name="forest-test-new"),
    path("t/<slug:slug>/forests/<int:pk>/", views.forest_edit, name="forest-edit"),
    path("t/<slug:slug>/forests/<int:pk>/test/", views.forest_test_connection, name="forest-test"),
    path("t/<slug:slug>/forests/<int:pk>/delete/", views.forest_delete, name="forest-delete"),
]
