"""In Chromium: an admin fixes a finding inline in the findings table and sees it resolved."""

import pytest

from .browser import log_in, screenshot
from .remediation_support import finding_on, scan

pytestmark = [pytest.mark.samba, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_fixes_a_finding_inline(live_server, page, personas, sandbox_forest, sandbox):
    dn = sandbox.user("Nina Bad", userPrincipalName="nina bad@corp.example.com")
    scan(sandbox_forest)
    finding = finding_on(dn, "userPrincipalName")
    log_in(page, live_server, "admin", "pw-admin")
    page.goto(f"{live_server.url}/t/acme/findings/?q=nina")
    row = page.locator(f"#actions-{finding.pk}")
    row.get_by_role("button", name="Fix").click()
    field = page.locator(f"#value-{finding.pk}")
    assert field.input_value() == "ninabad@corp.example.com"  # the suggestion, prefilled
    screenshot(page, "remediation-edit-form")
    page.locator(f"#actions-{finding.pk}").get_by_role("button", name="Apply").click()
    page.wait_for_selector(f"#actions-{finding.pk} >> text=Edit applied")
    assert page.locator(f"#status-{finding.pk}").inner_text() == "Resolved"
    screenshot(page, "remediation-applied")
    assert sandbox.value(dn, "userPrincipalName") == ["ninabad@corp.example.com"]
