"""In Chromium: a fix whose answer was lost says its outcome is being confirmed, then shows it settled."""

import pytest

from identityhub.remediation import tasks
from identityhub.remediation.models import Change

from . import ldap_proxy
from .browser import log_in, screenshot
from .remediation_support import finding_on, scan

pytestmark = [pytest.mark.samba, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1440, 1024)


def shots(page, name):
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(page, f"{name}-{width}")


def test_an_unknown_outcome_is_shown_then_settled(live_server, page, personas, proxied_forest, sandbox, proxy):
    dn = sandbox.user("Quin Bad", userPrincipalName="quin bad@corp.example.com")
    scan(proxied_forest)
    finding = finding_on(dn, "userPrincipalName")
    log_in(page, live_server, "admin", "pw-admin")
    page.goto(f"{live_server.url}/t/acme/findings/?q=quin")
    # The modify reaches AD, its answer is lost, and no new connection gets through for now.
    proxy.fault(ldap_proxy.DROP_BEFORE_REPLY)
    proxy.on_write = lambda _message: proxy.fault(ldap_proxy.REFUSE, times=1000)
    page.locator(f"#actions-{finding.pk}").get_by_role("button", name="Fix").click()
    page.locator(f"#actions-{finding.pk}").get_by_role("button", name="Apply").click()
    page.wait_for_selector(f"#actions-{finding.pk} >> text=outcome being confirmed")
    assert "The outcome is being confirmed" in page.locator(f"#actions-{finding.pk}").inner_text()
    shots(page, "write-unknown-inline")
    log = page.context.new_page()  # the findings page stays open in its own tab
    log.goto(f"{live_server.url}/t/acme/changes/")
    assert "Outcome being confirmed" in log.locator("#changes").inner_text()
    shots(log, "write-unknown-change-log")

    proxy.fault(ldap_proxy.PASS, times=0)  # a DC answers again: the sweep settles it
    tasks.confirm_unknown_changes()
    log.goto(f"{live_server.url}/t/acme/changes/")
    text = log.locator("#changes").inner_text()
    assert "Applied" in text and "confirmed by re-read after a lost connection" in text
    assert "Outcome being confirmed" not in text
    shots(log, "write-settled-change-log")
    # The findings page, left open, polls the cell and shows the settled outcome and status.
    page.wait_for_selector(f"#actions-{finding.pk} >> text=Edit applied", timeout=15_000)
    assert "confirmed by re-read" in page.locator(f"#actions-{finding.pk}").inner_text()
    assert page.locator(f"#status-{finding.pk}").inner_text() == "Resolved"
    shots(page, "write-settled-inline")
    assert Change.objects.get(finding=finding).result == "applied"
    finding.refresh_from_db()
    assert finding.status == "resolved"
