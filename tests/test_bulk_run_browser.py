"""In Chromium: a bulk run whose worker stopped lists its rows not attempted, with a Retry."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from identityhub.remediation.models import ApplyRun, Change
from identityhub.scans.models import Finding, ScanRun

from .browser import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_stalled_run_lists_rows_not_attempted_and_retry_finishes_it(live_server, page, personas, forest, settings):
    settings.BULK_STALE_SECONDS = 60
    scan = ScanRun.objects.create(tenant=forest.tenant, forest=forest, status="completed")
    findings = [
        Finding.objects.create(
            tenant=forest.tenant, forest=forest, key=f"k{i}", first_scan=scan, last_scan=scan,
            guid=uuid.uuid4(), dn=f"CN=Row {i},OU=Sales,DC=corp,DC=acme,DC=example", object_class="user",
            ou="OU=Sales,DC=corp,DC=acme,DC=example", rule="upn.character", severity="blocking", error="character",
            attribute="userPrincipalName", value=f"row {i}@acme.com", suggestion=f"row{i}@acme.com",
            first_seen=timezone.now(), last_seen=timezone.now(),
        )
        for i in range(4)
    ]  # fmt: skip
    run = ApplyRun.objects.create(
        tenant=forest.tenant, requested_by=personas["admin"], action="suggestion", status="running",
        finding_ids=[f.pk for f in findings], total=4, done=2, claim="gone",
        heartbeat=timezone.now() - timedelta(minutes=10),
    )  # fmt: skip
    for finding, result in zip(findings[:2], ("applied", "unknown"), strict=True):
        Change.objects.create(
            tenant=forest.tenant, forest=forest, finding=finding, guid=finding.guid, dn=finding.dn,
            attribute=finding.attribute, old_values=[finding.value], new_values=[finding.suggestion], action="edit",
            requested_by=personas["admin"], result=result, apply_run=run,
        )  # fmt: skip
    log_in(page, live_server, "admin", "pw-admin")
    page.goto(f"{live_server.url}{run.get_absolute_url()}")
    progress = page.locator("#apply-progress").inner_text()
    assert "The worker running this job stopped" in progress
    assert "applied 1" in progress and "outcome being confirmed 1" in progress and "not attempted 2" in progress
    assert "CN=Row 2" in progress and "CN=Row 3" in progress
    for width in (1440, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(page, f"bulk-run-stalled-{width}")
    page.get_by_role("button", name="Retry").click()
    page.wait_for_selector("text=Completed")
    run.refresh_from_db()
    assert run.status == "completed" and run.changes.count() == 4  # the two rows were attempted now
    assert "not attempted 0" in page.locator("#apply-progress").inner_text()
