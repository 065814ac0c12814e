"""The pages in a real Chromium: log in, see only your tenants, open a tenant and a forest form."""

import pytest

from .browser import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_lead_logs_in_and_sees_the_tenant(live_server, page, personas, forest):
    log_in(page, live_server, "lead", "pw-lead")
    page.wait_for_selector("h1:has-text('Tenants')")
    assert page.locator("table").inner_text().count("Acme") == 1
    assert "Globex" not in page.content()
    screenshot(page, "tenant-list")
    page.click("text=Acme")
    page.wait_for_selector("h1:has-text('Acme')")
    assert "corp.acme.example" in page.content()
    # A lead reads but does not edit: no "Add forest" button.
    assert page.locator("text=Add forest").count() == 0
    screenshot(page, "tenant-detail-lead")


def test_login_page_rejects_a_wrong_password(live_server, page, personas):
    log_in(page, live_server, "lead", "wrong")
    page.wait_for_selector("text=didn't match")
    screenshot(page, "login-failed")
