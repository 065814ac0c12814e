"""The one way views, exports and API calls reach a tenant's objects.

Another tenant's object answers 404 (its existence is not revealed); a role that lacks the
permission answers 403. Every tenant-scoped view is wrapped by `tenant_view`, which also tags the
view with the permission it needs, so the URL x role test can check every URL.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404

from .models import PERMISSIONS, Forest, Membership, Tenant


def role_of(user, tenant: Tenant) -> str | None:
    if user.is_superuser:
        return "superuser"
    if hasattr(tenant, "member_role"):  # read with the tenant (get_tenant_for_user)
        return tenant.member_role
    membership = Membership.objects.filter(user=user, tenant=tenant).only("role").first()
    return membership.role if membership else None


def permissions_of(role: str | None) -> set[str]:
    if role == "superuser":
        return set(PERMISSIONS)
    return {perm for perm, roles in PERMISSIONS.items() if role in roles}


def get_tenant_for_user(request, slug: str, perm: str = "view") -> Tenant:
    """The tenant if the user may `perm` it; 404 for strangers, 403 for a role without `perm`."""
    if perm not in PERMISSIONS:
        raise ValueError(f"unknown permission {perm!r}")
    tenants = Tenant.objects.filter(slug=slug)
    if not request.user.is_superuser:
        # The user's role in the same query as the tenant: every tenant page asks, a round trip less.
        roles = Membership.objects.filter(tenant=OuterRef("pk"), user=request.user).values("role")
        tenants = tenants.annotate(member_role=Subquery(roles[:1]))
    tenant = get_object_or_404(tenants)
    role = role_of(request.user, tenant)
    if role is None:
        raise Http404("No such tenant.")
    granted = permissions_of(role)
    if perm not in granted:
        raise PermissionDenied(f"Your role in {tenant} may not {perm}.")
    request.tenant_role = role
    request.tenant_permissions = granted
    return tenant


def get_forest_for_user(request, tenant: Tenant, pk: int, secrets: bool = True) -> Forest:
    """The tenant's forest; secrets=False for a page that only names it (ForestQuerySet.without_secrets)."""
    forests = Forest.objects.all() if secrets else Forest.objects.without_secrets()
    return get_object_or_404(forests, tenant=tenant, pk=pk)


def tenant_view(perm: str = "view"):
    """Decorate a view taking (request, tenant, ...) and routed with a `slug` kwarg."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, slug, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            tenant = get_tenant_for_user(request, slug, perm)
            return view(request, tenant, *args, **kwargs)

        wrapper.tenant_permission = perm
        return wrapper

    return decorator
