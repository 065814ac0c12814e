"""Seed the demo tenant's sync health from bundled demo data (demo/*.json), labelled as demo.

bootstrap_demo calls seed_demo(); the snapshots go through the same store_report() as a real pull,
so the demo's errors are matched to the demo forest's objects and its collisions become findings.
"""

import json
from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from identityhub.lib.graph import HealthReport

from .models import SyncSnapshot
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
