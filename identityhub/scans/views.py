from django.contrib import messages
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from identityhub import paging
from identityhub.filtering import LIST_PARAMS
from identityhub.lib import rules
from identityhub.tenants.access import get_forest_for_user, tenant_view
from identityhub.tenants.models import Forest

from . import counts, holders, object_page
from .chips import rule_chips
from .filters import FindingFilter
from .forms import UploadForm
from .models import DirectoryObject, Finding, ScanRun, Severity
from .pipeline import ScanBusy, confirm_held, queue_scan, reject_held
from .tables import FindingTable


def _to_scan(request, scan):
    # An htmx button asked: tell htmx to navigate; a plain form post gets a redirect.
    url = scan.get_absolute_url()
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
@tenant_view("view")
def finding_list(request, tenant):
    queryset = (
        Finding.objects.filter(tenant=tenant)
        .with_seen()
        # The forest for its name; not its bind password, which would be decrypted (Fernet) for every row.
        .select_related("forest")
        .defer(*Forest.secrets_via("forest"))
        .prefetch_related("reverted_fixes")
    )
    filterset = FindingFilter(request.GET, queryset=queryset, tenant=tenant)
    findings = filterset.qs
    can_edit = "edit" in request.tenant_permissions
    hidden = () if can_edit else ("select", "actions")
    forests = [forest.name for forest in sorted(filterset.forests, key=lambda forest: forest.pk)]
    if len(forests) < 2:
        hidden += ("forest",)  # one forest: the column would repeat its name on every row
    table = FindingTable(findings, exclude=hidden, tenant=tenant, forest_names=forests)
    rule_counts = _rule_counts(request, tenant)
    # The pager's total is the chips' sum: the same filter, counted once per change of the findings.
    paging.paginate(request, table, count=sum(row["n"] for row in rule_counts))
    table.load_page()
    context = {
        "tenant": tenant,
        "filter": filterset,
        "table": table,
        "rule_counts": rule_counts,
        "rule_chips": rule_chips(request.GET, rule_counts),
        "can_edit": can_edit,
        "querystring": request.GET.urlencode(),
    }
    template = "scans/finding_list.html"
    if request.htmx and request.htmx.target == "findings":
        template += "#findings"
    return render(request, template, context)


def _rule_counts(request, tenant) -> list[dict]:
    """The rule chips of the list's filter: [{rule, severity, n}], most findings first.

    A GROUP BY over every matching finding (half a million open ones in a large forest), so kept
    per filter until the tenant's findings change (counts.cached) instead of run on every request."""
    selection = sorted((k, v) for k in request.GET for v in request.GET.getlist(k) if k not in LIST_PARAMS)

    def compute():
        plain = FindingFilter(request.GET, queryset=Finding.objects.filter(tenant=tenant), tenant=tenant).qs
        # `reverted` joins the fixes (distinct rows): count each finding once.
        n = Count("id", distinct=plain.query.distinct)
        return list(plain.order_by().values("rule", "severity").annotate(n=n).order_by("-n", "rule"))

    return counts.cached(tenant, f"rule-chips:{selection}", compute)


@require_GET
@tenant_view("view")
def object_detail(request, tenant, pk, guid):
    """The place to work on one object: its findings with actions, its values, who else holds a
    duplicate value, its history across scans and the changes made to it."""
    forest = get_forest_for_user(request, tenant, pk, secrets=False)
    snapshots = list(
        DirectoryObject.objects.filter(scan__forest=forest, guid=guid).select_related("scan").order_by("-scan__created")
    )
    latest = snapshots[0] if snapshots else None
    findings = list(
        forest.findings.filter(guid=guid)  # each finding's forest is this one (no join, no password per row)
        .prefetch_related("reverted_fixes__change")
        .order_by("status", "-severity", "rule")
    )
    for row in (*findings, *(snapshot.scan for snapshot in snapshots)):
        row.tenant = tenant  # the forest's tenant: the links name it without a join per row
    if latest is None and not findings:
        raise Http404("No such object in this forest.")
    context = {
        "tenant": tenant,
        "forest": forest,
        "object": latest,
        "history": object_page.history(snapshots),
        "findings": findings,
        "holders": holders.other_holders(findings, tenant),
        "changes": object_page.changes_of(forest, guid),
        "about": latest or findings[0],
        "attributes": object_page.attribute_rows(latest.attributes if latest else {}),
        "can_edit": "edit" in request.tenant_permissions,
    }
    return render(request, "scans/object_detail.html", context)


@require_GET
@tenant_view("view")
def scan_list(request, tenant):
    # Deltas every 15 minutes make hundreds of scans a week: paged, newest first.
    scans = ScanRun.objects.filter(tenant=tenant).select_related("forest", "triggered_by").order_by("-created", "-pk")
    page = paging.page_of(request, scans)
    return render(request, "scans/scan_list.html", {"tenant": tenant, "scans": page, "page": page})


@require_GET
@tenant_view("view")
def scan_detail(request, tenant, scan_id):
    scan = get_object_or_404(ScanRun.objects.select_related("forest"), tenant=tenant, pk=scan_id)
    template = "scans/scan_detail.html#progress" if request.htmx else "scans/scan_detail.html"
    rule_counts = sorted(scan.rule_counts.items(), key=lambda kv: -kv[1])
    # The forest's open findings now, split by severity from the counts the tenant's tiles read (one
    # definition, cloud collisions included); the scan's own figures are what it stored when it completed.
    open_split = counts.open_by_severity(tenant, scan.forest_id) if scan.is_current else None
    open_now = sum(open_split.values()) if open_split is not None else None
    context = {
        "tenant": tenant, "scan": scan, "rule_counts": rule_counts, "rules": rules.RULES, "open_now": open_now,
        "open_split": Severity.split(open_split),
    }  # fmt: skip
    return render(request, template, context)


@require_POST
@tenant_view("edit")
def scan_now(request, tenant, pk):
    forest = get_forest_for_user(request, tenant, pk)
    if forest.export_only:
        messages.error(request, f"{forest} has no DC IdentityHub can reach: upload a fresh export to check it.")
        return redirect(tenant)
    kind = request.POST.get("kind", ScanRun.Kind.FULL)
    if kind not in ScanRun.Kind.values:
        messages.error(request, "Choose a full or a delta scan.")
        return redirect(tenant)
    try:
        scan = queue_scan(forest, request.user, kind=kind)
    except ScanBusy as exc:
        messages.error(request, str(exc))
        return redirect(tenant)
    return _to_scan(request, scan)


@require_POST
@tenant_view("edit")
def scan_upload(request, tenant, pk):
    forest = get_forest_for_user(request, tenant, pk)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Upload an LDIF (ldifde) or CSV (csvde) export: " + form.errors.as_text())
        return redirect(tenant)
    try:
        scan = queue_scan(forest, request.user, upload=form.cleaned_data["export"])
    except ScanBusy as exc:
        messages.error(request, str(exc))
        return redirect(tenant)
    return redirect(scan)


@require_POST
@tenant_view("edit")
def scan_cancel(request, tenant, scan_id):
    scan = get_object_or_404(ScanRun, tenant=tenant, pk=scan_id)
    if scan.status == ScanRun.Status.QUEUED:
        # Nobody is reading yet: end it here; a worker that picks it up later finds nothing to claim.
        ScanRun.objects.filter(pk=scan.pk, status=ScanRun.Status.QUEUED).update(
            status=ScanRun.Status.CANCELLED, error="Cancelled before it started."
        )
    ScanRun.objects.filter(pk=scan.pk, status=ScanRun.Status.RUNNING).update(cancel_requested=True)
    return _to_scan(request, scan)


@require_POST
@tenant_view("edit")
def scan_confirm(request, tenant, scan_id):
    """A held scan (it would drop many objects) becomes the forest's picture: an admin's decision."""
    return _review_held(request, tenant, scan_id, confirm_held)


@require_POST
@tenant_view("edit")
def scan_reject(request, tenant, scan_id):
    """A held scan is discarded; the forest keeps its picture."""
    return _review_held(request, tenant, scan_id, reject_held)


def _review_held(request, tenant, scan_id, decide):
    scan = get_object_or_404(ScanRun, tenant=tenant, pk=scan_id)
    if not decide(scan, request.user):
        messages.error(request, "This scan is not waiting for confirmation.")
    return _to_scan(request, scan)
