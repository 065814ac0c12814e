"""Readiness score of a tenant, a forest or an OU, the burn-down of open findings, and breakdowns.

The score is sync-specific: open findings weigh by what they do to sync, normalised by the objects
in scope so that it neither saturates on a large directory nor looks fine on a small one:

    penalty = 10 * blocking + 3 * degrading + 1 * hygiene      (open findings; excepted and
                                                               accepted ones do not count)
    score   = round(100 * N / (N + penalty))                   N = objects in scope

100 means no open finding. The score halves when the penalty equals the number of objects, e.g.
one blocking finding per ten objects; one blocking finding per hundred objects gives 91. It never
reaches 0 and never needs clamping. No objects in scope (nothing scanned) gives None: unknown.
"""

from __future__ import annotations

import functools
from collections import defaultdict

from django.db import connection
from django.db.models import Count
from django.utils import timezone

from identityhub.scans import counts as finding_counts
from identityhub.scans.models import Finding, ScanRun, Severity
from identityhub.tenants.models import Forest

from . import figures

WEIGHTS = {"blocking": 10, "degrading": 3, "hygiene": 1}


def readiness(objects: int, by_severity: dict[str, int]) -> int | None:
    if objects <= 0:
        return None
    penalty = sum(WEIGHTS.get(severity, 0) * n for severity, n in by_severity.items())
    return round(100 * objects / (objects + penalty))


def _open(tenant):
    return Finding.objects.filter(tenant=tenant).open().order_by()


def open_blocking(tenant, rows=None) -> int:
    return finding_counts.open_by_severity(tenant, rows=rows).get("blocking", 0)


def current_scans(tenant) -> list[ScanRun]:
    """The tenant's current scans with their forests: a page loads them once and passes them on."""
    scans = ScanRun.objects.filter(tenant=tenant, is_current=True).select_related("forest")
    return list(scans.defer(*Forest.secrets_via("forest")))  # shown, not bound with: no decryption


def tenant_score(tenant, scans: list[ScanRun] | None = None, rows=None) -> int | None:
    """`scans` (current_scans()) and `rows` (open_counts()) when the caller has them already."""
    scans = current_scans(tenant) if scans is None else scans
    objects = sum(scan.objects_in_scope for scan in scans)
    return readiness(objects, finding_counts.open_by_severity(tenant, rows=rows))


def by_forest(tenant, scans: list[ScanRun] | None = None, rows=None) -> list[dict]:
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for forest_id, _rule, severity, n in finding_counts.open_counts(tenant) if rows is None else rows:
        counts[forest_id][severity] = counts[forest_id].get(severity, 0) + n
    out = []
    for scan in current_scans(tenant) if scans is None else scans:
        c = counts.get(scan.forest_id, {})
        out.append(_row(scan.forest.name, scan.objects_in_scope, c, forest=scan.forest))
    return sorted(out, key=lambda r: (r["score"] is None, r["score"] or 0))


def by_ou(tenant, limit: int = 15, scans: list[ScanRun] | None = None) -> list[dict]:
    """The OUs with the lowest scores.

    The open findings per OU change with each fix: one GROUP BY over the open findings, kept until
    the tenant's findings change. The objects per OU change only with a scan: read from the
    figures stored per scan (figures.py), never counted again because a finding changed."""
    return finding_counts.cached(tenant, *_by_ou_kept(tenant, limit, scans))


def _by_ou_kept(tenant, limit: int, scans: list[ScanRun] | None, open_by_ou=None):
    return f"rollout:by-ou:{limit}", lambda: _by_ou(tenant, limit, scans, open_by_ou() if open_by_ou else None)


def _open_by_ou(tenant) -> list[tuple[str, str, int]]:
    return list(_open(tenant).values_list("ou", "severity").annotate(n=Count("id")).values_list("ou", "severity", "n"))


def _open_both_ways(tenant) -> tuple[list, list]:
    """The open findings counted by (forest, rule, severity), as counts.open_counts() keeps them, and
    by (ou, severity): after each change the first viewer of the rollout page waits for both. On
    PostgreSQL one pass over the open findings does both (GROUPING SETS) instead of two."""
    if connection.vendor != "postgresql":
        return finding_counts.count_open(tenant), _open_by_ou(tenant)
    sql, params = _open(tenant).values("forest", "rule", "severity", "ou").query.sql_with_params()
    # The inner SQL is the ORM's, with its values as parameters: nothing of a request is spliced in.
    query = (
        f"SELECT forest, rule, severity, ou, GROUPING(ou), COUNT(*) FROM ({sql}) AS open_findings "  # noqa: S608
        "GROUP BY GROUPING SETS ((forest, rule, severity), (ou, severity))"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        rows = cursor.fetchall()
    by_forest = [(forest, rule, severity, n) for forest, rule, severity, _ou, grouped, n in rows if grouped]
    by_ou = [(ou, severity, n) for _forest, _rule, severity, ou, grouped, n in rows if not grouped]
    return by_forest, by_ou


def _by_ou(tenant, limit: int, scans: list[ScanRun] | None, open_by_ou=None) -> list[dict]:
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for ou, severity, n in _open_by_ou(tenant) if open_by_ou is None else open_by_ou:
        counts[ou][severity] = n
    objects: dict[str, int] = defaultdict(int)
    for scan_figures in figures.of_scans(current_scans(tenant) if scans is None else scans):
        for ou, n in scan_figures.objects_by_ou.items():
            objects[ou] += n
    rows = [_row(ou, objects.get(ou, 0), c) for ou, c in counts.items()]
    rows.sort(key=lambda r: (r["score"] if r["score"] is not None else -1, -r["blocking"]))
    return rows[:limit]


def by_rule(tenant, limit: int = 15, rows=None) -> list[dict]:
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for _forest, rule, severity, n in finding_counts.open_counts(tenant) if rows is None else rows:
        totals[(rule, severity)] += n
    rows = [{"rule": rule, "severity": severity, "n": n} for (rule, severity), n in totals.items()]
    ordered = sorted(rows, key=lambda r: (-WEIGHTS.get(r["severity"], 0) * r["n"], r["rule"]))
    return ordered[:limit]


def _row(name, objects, counts, **extra) -> dict:
    return {
        "name": name,
        "objects": objects,
        **dict(Severity.split(counts)),
        "score": readiness(objects, counts),
        **extra,
    }


def burn_down(tenant, points: int = 200) -> dict:
    """Findings by severity after each completed scan (every forest at its latest scan then), oldest
    first, from ScanRun.severity_counts, ending with the open findings now (after accepts, exceptions
    and fixes since the last scan): the chart's data (json_script).

    It reads every completed scan of the tenant (thousands for a forest with deltas): kept until the
    findings change, which a completed scan does too."""
    return finding_counts.cached(tenant, *_burn_down_kept(tenant, points))


def _burn_down_kept(tenant, points: int):
    return f"rollout:burn-down:{points}:{timezone.get_current_timezone_name()}", lambda: _burn_down(tenant, points)


def _burn_down(tenant, points: int) -> dict:
    scans = (
        ScanRun.objects.filter(tenant=tenant, status=ScanRun.Status.COMPLETED, finished__isnull=False)
        .order_by("finished")
        .values_list("forest_id", "finished", "severity_counts")
    )
    latest: dict[int, dict] = {}
    labels, series = [], {s: [] for s in Severity.values}
    for forest_id, finished, severity_counts in scans:
        latest[forest_id] = severity_counts or {}
        labels.append(f"{timezone.localtime(finished):%d %b %H:%M}")
        for severity in Severity.values:
            series[severity].append(sum(c.get(severity, 0) for c in latest.values()))
    if labels:
        now = finding_counts.open_by_severity(tenant)
        labels.append("now")
        for severity in Severity.values:
            series[severity].append(now.get(severity, 0))
    return {"labels": labels[-points:], **{s: v[-points:] for s, v in series.items()}}


def rollout_figures(tenant, scans: list[ScanRun]) -> dict:
    """What the rollout page shows of the counts, kept per version of the findings and fetched from
    the cache in two round trips (cached_many) instead of two per count."""
    both = functools.cache(lambda: _open_both_ways(tenant))  # counted when either is not kept
    ou_name, ou_compute = _by_ou_kept(tenant, 15, scans, lambda: both()[1])
    burn_down_name, burn_down_compute = _burn_down_kept(tenant, 200)  # after OPEN: reads it kept
    kept = finding_counts.cached_many(
        tenant,
        {
            finding_counts.OPEN: lambda: both()[0],
            ou_name: ou_compute,
            burn_down_name: burn_down_compute,
        },
    )
    rows = kept[finding_counts.OPEN]
    return {
        "rows": rows,
        "forests": by_forest(tenant, scans, rows=rows),
        "ous": kept[ou_name],
        "rules": by_rule(tenant, rows=rows),
        "burn_down": kept[burn_down_name],
    }
