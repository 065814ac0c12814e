"""In Chromium, the clicks a newcomer makes first on the demo data: findings list, object page, health."""

import pytest
from django.utils import timezone

from identityhub.health.models import ProvisioningError
from identityhub.paging import MAX_PAGE_SIZE
from identityhub.scans.models import Finding

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
    link = page.locator("table.findings tbody tr td.col-object a").first
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
    chip = page.locator(f'.rule-counts a.chip[title^="{rule} "]')  # the readable title shown, the code on hover
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


def _no_horizontal_scroll(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


def test_the_object_page_is_the_place_to_work_on_one_object(live_server, chromium, personas, demo_forest, tmp_path):
    # A second scan in which one value changed: the page shows what changed between the scans.
    from .journey_support import DEMO_EXPORT, load_export

    changed = tmp_path / "contoso-later.ldf"
    changed.write_bytes(
        DEMO_EXPORT.read_bytes().replace(b"displayName: IT Approvers\r\n", b"displayName: IT Approvals\r\n")
    )
    load_export(demo_forest, changed)
    group = Finding.objects.get(rule="mailnickname.length", dn__startswith="CN=IT Approvers,")
    duplicate = Finding.objects.filter(rule="duplicate.upn", status="open").order_by("dn").first()

    for width in (1440, 1024):
        context = chromium.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        log_in(page, live_server, "admin", "pw-admin")
        page.goto(f"{live_server.url}{group.get_absolute_url()}")
        _no_horizontal_scroll(page)  # the long mailNickname wraps
        findings = page.locator("#object-findings tbody tr")
        assert findings.count() == Finding.objects.filter(forest=group.forest, guid=group.guid).count()
        assert page.locator(f"#actions-{group.pk}").get_by_role("button", name="Fix").is_visible()
        assert (
            "mailNickname is longer" in findings.first.inner_text() or "mailNickname" in findings.all_inner_texts()[-1]
        )
        # Multi-valued attributes as lists; the primary SMTP address marked.
        members = page.locator("#object-attributes tr", has=page.locator("th", has_text="member")).locator("li")
        assert members.count() == 6
        primary = page.locator("#object-attributes tr", has=page.locator("th", has_text="proxyaddresses"))
        assert "SMTP:it-approvers@contoso.com" in primary.locator("li, span.mono").first.inner_text()
        assert primary.locator(".badge", has_text="primary").count() == 1
        # History across scans, with what changed.
        history = page.locator("#object-history tbody tr")
        assert history.count() == 2
        assert "IT Approvals" in history.first.locator("ins").inner_text()
        assert "IT Approvers" in history.first.locator("del").inner_text()
        screenshot(page, f"object-page-{width}")
        context.close()

    # A duplicate names the other holders, with links to them.
    page = chromium.new_context(viewport={"width": 1440, "height": 900}).new_page()
    log_in(page, live_server, "auditor", "pw-auditor")
    page.goto(f"{live_server.url}{duplicate.get_absolute_url()}")
    holders = page.locator(f"#finding-{duplicate.pk} [data-holders] a")
    assert holders.count() >= 1
    # The finding's detail says what Entra does with the duplicate value.
    assert "quarantine" in page.locator(f"#finding-{duplicate.pk}").inner_text()
    holders.first.click()
    page.wait_for_url("**/objects/**")
    assert duplicate.value.lower() in page.inner_text("#object-attributes").lower()
    assert page.url.rstrip("/").split("/")[-1] != str(duplicate.guid)
    page.context.close()


def test_the_findings_list_reads_like_an_admin_grid(live_server, chromium, personas, demo_forest):
    total = Finding.objects.filter(status="open").count()
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    log_in(page, live_server, "admin", "pw-admin")
    page.goto(f"{live_server.url}/t/acme/findings/")
    _no_horizontal_scroll(page)
    rows = page.locator("table.findings tbody tr")
    assert rows.count() == 50
    # Readable rule titles, the code on hover.
    first_rule = rows.first.get_attribute("data-rule")
    problem = rows.first.locator("td.col-rule span")
    assert first_rule in problem.get_attribute("title") and first_rule not in problem.inner_text()
    # "Last seen" in view and on one line; rows of sensible height.
    seen = rows.first.locator("td.col-seen time")
    box = seen.bounding_box()
    assert box["x"] + box["width"] <= 1440 and box["height"] < 30
    heights = rows.evaluate_all("rows => rows.map(r => r.getBoundingClientRect().height)")
    assert max(heights) < 220, max(heights)
    # The pager marks the current page and offers page sizes.
    assert page.locator(".pagination [aria-current=page]").inner_text() == "1"
    page.locator(".pagination a", has_text="2").first.click()
    page.wait_for_url("**page=2**")
    assert page.locator(".pagination [aria-current=page]").inner_text() == "2"
    page.locator(".page-size a", has_text="100").click()
    page.wait_for_url("**per_page=100**")
    assert page.locator("table.findings tbody tr").count() == min(100, total)
    assert page.locator(".page-size [aria-current]").inner_text() == "100"
    screenshot(page, "findings-grid-1440")

    # Select all ticks this page's rows; the bar counts them; Preview waits for a choice.
    preview = page.locator("[data-preview]")
    assert preview.is_disabled()
    page.locator("input[data-select-all]").check()
    assert page.locator("tbody input[name=select]:checked").count() == min(100, total)
    assert page.locator("[data-ticked-count]").inner_text() == str(min(100, total))
    assert preview.is_enabled()
    page.locator("input[data-select-all]").uncheck()
    assert page.locator("tbody input[name=select]:checked").count() == 0 and preview.is_disabled()
    # The bulk bar stays in view while the list scrolls.
    page.mouse.wheel(0, 3000)
    page.wait_for_timeout(300)
    assert -1 <= page.locator(".bulk-bar").bounding_box()["y"] <= 5
    # "All N matching" takes every row of the filter, not only this page.
    page.locator("input[name=scope][value=filter]").check()
    assert preview.is_enabled()
    page.select_option("select[name=action]", "accept")
    preview.click()
    page.wait_for_url("**/bulk/preview/")
    # Every matching finding is vetted and counted; the table lists at most one page of them.
    assert page.locator("table.preview tbody tr").count() == min(total, MAX_PAGE_SIZE)
    assert f"of {total} change" in page.inner_text("main")
    context.close()

    context = chromium.new_context(viewport={"width": 1024, "height": 900})
    page = context.new_page()
    log_in(page, live_server, "admin", "pw-admin")
    page.goto(f"{live_server.url}/t/acme/findings/")
    _no_horizontal_scroll(page)
    screenshot(page, "findings-grid-1024")
    context.close()


def test_the_bulk_run_page_shows_its_result_rows_as_they_come(live_server, page, personas, demo_forest):
    from identityhub.remediation import actions
    from identityhub.remediation.models import ApplyRun

    admin = personas["admin"]
    run = ApplyRun.objects.create(tenant=demo_forest.tenant, requested_by=admin, total=2, status="running")
    log_in(page, live_server, "admin", "pw-admin")
    page.goto(f"{live_server.url}{run.get_absolute_url()}")
    assert page.locator("#apply-results tbody tr").inner_text() == "No result yet."
    first, second = Finding.objects.filter(status="open").order_by("pk")[:2]
    change = actions.accept(first, admin, apply_run=run)
    page.wait_for_selector(f"#change-{change.pk}", timeout=10_000)  # no reload
    change = actions.accept(second, admin, apply_run=run)
    ApplyRun.objects.filter(pk=run.pk).update(status="completed", done=2, finished=timezone.now())
    page.wait_for_selector(f"#change-{change.pk}", timeout=10_000)
    page.wait_for_function("() => !document.querySelector('#apply-progress').getAttribute('hx-trigger')")
    assert page.locator("#apply-results tbody tr").count() == 2
    assert page.locator(".tenant-nav [aria-current=page]").inner_text() == "Bulk runs"
    screenshot(page, "apply-run")
