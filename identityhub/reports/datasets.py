"""What each list shows, as rows: the same FilterSet and the same ordering as the page, read in chunks.

Every queryset starts from `Model.objects.for_user(user)` and is narrowed to the tenant the access
helper already checked. Rows come from a server-side cursor in chunks (`streaming.streamed`), so an export
of a million findings holds one chunk at a time and starts at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django_tables2 import RequestConfig

from identityhub.health.filters import ProvisioningErrorFilter
from identityhub.health.models import LicenceError, ProvisioningError, SyncSnapshot
from identityhub.health.tables import ProvisioningErrorTable
from identityhub.remediation import exports as change_exports
from identityhub.remediation.filters import ChangeFilter, WaiverFilter
from identityhub.remediation.models import Change, Waiver
from identityhub.remediation.tables import ChangeTable, WaiverTable, waiver_state
from identityhub.scans.filters import FindingFilter
from identityhub.scans.models import DirectoryObject, Finding, ScanRun
from identityhub.scans.tables import FindingTable
from identityhub.streaming import streamed
from identityhub.tenants.models import Tenant

from .filters import DirectoryObjectFilter

REMOVE_VALUE = "(remove the value)"


@dataclass
class Dataset:
    name: str  # file name stem: findings, objects, changes, provisioning-errors...
    header: list[str]
    rows: Any  # an iterator of lists

    def __iter__(self):
        return iter(self.rows)


def ordered(table_class, queryset, page_request, **table_kwargs):
    """The queryset in the order the page's table shows it (its default, or ?sort=)."""
    table = table_class(queryset, **table_kwargs)
    RequestConfig(page_request, paginate=False).configure(table)
    return table.data.data


# ---------------------------------------------------------------- findings

FINDING_FIELDS = [
    ("id", "id"),
    ("severity", "severity"),
    ("rule", "rule"),
    ("error type", "error"),
    ("attribute", "attribute"),
    ("value", "value"),
    ("suggestion", "suggestion"),
    ("detail", "detail"),
    ("object", "dn"),
    ("object class", "object_class"),
    ("OU", "ou"),
    ("objectGUID", "guid"),
    ("forest", "forest__name"),
    ("status", "status"),
    ("first seen", "first_seen"),
    ("last seen", "seen"),  # FindingQuerySet.with_seen: a rescan confirms without rewriting
    ("resolved at", "resolved_at"),
]
FINDING_HEADER = [label for label, _ in FINDING_FIELDS]
_SUGGESTION = FINDING_HEADER.index("suggestion")


def finding_values(queryset, tenant):
    """The export's query: each forest's refresh time read once (a few rows), not a correlated
    subquery per finding (half a million of them at a million objects)."""
    refreshed = ScanRun.objects.filter(tenant=tenant).refreshed_by_forest()
    return queryset.with_seen(refreshed).values_list(*(f for _, f in FINDING_FIELDS))


def finding_rows(queryset, tenant):
    for row in streamed(finding_values(queryset, tenant)):
        row = list(row)
        if row[_SUGGESTION] == "":
            row[_SUGGESTION] = REMOVE_VALUE
        yield row


def findings_queryset(request, tenant, data=None):
    """The findings list's rows: FindingFilter (open unless asked) in the table's order."""
    queryset = Finding.objects.for_user(request.user).filter(tenant=tenant)
    filterset = FindingFilter(request.GET if data is None else data, queryset=queryset, tenant=tenant)
    return ordered(FindingTable, filterset.qs, request)


def findings(request, tenant) -> Dataset:
    return Dataset("findings", FINDING_HEADER, finding_rows(findings_queryset(request, tenant), tenant))


# ---------------------------------------------------------------- objects (the current picture)

OBJECT_ATTRIBUTES = [
    "userPrincipalName",
    "sAMAccountName",
    "displayName",
    "mail",
    "mailNickname",
    "proxyAddresses",
    "targetAddress",
]
OBJECT_FIELDS = ["forest__name", "guid", "dn", "object_class", "ou", "usn_changed", "scan_id", "attributes"]
OBJECT_HEADER = ["forest", "objectGUID", "object", "object class", "OU", "uSNChanged", "scan", *OBJECT_ATTRIBUTES]


def _attribute(attributes: dict, name: str) -> list:
    # Stored names keep AD's spelling as read; look them up without regard to case.
    for key, values in attributes.items():
        if key.lower() == name.lower():
            return values
    return []


def object_rows(queryset):
    for *row, attributes in streamed(queryset.values_list(*OBJECT_FIELDS)):
        yield [*row, *(_attribute(attributes or {}, a) for a in OBJECT_ATTRIBUTES)]


def objects_queryset(request, tenant):
    current = ScanRun.objects.for_user(request.user).current().filter(tenant=tenant)
    queryset = DirectoryObject.objects.filter(scan__in=current)
    filterset = DirectoryObjectFilter(request.GET, queryset=queryset, tenant=tenant)
    return filterset.qs.order_by("forest__name", "dn", "pk")


def objects(request, tenant) -> Dataset:
    return Dataset("objects", OBJECT_HEADER, object_rows(objects_queryset(request, tenant)))


# ---------------------------------------------------------------- changes (the change log)


def changes_queryset(request, tenant, data=None):
    queryset = (
        Change.objects.for_user(request.user)
        .filter(tenant=tenant)
        .select_related("forest", "requested_by", "approved_by")
    )
    filterset = ChangeFilter(request.GET if data is None else data, queryset=queryset, tenant=tenant)
    return ordered(ChangeTable, filterset.qs, request, request=request)


def change_rows(queryset):
    # The change-log engineer's CSV row (remediation/exports.py): one definition of a change's cells.
    for change in streamed(queryset):
        yield change_exports.csv_row(change)


def changes(request, tenant) -> Dataset:
    return Dataset("changes", change_exports.CSV_HEADER, change_rows(changes_queryset(request, tenant)))


# ---------------------------------------------------------------- exceptions (waivers)

WAIVER_HEADER = [
    "id",
    "rule",
    "attribute",
    "value",
    "object",
    "forest",
    "justification",
    "approved by",
    "granted",
    "expires on",
    "state",
    "reopened at",
]


def waivers_queryset(request, tenant, data=None):
    queryset = (
        Waiver.objects.filter(tenant__in=Tenant.objects.for_user(request.user))
        .filter(tenant=tenant)
        .select_related("finding__forest", "created_by")
    )
    filterset = WaiverFilter(request.GET if data is None else data, queryset=queryset)
    return ordered(WaiverTable, filterset.qs, request)


def waiver_rows(queryset):
    for w in streamed(queryset):
        f = w.finding
        yield [
            w.pk,
            f.rule,
            f.attribute,
            f.value,
            f.dn,
            f.forest.name,
            w.justification,
            w.created_by.get_username(),
            w.created,
            w.expires_on,
            waiver_state(w, html=False),
            w.reopened_at,
        ]


def waivers(request, tenant) -> Dataset:
    return Dataset("exceptions", WAIVER_HEADER, waiver_rows(waivers_queryset(request, tenant)))


# ---------------------------------------------------------------- provisioning errors (latest snapshot)

ERROR_FIELDS = [
    ("cloud object ID", "object_id"),
    ("object type", "object_type"),
    ("display name", "display_name"),
    ("UPN", "upn"),
    ("immutable ID", "immutable_id"),
    ("category", "category"),
    ("property", "property"),
    ("conflicting value", "value"),
    ("occurred", "occurred"),
    ("matched forest", "matched_forest__name"),
    ("matched objectGUID", "matched_guid"),
    ("on-prem object", "matched_dn"),
    ("matched by", "matched_by"),
    ("our finding", "matched_finding_id"),
    ("snapshot taken", "snapshot__taken"),
    # Cloud Sync's rows (Connect Sync's: connect, 1, empty).
    ("engine", "source"),
    ("last occurred", "last_occurred"),
    ("occurrences", "occurrences"),
    ("on-prem DN as logged", "source_dn"),
]
ERROR_HEADER = [label for label, _ in ERROR_FIELDS]


def latest_snapshot(request, tenant):
    return SyncSnapshot.objects.for_user(request.user).filter(tenant=tenant).first()


def errors_queryset(request, tenant):
    snapshot = latest_snapshot(request, tenant)
    queryset = ProvisioningError.objects.for_user(request.user).filter(snapshot=snapshot)
    filterset = ProvisioningErrorFilter(request.GET, queryset=queryset)
    return ordered(ProvisioningErrorTable, filterset.qs, request, tenant=tenant)


def error_rows(queryset):
    yield from streamed(queryset.values_list(*(f for _, f in ERROR_FIELDS)))


def provisioning_errors(request, tenant) -> Dataset:
    return Dataset("provisioning-errors", ERROR_HEADER, error_rows(errors_queryset(request, tenant)))


# ---------------------------------------------------------------- licence assignment errors (latest snapshot)

LICENCE_FIELDS = [
    ("cloud user ID", "user_id"),
    ("display name", "display_name"),
    ("UPN", "upn"),
    ("usage location", "usage_location"),
    ("SKU", "sku_part_number"),
    ("SKU ID", "sku_id"),
    ("error", "error_code"),
    ("state", "state"),
    ("assigned by group", "group_id"),
    ("matched forest", "matched_forest__name"),
    ("matched objectGUID", "matched_guid"),
    ("on-prem object", "matched_dn"),
    ("matched by", "matched_by"),
    ("snapshot taken", "snapshot__taken"),
]


def licence_errors_queryset(request, tenant):
    """The latest snapshot's licence errors, ``?licence_code=`` narrowing to one error code."""
    snapshot = latest_snapshot(request, tenant)
    queryset = LicenceError.objects.for_user(request.user).filter(snapshot=snapshot)
    return queryset.of_code(request.GET.get("licence_code")).order_by("error_code", "upn", "pk")


def licence_errors(request, tenant) -> Dataset:
    rows = streamed(licence_errors_queryset(request, tenant).values_list(*(f for _, f in LICENCE_FIELDS)))
    return Dataset("licence-errors", [label for label, _ in LICENCE_FIELDS], rows)


LISTS = {
    "findings": findings,
    "objects": objects,
    "changes": changes,
    "exceptions": waivers,
    "provisioning-errors": provisioning_errors,
    "licence-errors": licence_errors,
}
