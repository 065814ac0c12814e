"""What the tenant page shows of scans: each forest's current and running scan, open findings."""

from django.db.models import Count

from .models import Finding, ScanRun


def tenant_summary(tenant) -> dict:
    forests = list(tenant.forests.all())
    latest = {}
    for scan in ScanRun.objects.filter(tenant=tenant).order_by("-created"):
        latest.setdefault(scan.forest_id, scan)
    current = {s.forest_id: s for s in ScanRun.objects.filter(tenant=tenant, is_current=True)}
    rows = [(forest, current.get(forest.pk), latest.get(forest.pk)) for forest in forests]
    by_severity = dict(
        Finding.objects.filter(tenant=tenant)
        .open()
        .order_by()
        .values_list("severity")
        .annotate(n=Count("id"))
        .values_list("severity", "n")
    )
    return {"forest_rows": rows, "open_by_severity": by_severity}
