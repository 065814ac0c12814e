"""The change log, its CSV/LDIF exports, four-eyes approval and the list of exceptions.

The exports take the list's own query string, so they hold exactly the rows the filters show
(every page of them): the CSV in the order on screen, the LDIF in the order the changes were
written to AD (or the reverse, for the undo file).
"""

import csv

from django.contrib import messages
from django.db.models import F
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_tables2 import RequestConfig

from identityhub import badinput, paging
from identityhub.streaming import streamed
from identityhub.tenants.access import tenant_view
from identityhub.tenants.models import Forest

from . import actions, exceptions, exports, planned
from .filters import ChangeFilter, WaiverFilter
from .forms import RejectForm, error_text
from .models import Change, Waiver
from .tables import ChangeTable, WaiverTable

TEMPLATE = "remediation/change_list.html"
# Changes that were written to AD: still in force, or undone since by a later change.
WRITTEN = (Change.Result.APPLIED, Change.Result.REVERTED)


def _filtered(request, tenant) -> ChangeFilter:
    queryset = (
        Change.objects.filter(tenant=tenant)
        .select_related("tenant", "forest", "requested_by", "approved_by")
        .defer(*Forest.secrets_via("forest"))  # rows name the forest, no more
    )
    return ChangeFilter(request.GET, queryset=queryset, tenant=tenant)


def _table(request, queryset, **kwargs) -> ChangeTable:
    exclude = () if "edit" in request.tenant_permissions else ("buttons",)
    return ChangeTable(queryset, request=request, exclude=exclude, **kwargs)


def _export_query(request) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    params.pop("direction", None)
    return params.urlencode()


def _list_context(request, tenant, filterset, table) -> dict:
    """A filtered list page: its table, and export links that take the same filter (for roles that may export)."""
    return {
        "tenant": tenant,
        "filter": filterset,
        "table": table,
        "export_query": _export_query(request),
        "can_export": "export" in request.tenant_permissions,
    }


@require_GET
@tenant_view("view")
def change_list(request, tenant):
    filterset = _filtered(request, tenant)
    table = _table(request, filterset.qs)
    paging.paginate(request, table)
    context = _list_context(request, tenant, filterset, table)
    context["planned"] = planned.pending(tenant).count()
    template = TEMPLATE + "#changes" if request.htmx and request.htmx.target == "changes" else TEMPLATE
    return render(request, template, context)


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a streaming response."""

    def write(self, value):
        return value


def _filename(tenant, suffix: str) -> str:
    return f"{tenant.slug}-changes-{timezone.localdate():%Y%m%d}{suffix}"


@require_GET
@tenant_view("export")
def change_export_csv(request, tenant):
    table = _table(request, _filtered(request, tenant).qs)
    RequestConfig(request, paginate=False).configure(table)  # the sort on screen, every page
    queryset = table.data.data

    def lines():
        writer = csv.writer(_Echo())
        yield "\ufeff" + writer.writerow(exports.CSV_HEADER)  # BOM: Excel reads the file as UTF-8
        for change in streamed(queryset):
            yield writer.writerow(exports.csv_row(change))

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(tenant, ".csv")}"'
    return response


@require_GET
@tenant_view("export")
def change_export_ldif(request, tenant):
    direction = exports.UNDO if request.GET.get("direction") == "undo" else exports.FORWARD
    written = _filtered(request, tenant).qs.filter(result__in=WRITTEN).exclude(action=Change.Action.ACCEPT)
    if direction == exports.UNDO:
        written = written.order_by(F("applied_at").desc(nulls_last=True), "-pk")
    else:
        written = written.order_by(F("applied_at").asc(nulls_first=True), "pk")
    forests = sorted(set(written.order_by().values_list("forest__name", flat=True).distinct()))
    header = "\n".join(
        [
            f"IdentityHub change log of {tenant.name}: "
            + ("UNDO, newest change first" if direction == exports.UNDO else "the changes as applied"),
            f"Exported {timezone.now():%Y-%m-%d %H:%M} UTC by {request.user.get_username()}",
            f"Filter: {_export_query(request) or '(none)'}",
            f"Forests: {', '.join(forests) or '(none)'}; import into a DC of each",
            "Import: ldifde -i -f <this file> -s <dc>; a record fails if the value moved on",
        ]
    )
    mods = (exports.modification_of(c) for c in streamed(written))
    response = StreamingHttpResponse(exports.ldif(mods, direction, header), content_type="text/plain; charset=us-ascii")
    suffix = "-undo.ldf" if direction == exports.UNDO else ".ldf"
    response["Content-Disposition"] = f'attachment; filename="{_filename(tenant, suffix)}"'
    return response


def _decide(request, tenant, change_id, decide, done: str):
    change = get_object_or_404(Change, tenant=tenant, pk=change_id)
    try:
        change = decide(change)
    except actions.ActionRefused as exc:
        level, text, detail = messages.ERROR, " ".join(exc.reasons), ""
    else:
        ok = change.result in (Change.Result.APPLIED, Change.Result.REJECTED)
        level = messages.SUCCESS if ok else messages.ERROR
        text, detail = f"{done}: {change.get_result_display().lower()}.", change.error
    if request.htmx:
        # The row again, as it is now (its error column says why), with the outcome in its buttons cell.
        queryset = Change.objects.filter(pk=change.pk).select_related("tenant", "forest", "requested_by", "approved_by")
        table = _table(request, queryset, notices={change.pk: [(messages.DEFAULT_TAGS[level], text)]})
        return render(request, TEMPLATE + "#row", {"table": table, "tenant": tenant})
    messages.add_message(request, level, f"{text} {detail}".strip())
    return redirect("change-list", tenant.slug)


@require_POST
@tenant_view("edit")
def change_approve(request, tenant, change_id):
    return _decide(request, tenant, change_id, lambda change: actions.approve(change, request.user), "Approved")


@require_POST
@tenant_view("edit")
def change_reject(request, tenant, change_id):
    form = RejectForm({"reason": request.POST.get("reason") or (request.htmx.prompt if request.htmx else "") or ""})

    def reject(change):
        if not form.is_valid():  # refused like any other reason the change cannot be rejected
            badinput.refused(request, "reject reason", form.errors)
            raise actions.ActionRefused([error_text(form)])
        return actions.reject(change, request.user, form.cleaned_data["reason"])

    return _decide(request, tenant, change_id, reject, "Rejected")


@require_GET
@tenant_view("export")
def planned_export(request, tenant, kind):
    """The tenant's planned changes (forests without a reachable DC): LDIF for ldifde -i, or CSV."""
    if kind not in ("ldf", "csv"):
        raise Http404("Planned changes export as .ldf or .csv.")
    if kind == "ldf":
        body, content_type = planned.ldif_text(tenant, request.user), "text/plain; charset=us-ascii"
    else:
        body, content_type = planned.csv_text(tenant), "text/csv; charset=utf-8"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{_filename(tenant, f"-planned.{kind}")}"'
    return response


@require_POST
@tenant_view("edit")
def waiver_revoke(request, tenant, waiver_id):
    waiver = get_object_or_404(
        Waiver.objects.select_related("finding__tenant", "finding__forest"), tenant=tenant, pk=waiver_id
    )
    try:
        exceptions.revoke(waiver, request.user)
    except exceptions.Refused as exc:
        messages.error(request, " ".join(exc.reasons))
    else:
        messages.success(request, f"Exception on {waiver.finding.dn} revoked: the finding is open again.")
    url = reverse("waiver-list", args=[tenant.slug])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
@tenant_view("view")
def waiver_list(request, tenant):
    queryset = Waiver.objects.filter(tenant=tenant).select_related("finding__tenant", "created_by")
    filterset = WaiverFilter(request.GET, queryset=queryset)
    table = WaiverTable(filterset.qs)
    paging.paginate(request, table)
    context = _list_context(request, tenant, filterset, table)
    template = "remediation/waiver_list.html"
    if request.htmx and request.htmx.target == "waivers":
        template += "#waivers"
    return render(request, template, context)
