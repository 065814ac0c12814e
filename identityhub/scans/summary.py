"""What the tenant page shows of scans: each forest's current and running scan, open findings."""

from django.db.models import OuterRef, Q, Subquery

from . import counts
from .models import ScanRun


def tenant_summary(tenant) -> dict:
    # Each forest's latest scan, not every scan the tenant ever ran (a scheduled forest has thousands).
    latest_scan = ScanRun.objects.filter(forest=OuterRef("pk")).order_by("-created").values("pk")[:1]
    # Shown, not bound with: the bind password is not decrypted for the page.
    forests = list(tenant.forests.without_secrets().annotate(latest_scan=Subquery(latest_scan)))
    latest = [forest.latest_scan for forest in forests if forest.latest_scan]
    scans = {scan.pk: scan for scan in ScanRun.objects.filter(Q(pk__in=latest) | Q(tenant=tenant, is_current=True))}
    current = {scan.forest_id: scan for scan in scans.values() if scan.is_current}
    for row in (*forests, *scans.values()):
        row.tenant = tenant  # their links name the tenant: not a query per forest and scan
    rows = [(forest, current.get(forest.pk), scans.get(forest.latest_scan)) for forest in forests]
    # From the counts kept per change of the findings, not a GROUP BY over every open finding.
    return {"forest_rows": rows, "open_by_severity": counts.open_by_severity(tenant)}
