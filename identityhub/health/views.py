from django.contrib import messages
from django.db.models import F, Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

from identityhub import paging
from identityhub.lib import graph
from identityhub.scans.models import Finding
from identityhub.tenants.access import tenant_view

from . import pulls
from .filters import ProvisioningErrorFilter
from .forms import GraphConnectionForm
from .matching import COLLISION_RULE
from .models import GraphConnection, HealthPull, ProvisioningError, SyncSnapshot, age_colour
from .tables import ProvisioningErrorTable

TREND_POINTS = 336  # a week of pulls every 30 minutes


RECENT_PULLS = 10


@require_GET
@tenant_view("view")
def health(request, tenant):
    latest_pull = HealthPull.objects.filter(tenant=tenant).select_related("triggered_by").first()
    if request.htmx and request.htmx.target == "pull-status":
        # Polling while a pull runs: once it has ended, reload the page to show the new snapshot.
        if latest_pull is None or not latest_pull.is_active:
            return HttpResponseClientRefresh()
        return render(request, "health/health.html#pull-status", {"tenant": tenant, "latest_pull": latest_pull})
    snapshot = SyncSnapshot.objects.filter(tenant=tenant).first()
    errors = ProvisioningError.objects.filter(snapshot=snapshot).select_related("matched_finding")
    filterset = ProvisioningErrorFilter(request.GET, queryset=errors)
    table = ProvisioningErrorTable(filterset.qs, tenant=tenant)
    paging.paginate(request, table)
    context = {"tenant": tenant, "snapshot": snapshot, "filter": filterset, "table": table}
    if request.htmx and request.htmx.target == "errors":
        return render(request, "health/health.html#errors", context)
    now = timezone.now()
    resolved = Finding.objects.filter(tenant=tenant, status=Finding.Status.RESOLVED)
    verified = Q(verified_at__isnull=False, verified_at__gte=F("resolved_at"))
    context.update(
        latest_pull=latest_pull,
        last_failure=latest_pull if latest_pull and latest_pull.status == HealthPull.Status.FAILED else None,
        connection=GraphConnection.objects.filter(tenant=tenant).first(),
        tiles=tiles(tenant, snapshot, now) if snapshot else [],
        trend=trend(tenant),
        collisions=Finding.objects.filter(tenant=tenant, rule=COLLISION_RULE).unresolved().count(),
        awaiting_sync=resolved.exclude(verified).count(),
        verified_clean=resolved.filter(verified).count(),
        recently_resolved=resolved.order_by("-resolved_at")[:15],
        # Also when no pull ever succeeded: the errors of the attempts are what an admin needs then.
        recent_pulls=HealthPull.objects.filter(tenant=tenant).select_related("triggered_by")[:RECENT_PULLS],
    )
    return render(request, "health/health.html", context)


def _age_text(age) -> str:
    minutes = int(age.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min ago"
    return f"{minutes // 1440} days ago"


def tiles(tenant, snapshot: SyncSnapshot, now) -> list[dict]:
    """The tiles of the health page: label, value, detail and colour (green / amber / red)."""
    out = [
        {
            "key": "sync-enabled",
            "label": "Directory sync",
            "value": "on" if snapshot.sync_enabled else "off",
            "detail": "onPremisesSyncEnabled",
            "colour": "green" if snapshot.sync_enabled else "red",
        }
    ]
    for key, label, when, show in (
        ("last-sync", "Last sync", snapshot.last_sync, True),
        ("password-sync", "Password hash sync", snapshot.last_password_sync, tenant.auth_method == "phs"),
    ):
        if not show:
            continue
        age = now - when if when else None
        out.append(
            {
                "key": key,
                "label": label,
                "value": _age_text(age) if age is not None else "never",
                "detail": "30-minute cycle",
                "title": "green under 40 minutes, amber under 3 hours, red beyond",
                "colour": age_colour(age),
            }
        )
    out.append(
        {
            "key": "errors",
            "label": "Provisioning errors",
            "value": snapshot.error_count,
            "detail": f"as of {timezone.localtime(snapshot.taken):%d %b %H:%M}",
            "colour": "green" if snapshot.error_count == 0 else "red",
        }
    )
    return out


def trend(tenant) -> dict:
    """Error count and sync age (minutes) per snapshot, oldest first, for the chart (json_script)."""
    points = list(
        SyncSnapshot.objects.filter(tenant=tenant).values_list("taken", "error_count", "last_sync")[:TREND_POINTS]
    )[::-1]
    return {
        "labels": [f"{timezone.localtime(taken):%d %b %H:%M}" for taken, _, _ in points],
        "errors": [n for _, n, _ in points],
        "sync_age": [round((taken - last).total_seconds() / 60) if last else None for taken, _, last in points],
    }


@require_http_methods(["GET", "POST"])
@tenant_view("edit")
def connection_edit(request, tenant):
    connection = GraphConnection.objects.filter(tenant=tenant).first()
    form = GraphConnectionForm(request.POST or None, instance=connection, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        form.save(user=request.user)
        messages.success(request, "Graph connection saved.")
        return redirect("health", tenant.slug)
    return render(request, "health/connection_form.html", {"tenant": tenant, "form": form, "connection": connection})


@require_POST
@tenant_view("edit")
def connection_test(request, tenant):
    """Acquire a token and read /organization with the values as typed (stored credentials if none typed)."""
    connection = GraphConnection.objects.filter(tenant=tenant).first()
    form = GraphConnectionForm(request.POST, instance=connection, tenant=tenant)
    organization = error = None
    if form.is_valid():
        try:
            with pulls.make_client(**form.credentials()) as client:
                organization = graph.fetch_organization(client)
        except graph.GraphError as exc:
            error = str(exc)
        except ValueError as exc:  # e.g. a certificate without a thumbprint
            error = str(exc)
    else:
        error = "Fix the form first: " + "; ".join(
            f"{form.fields[name].label if name in form.fields else 'Form'}: {' '.join(errs)}"
            for name, errs in form.errors.items()
        )
    return render(request, "health/connection_form.html#test-result", {"organization": organization, "error": error})


@require_POST
@tenant_view("edit")
def pull_now(request, tenant):
    if not GraphConnection.objects.filter(tenant=tenant).exists():
        messages.error(request, "Connect the tenant to Microsoft Graph first.")
    else:
        pulls.queue_pull(tenant, request.user)
    url = reverse("health", args=[tenant.slug])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
