"""Admins fix findings in place: inline htmx actions on one finding, and bulk with a dry-run preview."""

from django.contrib import messages
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from identityhub import badinput, filtering, paging
from identityhub.scans.filters import FindingFilter
from identityhub.scans.models import Finding
from identityhub.tenants.access import tenant_view

from . import actions, bulk
from .forms import EditForm, WaiverForm
from .models import ApplyRun, Change

ACTIONS_TEMPLATE = "remediation/finding_actions.html"


def _finding(tenant, finding_id) -> Finding:
    return get_object_or_404(Finding.objects.select_related("forest", "tenant"), tenant=tenant, pk=finding_id)


def _cell(request, finding, part="buttons", **context):
    return render(request, f"{ACTIONS_TEMPLATE}#{part}", {"finding": finding, "tenant": finding.tenant, **context})


@require_GET
@tenant_view("edit")
def finding_actions(request, tenant, finding_id):
    """The action buttons again (Cancel of an inline form), or with ?change= that change's outcome
    (polled while it is being confirmed)."""
    finding = _finding(tenant, finding_id)
    change_id = request.GET.get("change", "")
    if change_id.isdigit():
        change = get_object_or_404(Change, tenant=tenant, finding=finding, pk=int(change_id))
        return _cell(request, finding, "outcome", change=change)
    return _cell(request, finding)


@require_http_methods(["GET", "POST"])
@tenant_view("edit")
def finding_edit(request, tenant, finding_id):
    finding = _finding(tenant, finding_id)
    if request.method == "GET":
        # A duplicate needs another value, not its own back: start empty (the holders are listed).
        start = "" if finding.rule.startswith("duplicate.") else finding.value
        return _cell(request, finding, "edit-form", value=finding.suggestion or start)
    form = EditForm(request.POST)
    if not form.is_valid():
        badinput.refused(request, "edit value", form.errors)
        typed = request.POST.get("value", "").replace("\x00", "")
        return _cell(request, finding, "edit-form", value=typed, form=form)
    return _run(request, finding, Change.Action.EDIT, form.cleaned_data["value"])


@require_POST
@tenant_view("edit")
def finding_remove(request, tenant, finding_id):
    return _run(request, _finding(tenant, finding_id), Change.Action.REMOVE)


@require_POST
@tenant_view("edit")
def finding_accept(request, tenant, finding_id):
    return _run(request, _finding(tenant, finding_id), Change.Action.ACCEPT)


def _run(request, finding, action, value=None):
    try:
        change = actions.request_change(finding, action, request.user, value)
    except actions.ActionRefused as exc:
        part = "edit-form" if action == Change.Action.EDIT else "buttons"
        return _cell(request, finding, part, value=value, refused=exc.reasons)
    finding.refresh_from_db()
    return _cell(request, finding, "outcome", change=change)


@require_http_methods(["GET", "POST"])
@tenant_view("edit")
def finding_waive(request, tenant, finding_id):
    finding = _finding(tenant, finding_id)
    if request.method == "GET":
        return _cell(request, finding, "waive-form", form=WaiverForm(finding=finding))
    # A refused form comes back as typed (a bound form): the justification is not lost to a wrong date.
    form = WaiverForm(request.POST, finding=finding)
    if not form.is_valid():
        badinput.refused(request, "exception", form.errors)
        return _cell(request, finding, "waive-form", form=form)
    try:
        data = form.cleaned_data
        waiver = actions.waive(finding, request.user, data["justification"], data["expires_on"])
    except actions.ActionRefused as exc:
        return _cell(request, finding, "waive-form", form=form, refused=exc.reasons)
    finding.refresh_from_db()
    return _cell(request, finding, "outcome", waiver=waiver)


@require_POST
@tenant_view("edit")
def change_undo(request, tenant, change_id):
    change = get_object_or_404(Change, tenant=tenant, pk=change_id)
    try:
        back = actions.undo(change, request.user)
    except actions.ActionRefused as exc:
        messages.error(request, " ".join(exc.reasons))
        return redirect("change-list", tenant.slug)
    outcome = {Change.Result.APPLIED: messages.SUCCESS, Change.Result.AWAITING_APPROVAL: messages.INFO}
    level = outcome.get(back.result, messages.ERROR)
    messages.add_message(request, level, f"Undo: {back.get_result_display()}. {back.error}".strip())
    return redirect("change-list", tenant.slug)


# ---------------------------------------------------------------------------
# Bulk
# ---------------------------------------------------------------------------


class BulkRefused(Exception):
    """A bulk preview or run that cannot go ahead: nothing is changed, and the page says why (_refuse)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        self.errors: dict[str, list[str]] = {}
        self.params = QueryDict()


class SelectionRefused(BulkRefused):
    """A "every row matching the filter" selection whose filter does not validate: it would select more."""

    def __init__(self, errors: dict[str, list[str]], params):
        super().__init__(
            '"All matching this filter" would select more than the filter says: part of the filter is not valid.'
        )
        self.errors = errors
        self.params = params  # the filter as given, so the page can offer it back without the refused values


def _action(request) -> str:
    action = request.POST.get("action", "")
    if action not in bulk.ACTIONS:
        raise BulkRefused("Choose a bulk action.")
    return action


def _selected(request, tenant):
    """The findings chosen on the list: ticked rows, or every row matching the filter shown."""
    queryset = Finding.objects.filter(tenant=tenant).select_related("forest")
    if request.POST.get("scope") == "filter":
        params = bulk.filter_params(request.POST.get("filter", ""))
        filterset = FindingFilter(params, queryset=queryset, tenant=tenant)
        if errors := filtering.refusals(filterset):
            raise SelectionRefused(errors, params)
        return filterset.qs
    # ASCII digits only: str.isdigit() also says yes to "²" (int() fails on it) and to other scripts' digits.
    ids = [int(i) for i in request.POST.getlist("select") + request.POST.get("ids", "").split(",") if _is_id(i)]
    return queryset.filter(pk__in=ids)


def _is_id(text: str) -> bool:
    return text.isascii() and text.isdigit()


@require_POST
@tenant_view("edit")
def bulk_preview(request, tenant):
    try:
        action = _action(request)
        selected = _selected(request, tenant)
        if not selected.exists():
            # Nothing ticked (or nothing matches): back to the same list, saying why, not an empty preview.
            messages.error(
                request, "Nothing to preview: tick the findings to change, or choose all matching the filter."
            )
            return redirect(reverse("finding-list", args=[tenant.slug]) + "?" + request.POST.get("filter", ""))
        rows = bulk.preview(selected, action)
    except BulkRefused as exc:
        return _refuse(request, tenant, exc)
    context = {
        "tenant": tenant,
        "action": action,
        "action_label": bulk.ACTIONS[action],
        "rows": rows,
        # Every row is vetted and counted; the table shows the first page of them (a filter may match thousands).
        "shown": rows[: paging.MAX_PAGE_SIZE],
        "ready": [r for r in rows if not r.refused],
        "ids": ",".join(str(r.finding.pk) for r in rows if not r.refused),
        # Forests without a reachable DC get planned changes (an LDIF to import), not writes: the page says which.
        "planned_in": sorted(
            tenant.forests.filter(pk__in={r.finding.forest_id for r in rows}, export_only=True).values_list(
                "name", flat=True
            )
        ),
    }
    return render(request, "remediation/bulk_preview.html", context)


@require_POST
@tenant_view("edit")
def bulk_apply(request, tenant):
    try:
        action = _action(request)
        finding_ids = list(_selected(request, tenant).values_list("pk", flat=True))
        if not finding_ids:  # no empty job: the preview sends the ids it showed, so none is a stale or forged form
            raise BulkRefused(
                "Nothing to apply: no finding of this tenant was selected. Preview the bulk action again."
            )
    except BulkRefused as exc:
        return _refuse(request, tenant, exc)
    run = bulk.start(tenant, request.user, action, finding_ids)
    return redirect(run)


def _refuse(request, tenant, exc: BulkRefused):
    """The preview page, answering 400: what was refused, and the list again (without refused filter values)."""
    badinput.refused(request, "bulk selection", filtering.refusal_text(exc.errors) if exc.errors else exc.message)
    kept = exc.params.copy()
    for name in exc.errors:
        kept.pop(name, None)
    context = {
        "tenant": tenant,
        "action_label": bulk.ACTIONS.get(request.POST.get("action", ""), ""),
        "refused": exc.message,
        "refusals": sorted(exc.errors.items()),
        "list_url": reverse("finding-list", args=[tenant.slug]) + (f"?{kept.urlencode()}" if kept else ""),
    }
    return render(request, "remediation/bulk_preview.html", context, status=400)


@require_GET
@tenant_view("view")
def apply_run_detail(request, tenant, run_id):
    run = get_object_or_404(ApplyRun, tenant=tenant, pk=run_id)
    changes = run.changes.select_related("requested_by").order_by("pk")
    template = "remediation/apply_run.html#progress" if request.htmx else "remediation/apply_run.html"
    context = {"tenant": tenant, "run": run, "changes": changes[:500], **bulk.summary(run)}
    return render(request, template, context)


@require_POST
@tenant_view("edit")
def apply_run_retry(request, tenant, run_id):
    """Queue a run's rows that were never attempted once more (its worker stopped, or it failed)."""
    run = get_object_or_404(ApplyRun, tenant=tenant, pk=run_id)
    if bulk.retry(run):
        messages.info(request, "The rows not attempted yet are queued again.")
    else:
        messages.error(request, "This run is still running.")
    return redirect(run)
