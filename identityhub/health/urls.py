from django.urls import path

from . import views

urlpatterns = [
    # /t/<slug>/health/...
    path("t/<slug:slug>/health/", views.health, name="health"),
    path("t/<slug:slug>/health/pull/", views.pull_now, name="health-pull"),
    path("t/<slug:slug>/health/connection/", views.connection_edit, name="health-connection"),
    path("t/<slug:slug>/health/connection/test/", views.connection_test, name="health-connection-test"),
]
