from django.urls import path

from . import views

urlpatterns = [
    path("rollout/", views.portfolio, name="rollout-portfolio"),
    # /t/<slug>/rollout/...
    path("t/<slug:slug>/rollout/", views.rollout, name="rollout"),
    path("t/<slug:slug>/rollout/settings/", views.rollout_settings, name="rollout-settings"),
    path("t/<slug:slug>/rollout/sign-off/<slug:code>/", views.sign_off, name="rollout-sign-off"),
    path("t/<slug:slug>/rollout/sign-off/<slug:code>/revoke/", views.revoke, name="rollout-revoke"),
    path("t/<slug:slug>/rollout/test-group/", views.round_trip_start, name="rollout-round-trip"),
    # /t/<slug>/rollout/webhooks/...
    path("t/<slug:slug>/rollout/webhooks/", views.webhook_add, name="rollout-webhook-add"),
    path("t/<slug:slug>/rollout/webhooks/<int:webhook_id>/test/", views.webhook_test, name="rollout-webhook-test"),
    path(
        "t/<slug:slug>/rollout/webhooks/<int:webhook_id>/remove/", views.webhook_delete, name="rollout-webhook-remove"
    ),
]
