"""Seed the demo tenant's sync health from bundled demo data (demo/*.json), labelled as demo.

bootstrap_demo calls seed_demo(); the snapshots go through the same store_report() as a real pull,
so the demo's errors are matched to the demo forest's objects and its collisions become findings.

Seeded times are relative to the seeding, so they age: the demo's last sync would be over the
cycle threshold within the hour. bring_to_now() moves the demo's history forward, whole, so its
newest point is again as old as the bundled data says; the demo app runs it from the beat and
at every bootstrap_demo. The demo's health is kept current by writing it, never by a demo case
where health is read: the criteria, the tiles and the exports read demo snapshots exactly as
pulled ones.
"""

import json
from datetime import timedelta
from pathlib import Path

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from identityhub.lib.graph import HealthReport

from .models import ProvisioningError, SyncSnapshot
from .pulls import store_report

DEMO_DATA = Path(__file__).resolve().parent / "demo" / "contoso.json"


def seed_demo(tenant, path: Path = DEMO_DATA) -> int:
    """Snapshots for the tenant from the demo file, oldest first; none if it has any already."""
    if SyncSnapshot.objects.filter(tenant=tenant).exists():
        return 0
    data = json.loads(path.read_text())
    now = timezone.now()
    for point in data["snapshots"]:
        taken = now - timedelta(hours=point["hours_ago"])
        errors = [
            {
                **{k: v for k, v in e.items() if k != "occurred_hours_ago"},
                "occurred": now - timedelta(hours=e["occurred_hours_ago"]),
            }
            for e in data["provisioning_errors"][: point["errors"]]
        ]
        report = HealthReport(
            sync_enabled=data["sync_enabled"],
            last_sync=taken - timedelta(minutes=point["sync_age_minutes"]),
            last_password_sync=taken - timedelta(minutes=point["password_sync_age_minutes"]),
            verified_domains=data["verified_domains"],
            domains=data["domains"],
            counts={
                kind: dict(zip(("synced", "cloud_only"), point[kind], strict=True))
                for kind in ("users", "groups", "contacts")
            },
            provisioning_errors=errors,
            cloud_only_identities=[tuple(i) for i in data["cloud_only_identities"]],
            cloud_only_holders=data.get("cloud_only_holders", {}),
        )
        store_report(tenant, report, taken=taken, is_demo=True)
    return len(data["snapshots"])


def bring_to_now(tenant, path: Path = DEMO_DATA, now=None) -> timedelta:
    """Move the tenant's demo snapshots (and their errors' dates) forward by one offset, so the
    newest is as old as the data's newest point; how far they moved (zero when already current).

    The story is unchanged (the same points, sync ages and error ages), only dated from now, and
    nothing grows. Snapshots a real pull wrote (is_demo false) are never touched."""
    newest_hours = min(point["hours_ago"] for point in json.loads(path.read_text())["snapshots"])
    now = now or timezone.now()
    with transaction.atomic():
        # The lock a pull takes to write the tenant's health (pulls.store_report).
        type(tenant).objects.select_for_update().filter(pk=tenant.pk).first()
        demo = SyncSnapshot.objects.filter(tenant=tenant, is_demo=True)
        newest = demo.order_by("-taken").values_list("taken", flat=True).first()
        if newest is None:
            return timedelta(0)
        shift = now - timedelta(hours=newest_hours) - newest
        if shift <= timedelta(0):
            return timedelta(0)
        demo.update(
            taken=F("taken") + shift,
            last_sync=F("last_sync") + shift,
            last_password_sync=F("last_password_sync") + shift,
        )
        ProvisioningError.objects.filter(snapshot__in=demo).update(
            occurred=F("occurred") + shift, last_occurred=F("last_occurred") + shift
        )
    return shift
