from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import ProtectedError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from identityhub.lib.directory import DirectoryError, test_connection

from .access import get_forest_for_user, tenant_view
from .forms import ForestForm
from .models import Membership, Tenant


@require_GET
@login_required
def tenant_list(request):
    tenants = Tenant.objects.for_user(request.user).prefetch_related("forests")
    roles = dict(Membership.objects.filter(user=request.user).values_list("tenant_id", "role"))
    rows = [(tenant, roles.get(tenant.pk, "superuser")) for tenant in tenants]
    return render(request, "tenants/tenant_list.html", {"rows": rows})


@require_GET
@tenant_view("view")
def tenant_detail(request, tenant):
    from identityhub.scans.summary import tenant_summary

    members = tenant.memberships.select_related("user").order_by("role", "user__username")
    mappings = tenant.role_mappings.all()
    context = {"tenant": tenant, "members": members, "role_mappings": mappings, **tenant_summary(tenant)}
    return render(request, "tenants/tenant_detail.html", context)


@require_http_methods(["GET", "POST"])
@tenant_view("edit")
def forest_create(request, tenant):
    form = ForestForm(request.POST or None, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        forest = form.save()
        messages.success(request, f"Forest {forest} added.")
        return redirect(tenant)
    return render(request, "tenants/forest_form.html", {"tenant": tenant, "form": form})


@require_http_methods(["GET", "POST"])
@tenant_view("edit")
def forest_edit(request, tenant, pk):
    forest = get_forest_for_user(request, tenant, pk)
    form = ForestForm(request.POST or None, instance=forest, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Forest {forest} saved.")
        return redirect(tenant)
    return render(request, "tenants/forest_form.html", {"tenant": tenant, "form": form, "forest": forest})


@require_POST
@tenant_view("edit")
def forest_delete(request, tenant, pk):
    """Remove a forest with its scans and findings; one with changes in the audit trail stays."""
    forest = get_forest_for_user(request, tenant, pk)
    try:
        forest.delete()
    except ProtectedError:
        messages.error(
            request,
            f"Forest {forest} has changes in the change log, which is never deleted: it stays. "
            "Set its schedule to manual to stop scanning it.",
        )
        return _go(request, reverse("forest-edit", args=[tenant.slug, forest.pk]))
    messages.success(request, f"Forest {forest} removed, with its scans and findings.")
    return _go(request, tenant.get_absolute_url())


def _go(request, url):
    # The Delete button asks through htmx (hx-confirm): tell htmx to navigate.
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_POST
@tenant_view("edit")
def forest_test_connection(request, tenant, pk=None):
    """Bind with the settings as typed in the form (the stored password if none is typed)."""
    forest = get_forest_for_user(request, tenant, pk) if pk else None
    form = ForestForm(request.POST, instance=forest, tenant=tenant)
    report = error = None
    if form.is_valid():
        try:
            report = test_connection(form.directory_settings())
        except DirectoryError as exc:
            error = str(exc)
    else:
        # The bound field's label ("Bind password"), never the field's unset one (None).
        error = "Fix the form first: " + "; ".join(
            f"{form[name].label if name in form.fields else 'Form'}: {' '.join(errs)}"
            for name, errs in form.errors.items()
        )
    context = {"report": report, "error": error}
    return render(request, "tenants/forest_form.html#test-result", context)
