"""In Chromium: the forest form (labels, schedule changes without the password, Cancel, Delete) and
exceptions (a refused date keeps the justification, a year at most, revoked from the Exceptions
page, both in the change log)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from identityhub.remediation.models import Change, Waiver
from identityhub.scans.models import Finding
from identityhub.tenants.models import Forest

from .browser import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_forest_form(live_server, page, personas, demo_forest):
    log_in(page, live_server, "admin", "pw-admin")
    # Test connection of a new forest without a password names the field.
    page.goto(f"{live_server.url}/t/acme/forests/new/")
    page.fill("#id_name", "fabrikam.example")
    page.click("#test-connection")
    error = page.locator("#test-result .error")
    error.wait_for()
    assert "Bind password: The bind password is required." in error.inner_text() and "None" not in error.inner_text()
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url(f"{live_server.url}/t/acme/")

    # A schedule change keeps the stored password without retyping it.
    page.goto(f"{live_server.url}/t/acme/forests/{demo_forest.pk}/")
    page.select_option("#id_scan_schedule", "daily")
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{live_server.url}/t/acme/")
    demo_forest.refresh_from_db()
    assert demo_forest.scan_schedule == "daily" and demo_forest.bind_password == "S3cret-bind-pw!"
    # A new server asks for the password again (it is only sent where it was given).
    page.goto(f"{live_server.url}/t/acme/forests/{demo_forest.pk}/")
    page.fill("#id_servers", "dc99.corp.acme.example")
    page.click("button[type=submit].primary")
    assert "type the bind password again" in page.inner_text("#forest-form")
    screenshot(page, "forest-form")

    # Delete: a forest with changes in the log stays; one without goes, with its findings.
    spare = Forest.objects.create(tenant=demo_forest.tenant, name="spare", servers="x", base_dns="DC=x")
    page.goto(f"{live_server.url}/t/acme/forests/{spare.pk}/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-forest")
    page.wait_for_url(f"{live_server.url}/t/acme/")
    assert "removed" in page.inner_text(".messages") and not Forest.objects.filter(pk=spare.pk).exists()
    Change.objects.create(
        tenant=demo_forest.tenant, forest=demo_forest, guid=Finding.objects.first().guid, dn="CN=x", attribute="mail",
        action="accept", requested_by=personas["admin"], result="applied",
    )  # fmt: skip
    page.goto(f"{live_server.url}/t/acme/forests/{demo_forest.pk}/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-forest")
    page.wait_for_selector(".messages .error")
    assert Forest.objects.filter(pk=demo_forest.pk).exists()


def test_an_exception_is_granted_capped_and_revoked_in_the_log(live_server, page, personas, demo_forest):
    finding = Finding.objects.filter(status="open").order_by("dn").first()
    log_in(page, live_server, "admin", "pw-admin")
    page.goto(f"{live_server.url}{finding.get_absolute_url()}")
    cell = page.locator(f"#actions-{finding.pk}")
    cell.get_by_role("button", name="Exception").click()
    page.fill(f"#actions-{finding.pk} input[name=justification]", "Kiosk account, retired in March")
    page.locator(f"#actions-{finding.pk} input[name=expires_on]").evaluate("el => el.removeAttribute('max')")
    page.fill(f"#actions-{finding.pk} input[name=expires_on]", "2099-01-01")
    page.locator(f"#actions-{finding.pk}").get_by_role("button", name="Save exception").click()
    page.wait_for_selector(f"#actions-{finding.pk} .error")
    assert "at most a year" in page.inner_text(f"#actions-{finding.pk}")
    # The typed justification is still there.
    assert page.input_value(f"#actions-{finding.pk} input[name=justification]") == "Kiosk account, retired in March"
    soon = (timezone.localdate() + timedelta(days=90)).isoformat()
    page.fill(f"#actions-{finding.pk} input[name=expires_on]", soon)
    page.locator(f"#actions-{finding.pk}").get_by_role("button", name="Save exception").click()
    page.wait_for_selector(f"#actions-{finding.pk} >> text=excepted until")
    finding.refresh_from_db()
    assert finding.status == "excepted"

    waiver = Waiver.objects.get(finding=finding)
    page.goto(f"{live_server.url}/t/acme/exceptions/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"#revoke-{waiver.pk}")
    page.wait_for_selector(".messages li")
    assert "revoked" in page.inner_text(".messages") and "revoked" in page.inner_text("table.waivers")
    finding.refresh_from_db()
    assert finding.status == "open"
    screenshot(page, "exceptions-revoked")
    page.goto(f"{live_server.url}/t/acme/changes/")
    log = page.inner_text("table.changes")
    assert "Exception granted" in log and "Exception revoked" in log
