"""In Chromium: the tenant page offers a full and a delta scan and shows the schedule, the scan list
says which kind ran and why a full ran instead, the forest form sets the schedules; screenshots at
1440 and 1024 px for the eye."""

import datetime

import pytest
from django.utils import timezone

from identityhub.scans.models import ScanRun

from .browser import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_delta_scans_in_the_pages(live_server, page, personas, forest):
    full = ScanRun.objects.create(
        tenant=forest.tenant, forest=forest, status="completed", is_current=True, objects_read=1200,
        objects_in_scope=1100, finished=timezone.now() - datetime.timedelta(hours=3),
    )  # fmt: skip
    ScanRun.objects.create(
        tenant=forest.tenant, forest=forest, kind="delta", status="completed", picture=full, objects_read=14,
        objects_changed=11, objects_deleted=3, objects_in_scope=1108, finished=timezone.now(),
    )  # fmt: skip
    ScanRun.objects.create(
        tenant=forest.tenant, forest=forest, status="failed", error="Bind refused: the password is wrong.",
        full_reason="The invocationId of DC1 changed: the DC was restored from a backup.",
    )  # fmt: skip
    log_in(page, live_server, "admin", "pw-admin")
    for width in (1440, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/t/acme/")
        assert page.get_by_role("button", name="Scan now").is_visible()
        assert page.get_by_role("button", name="Delta scan").is_visible()
        assert "delta every 15 min" in page.locator("main").inner_text()
        screenshot(page, f"delta-tenant-{width}")

        page.goto(f"{live_server.url}/t/acme/scans/")
        table = page.locator("table").inner_text()
        assert "Delta" in table and "11 / 3" in table and "restored from a backup" in table
        screenshot(page, f"delta-scan-list-{width}")

        page.goto(f"{live_server.url}/t/acme/forests/{forest.pk}/")
        page.get_by_label("Delta scan every (minutes)").fill("30")
        page.get_by_label("Full scan time").fill("03:15")
        screenshot(page, f"delta-forest-form-{width}")
    page.get_by_label("Bind password").fill("S3cret-bind-pw!")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{live_server.url}/t/acme/")
    forest.refresh_from_db()
    assert (forest.delta_minutes, forest.full_scan_time) == (30, datetime.time(3, 15))
