from collections import Counter

from django.contrib import messages
from django.db.models import F, Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

from identityhub import paging
from identityhub.lib import graph
from identityhub.scans import counts
from identityhub.scans.models import Finding
from identityhub.tenants.access import tenant_view

from . import pulls
from .filters import ProvisioningErrorFilter
from .forms import GraphConnectionForm
from .matching import COLLISION_RULE
from .models import (
    GraphConnection,
    HealthPull,
    LicenceError,
    ProvisioningError,
    SyncEngine,
    SyncSnapshot,
    age_colour,
    engine_of,
)
from .tables import ProvisioningErrorTable

TREND_POINTS = 336  # a week of pulls every 30 minutes


RECENT_PULLS = 10
LICENCE_ROWS = 200  # users listed on the page; the export has them all


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
    connection = GraphConnection.objects.filter(tenant=tenant).first()
    context.update(
        latest_pull=latest_pull,
        last_failure=latest_pull if latest_pull and latest_pull.status == HealthPull.Status.FAILED else None,
        connection=connection,
        tiles=tiles(tenant, snapshot, now, connection) if snapshot else [],
        show_cloud_sync=snapshot is not None
        and (bool(snapshot.cloud_sync_jobs) or engine_of(connection, snapshot) != SyncEngine.CONNECT),
        licence_errors=LicenceError.objects.filter(snapshot=snapshot).of_code(request.GET.get("licence_code"))[
            :LICENCE_ROWS
        ],
        licence_code=request.GET.get("licence_code", ""),
        trend=trend(tenant),
        **finding_counts(tenant),
        recently_resolved=resolved.order_by("-resolved_at")[:15],
        # Also when no pull ever succeeded: the errors of the attempts are what an admin needs then.
        recent_pulls=HealthPull.objects.filter(tenant=tenant).select_related("triggered_by")[:RECENT_PULLS],
    )
    return render(request, "health/health.html", context)


def finding_counts(tenant) -> dict[str, int]:
    """The page's counts of findings: open cloud collisions, and resolved ones awaiting sync or verified
    clean. Resolved findings pile up with every fix, so counted once per change of the tenant's findings
    (counts.cached; a pull that verifies fixes is one), not on every request."""

    def compute():
        resolved = Finding.objects.filter(tenant=tenant, status=Finding.Status.RESOLVED)
        verified = Q(verified_at__isnull=False, verified_at__gte=F("resolved_at"))
        return {
            "collisions": Finding.objects.filter(tenant=tenant, rule=COLLISION_RULE).open().count(),
            "awaiting_sync": resolved.exclude(verified).count(),
            "verified_clean": resolved.filter(verified).count(),
        }

    return counts.cached(tenant, "health:collisions-awaiting-verified", compute)


def _escrows(cloud_sync: dict) -> int:
    return sum(job.get("escrows", 0) for c in cloud_sync.get("configurations", []) for job in c.get("jobs", []))


def _age_text(age) -> str:
    minutes = int(age.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min ago"
    return f"{minutes // 1440} days ago"


def tiles(tenant, snapshot: SyncSnapshot, now, connection=None) -> list[dict]:
    """The tiles of the health page: label, value, detail and colour (green / amber / red)."""
    engine = engine_of(connection, snapshot)
    out = [
        {
            "key": "engine",
            "label": "Sync engine",
            "value": SyncEngine(engine).label,
            "detail": "set on the Graph connection" if connection and connection.sync_engine else "detected from Graph",
            "colour": "green",
        },
        {
            "key": "sync-enabled",
            "label": "Directory sync",
            "value": "on" if snapshot.sync_enabled else "off",
            "detail": "onPremisesSyncEnabled",
            "colour": "green" if snapshot.sync_enabled else "red",
        },
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
    if engine != SyncEngine.CONNECT or snapshot.cloud_sync_jobs:
        out += cloud_sync_tiles(snapshot)
    if snapshot.licensing:
        out += licensing_tiles(snapshot)
    return out


def cloud_sync_tiles(snapshot: SyncSnapshot) -> list[dict]:
    """Cloud Sync: red when a job is in quarantine (or none can be read), amber when one is paused,
    has not run, or holds escrows; green when every job is active and clean."""
    jobs = snapshot.cloud_sync_jobs
    statuses = Counter(job["status"] for job in jobs)
    escrows = sum(job["escrows"] for job in jobs)
    if not jobs:
        value, colour = "none found", "red"
    elif statuses["Quarantine"]:
        value, colour = f"{statuses['Quarantine']} in quarantine", "red"
    elif statuses["Active"] < len(jobs):
        value, colour = f"{statuses['Active']} of {len(jobs)} active", "amber"
    else:
        value, colour = f"{len(jobs)} active", "amber" if escrows else "green"
    errors = (snapshot.cloud_sync or {}).get("error_count", 0)
    days = (snapshot.cloud_sync or {}).get("days", 7)
    return [
        {
            "key": "cloud-sync-jobs",
            "label": "Cloud Sync jobs",
            "value": value,
            "detail": ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())) or "no provisioning job",
            "colour": colour,
        },
        {
            "key": "cloud-sync-escrows",
            "label": "Escrowed objects",
            "value": escrows,
            "detail": f"{errors} failing object(s) in {days} days of logs",
            "colour": "green" if not escrows and not errors else "amber",
        },
    ]


def licensing_tiles(snapshot: SyncSnapshot) -> list[dict]:
    licensing = snapshot.licensing
    missing = (licensing.get("users_without_usage_location") or {}).get("synced", 0)
    in_error = licensing.get("users_in_error", 0)
    return [
        {
            "key": "licence-errors",
            "label": "Licence errors",
            "value": in_error,
            "detail": "users; " + (", ".join(f"{n} {code}" for code, n in licensing.get("errors_by_code", {}).items())
                                   or "no assignment error"),
            "colour": "red" if in_error else "green",
        },
        {
            "key": "usage-location",
            "label": "No usage location",
            "value": missing,
            "detail": "synced users: no licence can be assigned",
            "colour": "amber" if missing else "green",
        },
    ]  # fmt: skip


def trend(tenant) -> dict:
    """Error count and sync age (minutes) per snapshot, oldest first, for the chart (json_script)."""
    points = list(
        SyncSnapshot.objects.filter(tenant=tenant).values_list(
            "taken", "error_count", "last_sync", "cloud_sync", "licensing"
        )[:TREND_POINTS]
    )[::-1]
    return {
        "labels": [f"{timezone.localtime(p[0]):%d %b %H:%M}" for p in points],
        "errors": [p[1] for p in points],
        "sync_age": [round((p[0] - p[2]).total_seconds() / 60) if p[2] else None for p in points],
        # None where the snapshot predates Cloud Sync / licensing reads: a gap, not a zero.
        "escrows": [_escrows(p[3]) if p[3] else None for p in points],
        "licence_errors": [p[4].get("users_in_error") if p[4] else None for p in points],
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
