from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from identityhub.accounts import views as accounts
from identityhub.reports.api import api_urlpatterns

urlpatterns = [
    path("login/", accounts.LoginView.as_view(), name="login"),
    path("logout/", accounts.sign_out, name="logout"),
    path("auth/entra/login/", accounts.entra_sign_in, name="entra-login"),
    path("auth/entra/callback/", accounts.entra_callback, name="entra-callback"),
    path("admin/", admin.site.urls),
    path("", include("identityhub.tenants.urls")),
    path("", include("identityhub.scans.urls")),
    path("", include("identityhub.remediation.urls")),
    path("", include("identityhub.health.urls")),
    path("", include("identityhub.rollout.urls")),
    path("", include("identityhub.reports.urls")),
    # The REST API (read-only), its OpenAPI schema and Swagger UI; see README "REST API".
    path("api/", include(api_urlpatterns())),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI from drf-spectacular-sidecar's static files; its start script is a request of its own (CSP).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
]
