"""The health page in a real Chromium: demo history, Pull now against the TLS Graph stand-in,
tiles, the Chart.js trend, the errors filter; a screenshot for the eye."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from identityhub.health.demo import seed_demo

from .browser import log_in, screenshot
from .health_support import ad_group, ad_user, connect, scan, synced_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_pulls_and_reads_the_health_page(live_server, page, personas, tenant, forest, standin):
    tenant.verified_domains = ["acme.com", "contoso.com"]
    tenant.save()
    connect(tenant, standin)
    seed_demo(tenant)  # history for the trend; labelled demo until a real pull lands
    ben = uuid.uuid4()
    others = [ad_user("Dee", upn="dee@contoso.com"), ad_group("Support", mail="support@contoso.com")]
    scan(forest, [ad_user("Ben", upn="ben@contoso.com", mail="ben smith@contoso.com", guid=ben), *others])
    scan(forest, [ad_user("Ben", upn="ben@contoso.com", mail="ben@contoso.com", guid=ben), *others])  # fixed
    synced_as(standin.state.users[1], ben)
    now = timezone.now()
    standin.state.last_sync = (now - timedelta(minutes=12)).isoformat()
    standin.state.last_password_sync = (now - timedelta(minutes=2)).isoformat()

    log_in(page, live_server, "admin", "pw-admin")
    page.goto(f"{live_server.url}/t/acme/health/")
    page.wait_for_selector("#demo-label")
    page.click("#pull-now")
    page.wait_for_selector("#tile-last-sync")
    page.wait_for_function("() => !document.querySelector('#demo-label')")

    assert page.get_attribute("#tile-last-sync", "data-colour") == "green"
    assert "12 min ago" in page.inner_text("#tile-last-sync")
    assert page.get_attribute("#tile-password-sync", "data-colour") == "green"
    assert page.get_attribute("#tile-errors", "data-colour") == "red"
    assert page.inner_text("#tile-collisions .n") == "1"  # Dee's UPN is taken by a cloud-only user
    assert page.evaluate("() => Chart.getChart('trend-chart').data.datasets[0].data.length") == 13
    rows = page.locator("table.provisioning-errors tbody tr")
    assert rows.count() == 2
    assert "CN=Ben" in rows.first.inner_text() or "CN=Ben" in rows.last.inner_text()
    assert "fixed, awaiting sync" in page.inner_text("#closing-the-loop")
    screenshot(page, "health-page")

    page.select_option("#id_object_type", "group")
    page.wait_for_function("() => document.querySelectorAll('table.provisioning-errors tbody tr').length === 1")
    assert "support@contoso.com" in page.inner_text("table.provisioning-errors")
    assert "object_type=group" in page.url
