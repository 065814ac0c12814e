"""Per-scan figures of the current pictures, counted once per picture instead of on each view.

A GROUP BY over a picture's objects reads every object of the forest (a million rows in a large
one, about a second). What it counts changes only when a scan completes: a full scan writes a new
picture, a delta changes its picture in place and moves its `refreshed` time. So the figures are
counted when a scan completes (receivers.py) and stored with the picture time they describe; a
page that finds none for the current picture (scans from before this table, a receiver that
failed) counts them once and stores them. A fix re-reads one object into the picture
(remediation.recheck) without moving that time: like ScanRun.objects_in_scope, the figures stay
the scan's until the next scan.
"""

from __future__ import annotations

from collections import Counter

from django.db.models import Count

from identityhub.scans.models import DirectoryObject, ScanRun

from .models import ScanFigures


def _as_of(scan: ScanRun):
    return scan.refreshed or scan.finished


def count(scan: ScanRun) -> ScanFigures:
    """Count the scan's picture now (one GROUP BY) and store the figures."""
    by_ou: Counter = Counter()
    by_class: Counter = Counter()
    rows = (
        DirectoryObject.objects.filter(scan=scan)
        .order_by()
        .values_list("ou", "object_class")
        .annotate(n=Count("pk"))
        .values_list("ou", "object_class", "n")
    )
    for ou, object_class, n in rows:
        by_ou[ou] += n
        by_class[object_class] += n
    figures, _ = ScanFigures.objects.update_or_create(
        scan=scan,
        defaults={"as_of": _as_of(scan), "objects_by_ou": dict(by_ou), "objects_by_class": dict(by_class)},
    )
    return figures


def of_scans(scans: list[ScanRun]) -> list[ScanFigures]:
    """The stored figures of these scans (one query); counted now for a picture that has none yet."""
    stored = {f.scan_id: f for f in ScanFigures.objects.filter(scan__in=[scan.pk for scan in scans])}
    out = []
    for scan in scans:
        figures = stored.get(scan.pk)
        if figures is None or figures.as_of != _as_of(scan):
            figures = count(scan)
        out.append(figures)
    return out


def on_completed(scan: ScanRun) -> None:
    """A scan completed: count the forest's current picture (a delta's is the full scan it continues),
    and drop the figures of the pictures it replaced (one row per forest, not one per scan ever run)."""
    current = ScanRun.objects.filter(forest=scan.forest_id, is_current=True).first()
    if current is not None:
        count(current)
        ScanFigures.objects.filter(scan__forest=scan.forest_id).exclude(scan=current).delete()
