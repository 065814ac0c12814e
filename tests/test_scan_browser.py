"""In Chromium: an admin scans the real CORP DC with "Scan now", watches a scan's progress poll until
it ends, narrows the findings with the filter form (htmx, the filter kept in the URL) and opens an
object; screenshots for the eye."""

import re

import pytest

from identityhub.scans import pipeline
from identityhub.scans.models import Finding, ScanRun
from identityhub.scans.sources import entries_for
from identityhub.tenants.models import Forest

from .browser import log_in, screenshot

pytestmark = [pytest.mark.samba, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def corp_row(tenant, lab):
    return Forest.objects.create(
        tenant=tenant, name=lab.realm.lower(), servers=lab.host, port=636, ca_certificate=lab.ca_cert.read_text(),
        base_dns=lab.base_dn, include_ous=lab.lab_ou, bind_user=lab.bind_user, bind_password=lab.password,
    )  # fmt: skip


def test_scan_now_progress_findings_filter_and_object_page(live_server, page, personas, tenant, corp_forest):
    forest = corp_row(tenant, corp_forest)
    log_in(page, live_server, "admin", "pw-admin")

    # "Scan now" on the tenant page: the scan runs (eagerly here) and its page shows the outcome.
    page.goto(f"{live_server.url}/t/acme/")
    page.get_by_role("button", name="Scan now").click()
    page.wait_for_selector("#scan-progress .status-completed")
    first = ScanRun.objects.get(forest=forest)
    assert first.status == "completed" and first.findings_count > 0
    assert page.locator("#scan-progress").get_attribute("hx-trigger") is None
    screenshot(page, "scan-completed")

    # A queued scan's page polls; the worker (this thread) runs it; the page follows, then stops polling.
    queued = ScanRun.objects.create(tenant=tenant, forest=forest)
    page.goto(f"{live_server.url}{queued.get_absolute_url()}")
    assert page.locator("#scan-progress").get_attribute("hx-trigger") == "every 2s"
    assert pipeline.execute(queued.pk, entries_for).status == "completed"
    page.wait_for_selector("#scan-progress .status-completed", timeout=10_000)
    assert page.locator("#scan-progress").get_attribute("hx-trigger") is None

    # The findings list, narrowed by rule through the form: htmx swaps the table and keeps the URL.
    page.goto(f"{live_server.url}/t/acme/findings/")
    rule = Finding.objects.filter(tenant=tenant, status="open").values_list("rule", flat=True).first()
    expected = Finding.objects.filter(tenant=tenant, status="open", rule=rule).count()
    page.select_option("#id_rule", rule)
    page.wait_for_url(re.compile(rf"rule={re.escape(rule)}"))
    page.wait_for_function(
        "n => document.querySelectorAll('#findings tbody tr').length === n", arg=min(expected, 50), timeout=10_000
    )
    screenshot(page, "findings-filtered")
    page.reload()  # the filter lives in the URL: a reload (or a shared link) shows the same list
    assert page.locator("#id_rule").input_value() == rule

    # The object page: its attributes, its findings, its scan history.
    page.locator("#findings tbody tr td.col-object a").first.click()
    page.wait_for_selector("h2:has-text('Scan history')")
    body = page.inner_text("main")
    assert rule in body and "Attributes read" in body
    screenshot(page, "object-page")
