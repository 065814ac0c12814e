"""The health and rollout pages of a Cloud Sync tenant and of a Connect Sync tenant in a real
Chromium, at 1440 and 1024 px; screenshots for the eye (SCREENSHOT_DIR)."""

import uuid

import pytest
from django.utils import timezone

from identityhub.health import pulls
from identityhub.rollout import progress

from .browser import log_in, screenshot
from .graph_standin import add_cloud_sync, add_licence_errors
from .health_support import ad_group, ad_user, connect, scan

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


OVERFLOWING = """(selectors) => selectors.flatMap(s => [...document.querySelectorAll(s)])
    .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1).map(el => el.id || el.className)"""


def _shoot(page, name, sections):
    """Screenshots at both widths; the sections this issue added stay inside the window."""
    for width in (1440, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(page, f"{name}-{width}")
        assert page.evaluate(OVERFLOWING, sections) == [], (name, width)


def test_a_cloud_sync_tenant_in_chromium(live_server, page, personas, tenant, forest, standin):
    tenant.verified_domains = ["acme.com", "contoso.com"]
    tenant.save()
    ben = uuid.uuid4()
    scan(
        forest,
        [
            ad_user("Ben", upn="ben@contoso.com", guid=ben, country="DE"),
            ad_user("Benjamin", upn="benjamin@acme.com", mail="ben@contoso.com"),
            ad_group("Support", mail="support@contoso.com"),
        ],
    )
    add_cloud_sync(standin.state, timezone.now(), matched_guid=ben)
    add_licence_errors(standin.state)
    connect(tenant, standin)
    checkpoint = progress.checkpoint_of(tenant)
    checkpoint.ready_to_license = True
    checkpoint.save()

    log_in(page, live_server, "admin", "pw-admin")
    page.goto(f"{live_server.url}/t/acme/health/")
    page.click("#pull-now")
    page.wait_for_selector("#tile-cloud-sync-jobs")
    assert page.get_attribute("#tile-cloud-sync-jobs", "data-colour") == "red"
    assert "1 in quarantine" in page.inner_text("#tile-cloud-sync-jobs")
    assert "Entra Cloud Sync" in page.inner_text("#tile-engine")
    assert page.locator("#cloud-sync-jobs tbody tr").count() == 6
    assert page.locator("#licence-errors tbody tr").count() == 4
    datasets = page.evaluate("() => Chart.getChart('trend-chart').data.datasets.map(d => d.label)")
    assert "Escrowed objects (Cloud Sync)" in datasets and "Users with licence errors" in datasets
    _shoot(page, "cloudsync-health", [".health-tiles", "#cloud-sync", "#licensing", ".health-grid"])
    page.select_option("#id_source", "cloud_sync")
    page.wait_for_function("() => document.querySelectorAll('table.provisioning-errors tbody tr').length === 3")

    page.goto(f"{live_server.url}/t/acme/rollout/")
    assert page.get_attribute("#crit-cloud-sync", "data-state") == "not_met"
    assert "EncounteredQuarantineException" in page.inner_text("#crit-cloud-sync")
    assert page.get_attribute("#crit-licence-errors", "data-state") == "not_met"
    assert "Ready to license" in page.inner_text("#checkpoint-license")
    _shoot(page, "cloudsync-rollout", ["#step-7", "#checkpoint-license", "#step-8"])


def test_a_connect_sync_tenant_in_chromium(live_server, page, personas, tenant, standin):
    connect(tenant, standin)
    pulls.pull(tenant)
    log_in(page, live_server, "lead", "pw-lead")
    page.goto(f"{live_server.url}/t/acme/health/")
    assert "Entra Connect Sync" in page.inner_text("#tile-engine")
    assert page.locator("#cloud-sync").count() == 0
    assert page.locator("#tile-licence-errors").count() == 1
    _shoot(page, "connectsync-health", [".health-tiles", "#licensing", ".health-grid"])
    page.goto(f"{live_server.url}/t/acme/rollout/")
    assert page.get_attribute("#crit-cloud-sync", "data-state") == "met"
    assert page.locator("#checkpoint-license").count() == 0
    _shoot(page, "connectsync-rollout", ["#step-7", "#step-8"])
