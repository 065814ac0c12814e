"""The demo forest (the bundled ldifde export) loaded into tenant Acme, as a newcomer meets it."""

from pathlib import Path

import pytest
from django.core.files import File

from identityhub.health.demo import seed_demo
from identityhub.scans import pipeline
from identityhub.scans.models import ScanRun
from identityhub.scans.sources import entries_for

DEMO_EXPORT = Path(__file__).resolve().parent.parent / "identityhub" / "demo" / "data" / "contoso.ldif"


def load_export(forest, path: Path = DEMO_EXPORT) -> ScanRun:
    with path.open("rb") as handle:
        scan = ScanRun.objects.create(tenant=forest.tenant, forest=forest, source=ScanRun.Source.UPLOAD)
        scan.upload.save(path.name, File(handle))
    return pipeline.execute(scan.pk, entries_for)


@pytest.fixture
def demo_forest(tenant, forest, settings, tmp_path):
    """Acme with the demo's domains and its forest loaded from the demo export (no DC behind it)."""
    settings.MEDIA_ROOT = tmp_path
    tenant.verified_domains = ["contoso.com", "contoso.onmicrosoft.com", "contoso.mail.onmicrosoft.com"]
    tenant.save()
    load_export(forest)
    seed_demo(tenant)
    return forest
