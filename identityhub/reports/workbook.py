"""The findings workbook: a summary sheet, a scan-metadata sheet, then one sheet per rule.

`build_workbook` is a plain function over a findings queryset (the list's filter, already scoped to
the user and tenant); the job (jobs.py) calls it and records progress.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import Count
from django.utils import timezone

from identityhub.lib import rules
from identityhub.scans.models import ScanRun, Severity

from . import rollout_hook
from .datasets import FINDING_HEADER, finding_rows
from .tabular import XlsxWriter

SCAN_HEADER = [
    "forest",
    "scan",
    "status",
    "source",
    "catalogue version",
    "rule set",
    "servers",
    "port",
    "bases",
    "excluded OUs",
    "LDAP filter",
    "started",
    "finished",
    "objects read",
    "objects in scope",
    "objects excluded",
    "exclusions by reason",
    "findings",
]


def scan_metadata_rows(scans):
    for scan in scans:
        scope = scan.scope or {}
        exclusions = "; ".join(f"{k}: {v}" for k, v in sorted((scan.exclusion_counts or {}).items()))
        yield [
            scan.forest.name,
            scan.pk,
            scan.status,
            scan.source,
            scan.catalogue_version,
            scan.ruleset,
            scope.get("servers", []),
            scope.get("port", ""),
            scope.get("bases", []),
            scope.get("exclude", []),
            scope.get("filter", ""),
            scan.started,
            scan.finished,
            scan.objects_read,
            scan.objects_in_scope,
            scan.objects_excluded,
            exclusions,
            scan.findings_count,
        ]


def counts(queryset, field: str) -> list[tuple[str, int]]:
    rows = queryset.order_by().values(field).annotate(n=Count("id")).order_by("-n", field)
    return [(row[field], row["n"]) for row in rows]


def build_workbook(
    fileobj, tenant, queryset, *, filter_text: str = "", progress: Callable[[int, str], None] = lambda p, s: None
) -> dict:
    """Write the workbook to `fileobj`; returns the counts it summarised."""
    writer = XlsxWriter()
    total = queryset.count()
    by_severity = dict(counts(queryset, "severity"))
    by_rule = counts(queryset, "rule")
    by_forest = counts(queryset, "forest__name")
    score = rollout_hook.readiness_score(tenant)

    summary = writer.sheet("Summary")
    for row in (
        ["Findings workbook", tenant.name],
        ["Generated", timezone.now()],
        ["Filter", filter_text or "(none: open findings)"],
        ["Findings", total],
        ["Readiness score", score if score is not None else "n/a (rollout app not installed)"],
        ["Catalogue version (now)", rules.CATALOGUE_VERSION],
        [],
        ["Severity", "Findings"],
        *([label, by_severity.get(value, 0)] for value, label in Severity.choices),
        [],
        ["Rule", "Severity", "Findings", "Title"],
        *(
            [code, getattr(rules.RULES.get(code), "severity", ""), n, getattr(rules.RULES.get(code), "title", "")]
            for code, n in by_rule
        ),
        [],
        ["Forest", "Findings"],
        *([name, n] for name, n in by_forest),
    ):
        writer.append(summary, row)
    progress(10, "summary")

    meta = writer.sheet("Scan metadata", SCAN_HEADER)
    current = ScanRun.objects.filter(tenant=tenant, is_current=True).select_related("forest").order_by("forest__name")
    for row in scan_metadata_rows(current):
        writer.append(meta, row)
    progress(15, "scan metadata")

    done = 0
    for i, (code, n) in enumerate(by_rule):
        sheet = writer.sheet(code, FINDING_HEADER)
        for row in finding_rows(queryset.filter(rule=code), tenant):
            writer.append(sheet, row)
        done += n
        progress(15 + int(80 * done / max(total, 1)), f"rule {i + 1} of {len(by_rule)}")
    writer.save(fileobj)
    return {"total": total, "severity": by_severity, "rules": dict(by_rule), "forests": dict(by_forest)}
