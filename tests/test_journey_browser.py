"""In Chromium, the clicks a newcomer makes first on the demo data: findings list, object page, health."""

import pytest

from identityhub.health.models import ProvisioningError

from .browser import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _one_page(page, title_part):
    """A whole page, once: one top bar, one title."""
    assert page.locator("header.topbar").count() == 1
    titles = page.locator("h1").all_inner_texts()
    assert len(titles) == 1 and title_part in titles[0], titles


@pytest.mark.parametrize("who", ["admin", "auditor"])
def test_a_dn_in_the_findings_list_opens_the_object_page(live_server, page, personas, demo_forest, who):
    log_in(page, live_server, who, f"pw-{who}")
    page.goto(f"{live_server.url}/t/acme/findings/")
    # After a filter change too (the table came by htmx).
    page.select_option("#id_severity", "blocking")
    page.wait_for_url("**severity=blocking**")
    link = page.locator("table.findings tbody tr td.dn a").first
    dn = link.inner_text()
    link.click()
    page.wait_for_url("**/objects/**")
    _one_page(page, dn)
    assert page.locator(".filters").count() == 0


def test_a_dn_in_the_health_pages_provisioning_errors_opens_the_object_page(live_server, page, personas, demo_forest):
    matched = ProvisioningError.objects.exclude(matched_guid=None).first()
    assert matched is not None
    log_in(page, live_server, "auditor", "pw-auditor")
    page.goto(f"{live_server.url}/t/acme/health/")
    page.locator("#errors table tbody a").first.click()
    page.wait_for_url("**/objects/**")
    _one_page(page, "CN=")


def test_a_rule_chip_filters_the_list_and_its_exports(live_server, page, personas, demo_forest):
    rule = "upn.topleveldomain"
    log_in(page, live_server, "auditor", "pw-auditor")
    page.goto(f"{live_server.url}/t/acme/findings/")
    chip = page.locator(".rule-counts a.chip", has_text=rule)
    expected = int(chip.locator(".badge").inner_text())
    chip.click()
    page.wait_for_url(f"**rule={rule}**")
    assert "??" not in page.url
    rules_shown = set(page.locator("table.findings tbody tr").evaluate_all("rows => rows.map(r => r.dataset.rule)"))
    assert rules_shown == {rule}
    assert page.locator("#finding-count").inner_text().startswith(f"{expected} finding")
    csv_href = page.locator("a", has_text="CSV").first.get_attribute("href")
    assert f"rule={rule}" in csv_href and "??" not in csv_href
    screenshot(page, "findings-rule-chip")
