"""The read-only REST API: /api/tenants/ and, per tenant, /api/tenants/<slug>/<kind>/[<id>/].

Every view resolves the tenant through the access helper (a stranger's tenant is 404), then reads
through `Model.objects.for_user(user)` narrowed to that tenant, so another tenant's object is 404
too. Authentication: a DRF token (`Authorization: Token <key>`, for service accounts) or the
browser session. All endpoints are GET only; the roles that may view a tenant may read its API.
"""

from django.apps import apps
from django.urls import path
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from identityhub.health.models import ProvisioningError, SyncSnapshot
from identityhub.remediation.filters import ChangeFilter, WaiverFilter
from identityhub.remediation.models import Change, Waiver
from identityhub.scans import counts
from identityhub.scans.filters import FindingFilter
from identityhub.scans.models import DirectoryObject, Finding, ScanRun
from identityhub.tenants.access import get_tenant_for_user
from identityhub.tenants.models import Forest, Tenant

from . import rollout_hook, serializers
from .filters import DirectoryObjectFilter, ProvisioningErrorApiFilter


class TenantFilterBackend(DjangoFilterBackend):
    """The pages' FilterSets, which take the tenant (for their forest choices) as a keyword."""

    def get_filterset_kwargs(self, request, queryset, view):
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        if getattr(view, "filterset_takes_tenant", False):
            kwargs["tenant"] = view.tenant
        return kwargs


class TenantViewSet(viewsets.ReadOnlyModelViewSet):
    """Your tenants."""

    serializer_class = serializers.TenantSerializer
    lookup_field = "slug"

    def get_queryset(self):
        return Tenant.objects.for_user(self.request.user).order_by("name", "pk")

    def get_object(self):
        return get_tenant_for_user(self.request, self.kwargs["slug"], "view")


class TenantScoped(viewsets.ReadOnlyModelViewSet):
    """Base of every per-tenant endpoint: /api/tenants/<slug>/<kind>/[<id>/]."""

    model = None
    filterset_takes_tenant = False
    filter_backends = [TenantFilterBackend]
    select = ()  # the relations the serializer writes more of than the id

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication and IsAuthenticated first: 401
        self.tenant = get_tenant_for_user(request, kwargs["slug"], "view")  # then 404 for strangers

    def scoped(self):
        return self.model.objects.for_user(self.request.user).filter(tenant=self.tenant)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular building the schema
            return self.model.objects.none()
        queryset = self.scoped().order_by("pk")
        # Only when asked: select_related() without names joins every foreign key, e.g. each finding's
        # forest, whose bind password was then decrypted once per row for a response that writes its id.
        return queryset.select_related(*self.select) if self.select else queryset


class ForestViewSet(TenantScoped):
    """The tenant's forests and how they are read (never a secret)."""

    model = Forest
    serializer_class = serializers.ForestSerializer
    lookup_url_kwarg = "forest_id"


class ScanViewSet(TenantScoped):
    """Scan runs: status, scope, catalogue version, counts and timings."""

    model = ScanRun
    serializer_class = serializers.ScanSerializer
    lookup_url_kwarg = "scan_id"
    select = ("triggered_by",)


class DirectoryObjectViewSet(TenantScoped):
    """Objects of the current picture (the list); any scan's object by id (the detail)."""

    model = DirectoryObject
    serializer_class = serializers.DirectoryObjectSerializer
    lookup_url_kwarg = "object_id"
    filterset_class = DirectoryObjectFilter
    filterset_takes_tenant = True

    def scoped(self):
        scans = ScanRun.objects.for_user(self.request.user).filter(tenant=self.tenant)
        if self.action == "list":
            scans = scans.current()
        return DirectoryObject.objects.filter(scan__in=scans)


class FindingViewSet(TenantScoped):
    """Findings, filtered like the findings page (open unless `status` says otherwise)."""

    model = Finding
    serializer_class = serializers.FindingSerializer
    lookup_url_kwarg = "finding_id"
    filterset_class = FindingFilter
    filterset_takes_tenant = True

    def get_queryset(self):
        return super().get_queryset().with_seen()

    def filter_queryset(self, queryset):
        if self.action == "retrieve":
            return queryset  # the page's default (open only) filters lists, not one finding by id
        return super().filter_queryset(queryset)

    def count_of(self, queryset) -> int:
        """The list's `count`, kept per filter until the tenant's findings change (counts.cached), like
        the findings page's total: a COUNT of half a million open findings costs more than the page.
        The key holds only the filters' own parameters (valid by now: a bad value answered 400), so
        paging and unknown parameters share one total. Whoever may view the tenant sees the same rows."""
        params = self.request.query_params
        selection = sorted((name, v) for name in self.filterset_class.base_filters for v in params.getlist(name))
        return counts.cached(self.tenant, f"api-findings:{selection}", queryset.count)


class ChangeViewSet(TenantScoped):
    """The change log: every change to AD, who asked, who approved, what AD said."""

    model = Change
    serializer_class = serializers.ChangeSerializer
    lookup_url_kwarg = "change_id"
    filterset_class = ChangeFilter
    filterset_takes_tenant = True
    select = ("requested_by", "approved_by")


class WaiverViewSet(TenantScoped):
    """Exceptions (waivers): justification, approver and expiry."""

    model = Waiver
    serializer_class = serializers.WaiverSerializer
    lookup_url_kwarg = "waiver_id"
    filterset_class = WaiverFilter
    select = ("finding", "created_by")

    def scoped(self):
        return Waiver.objects.filter(tenant__in=Tenant.objects.for_user(self.request.user), tenant=self.tenant)


class SnapshotViewSet(TenantScoped):
    """Sync health snapshots as Graph reported them, newest first."""

    model = SyncSnapshot
    serializer_class = serializers.SnapshotSerializer
    lookup_url_kwarg = "snapshot_id"

    def get_queryset(self):
        return super().get_queryset().order_by("-taken", "-pk")


class ProvisioningErrorViewSet(TenantScoped):
    """Provisioning errors of the latest snapshot (the list; `?snapshot=<id>` for another); any by id."""

    model = ProvisioningError
    serializer_class = serializers.ProvisioningErrorSerializer
    lookup_url_kwarg = "error_id"
    filterset_class = ProvisioningErrorApiFilter

    def scoped(self):
        errors = ProvisioningError.objects.for_user(self.request.user).filter(snapshot__tenant=self.tenant)
        if self.action != "list":
            return errors
        snapshot = self.request.query_params.get("snapshot", "")
        if snapshot.isdigit():
            return errors.filter(snapshot_id=int(snapshot))
        latest = SyncSnapshot.objects.filter(tenant=self.tenant).order_by("-taken", "-pk").first()
        return errors.filter(snapshot=latest)


ProvisioningErrorViewSet = extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("snapshot", OpenApiTypes.INT, description="A snapshot id; the latest when omitted.")
        ]
    )
)(ProvisioningErrorViewSet)


class RolloutView(APIView):
    """Where the tenant stands in steps 7/8: every criterion with its evidence, and the sign-offs."""

    @extend_schema(responses=serializers.RolloutSerializer)
    def get(self, request, slug):
        tenant = get_tenant_for_user(request, slug, "view")
        state = rollout_hook.rollout_state(tenant)
        if state is None:
            raise NotFound("The rollout app is not installed.")
        return Response(serializers.RolloutSerializer(state).data)


# kind -> viewset; the URL names are api-<kind>-list and api-<kind>-detail.
TENANT_ENDPOINTS = {
    "forests": ForestViewSet,
    "scans": ScanViewSet,
    "objects": DirectoryObjectViewSet,
    "findings": FindingViewSet,
    "changes": ChangeViewSet,
    "exceptions": WaiverViewSet,
    "health-snapshots": SnapshotViewSet,
    "provisioning-errors": ProvisioningErrorViewSet,
}


def _tagged(view, perm):
    # The URL x role matrix reads the permission a view needs from this attribute (see access.py).
    if perm:
        view.tenant_permission = perm
    return view


def api_urlpatterns():
    patterns = [
        path("tenants/", TenantViewSet.as_view({"get": "list"}), name="api-tenant-list"),
        path(
            "tenants/<slug:slug>/",
            _tagged(TenantViewSet.as_view({"get": "retrieve"}), "view"),
            name="api-tenant-detail",
        ),
    ]
    for kind, viewset in TENANT_ENDPOINTS.items():
        name = kind.rstrip("s") if kind != "health-snapshots" else "health-snapshot"
        lookup = viewset.lookup_url_kwarg
        patterns += [
            path(
                f"tenants/<slug:slug>/{kind}/",
                _tagged(viewset.as_view({"get": "list"}), "view"),
                name=f"api-{name}-list",
            ),
            path(
                f"tenants/<slug:slug>/{kind}/<int:{lookup}>/",
                _tagged(viewset.as_view({"get": "retrieve"}), "view"),
                name=f"api-{name}-detail",
            ),
        ]
    if apps.is_installed("identityhub.rollout"):
        patterns.append(
            path("tenants/<slug:slug>/rollout/", _tagged(RolloutView.as_view(), "view"), name="api-rollout")
        )
    return patterns


ERROR = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
INVALID = {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}


def add_error_responses(result, generator, request, public):
    """drf-spectacular post-processing hook: document the 400/401/403/404 answers every endpoint gives."""
    for methods in result.get("paths", {}).values():
        for operation in methods.values():
            responses = operation.setdefault("responses", {})
            for code, text, schema in (
                ("401", "Not authenticated (no or a bad token, no session).", ERROR),
                ("403", "Authenticated, but not allowed.", ERROR),
                ("404", "No such tenant or object for you.", ERROR),
            ):
                responses.setdefault(code, {"description": text, "content": {"application/json": {"schema": schema}}})
            if any(
                p.get("in") == "query" and p["name"] not in ("page", "page_size")
                for p in operation.get("parameters", [])
            ):
                responses.setdefault(
                    "400",
                    {"description": "A filter value is invalid.", "content": {"application/json": {"schema": INVALID}}},
                )
    return result
