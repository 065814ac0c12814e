"""The merged demo of `make run` as a new admin and an auditor meet it, at 1440 and 1024 px wide: the pages of
issues 11-17 side by side keep readable columns, their labels and their wording (issue 13's visual QA)."""

import re

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from identityhub.demo import story
from identityhub.scans.models import Finding
from identityhub.tenants.models import Forest, Membership, Role

from .browser import log_in, screenshot

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "demo-admin-pw"


@pytest.fixture
def demo(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setenv("ADMIN_PASSWORD", PASSWORD)
    call_command("bootstrap_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    tenant, _ = story.tenant()
    auditor = User.objects.create_user("auditor", password=PASSWORD)
    Membership.objects.create(user=auditor, tenant=tenant, role=Role.AUDITOR)
    return tenant


def _words_on_one_line(page, selector):
    """Texts of these elements that a narrow column broke inside a word (more than one line box)."""
    return page.locator(selector).evaluate_all(
        """els => els.filter(el => el.innerText.trim() && !/\\s/.test(el.innerText.trim())).filter(el => {
             const range = document.createRange(); range.selectNodeContents(el);
             const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
             return lines.size > 1; }).map(el => el.innerText.trim())"""
    )


@pytest.mark.browser
@pytest.mark.parametrize("width", [1440, 1024])
def test_the_merged_pages_keep_readable_columns(live_server, chromium, demo, width):
    context = chromium.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    # No page of the walk logs an error: a CSP refusal, a script error, a missing file (the favicon was one).
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        log_in(page, live_server, "admin", PASSWORD)
        base = f"{live_server.url}/t/{demo.slug}"

        # Tenant page with a forest behind a DC beside the export-only demo forest: the table stays in its card,
        # every cell a table cell (a flex cell leaves the row's borders out of line); same on the portfolio.
        Forest.objects.create(
            tenant=demo, name="corp.contoso.example", servers="dc1.corp.contoso.example\ndc2.corp.contoso.example",
            port=636, base_dns="DC=corp,DC=contoso,DC=example", bind_user="svc@corp.contoso.example",
            bind_password="S3cret-bind-pw!", scan_schedule="daily",
        )  # fmt: skip
        page.goto(f"{base}/")
        assert (
            page.evaluate(
                "(() => { const c = document.querySelector('#forests'); return c.scrollWidth - c.clientWidth; })()"
            )
            <= 0
        )
        cells = "els => [...new Set(els.map(td => getComputedStyle(td).display))]"
        assert page.locator("#forests tbody td").evaluate_all(cells) == ["table-cell"]
        screenshot(page, f"qa-tenant-{width}")
        page.goto(f"{live_server.url}/rollout/")
        assert page.locator("table tbody td").evaluate_all(cells) == ["table-cell"]
        screenshot(page, f"qa-portfolio-{width}")

        # Object page of a duplicate: the value and who else holds it keep a readable width beside the actions.
        duplicate = Finding.objects.filter(tenant=demo, rule__startswith="duplicate.", status="open").first()
        page.goto(f"{live_server.url}{duplicate.get_absolute_url()}")
        value_width = page.locator("table.object-findings th.col-value").bounding_box()["width"]
        assert value_width >= 170, value_width
        assert _words_on_one_line(page, "table.object-findings .badge, table.object-findings td.col-attribute") == []
        screenshot(page, f"qa-object-duplicate-{width}")

        # Change log: eleven columns fit the page; a user name, an attribute, a button never break mid-word.
        page.goto(f"{base}/changes/")
        overflow = page.evaluate(
            "(() => { const s = document.querySelector('#changes'); return s.scrollWidth - s.clientWidth; })()"
        )
        assert overflow <= 0, overflow
        broken = _words_on_one_line(
            page, "table.changes tbody td:nth-child(2), table.changes tbody td:nth-child(5), table.changes tbody button"
        )
        assert broken == [], broken
        screenshot(page, f"qa-change-log-{width}")

        # Exceptions: the state filter has its label; the finding reads as on the findings list, code on hover.
        page.goto(f"{base}/exceptions/")
        assert page.locator("label[for=id_state]").inner_text() == "State"
        finding = page.locator("table.waivers tbody tr td:first-child span[title]").first
        assert finding.get_attribute("title") == "samaccountname.character"
        assert finding.inner_text() == "sAMAccountName contains a character that is not allowed"
        assert _words_on_one_line(page, "table.waivers tbody button, table.waivers tbody td:nth-child(6)") == []
        screenshot(page, f"qa-exceptions-{width}")

        # Health: the directory card's tables stay inside the card; closing the loop names the problems.
        page.goto(f"{base}/health/")
        sticking_out = page.evaluate(
            """[...document.querySelectorAll('.health-grid > .card')].map(card => {
                 const right = card.getBoundingClientRect().right;
                 const rights = [...card.querySelectorAll('table')].map(t => t.getBoundingClientRect().right);
                 return Math.max(0, ...rights.map(r => r - right));
               })"""
        )
        assert max(sticking_out) <= 0, sticking_out
        problems = page.locator("#closing-the-loop tbody td:first-child span[title]").all_inner_texts()
        assert problems and not any(re.fullmatch(r"[a-z.]+", p) for p in problems), problems
        screenshot(page, f"qa-health-{width}")
        assert errors == []
    finally:
        context.close()


@pytest.mark.browser
def test_a_bulk_apply_on_the_export_only_demo_forest_says_and_counts_planned_changes(live_server, page, demo):
    """Bulk apply (issue 11) on a forest without a DC (issue 13's planned changes): the preview says nothing is
    written, the run counts its planned changes, and a planned result has one colour on every page."""
    log_in(page, live_server, "admin", PASSWORD)
    base = f"{live_server.url}/t/{demo.slug}"
    page.goto(f"{base}/findings/?rule=mailnickname.period")
    page.check("table.findings thead input[type=checkbox]")
    ticked = int(page.inner_text("[data-ticked-count]"))
    assert ticked > 0
    page.click(".bulk-bar button:has-text('Preview')")
    page.wait_for_url("**/bulk/preview/")
    assert "planned" in page.inner_text("#planned-note") and demo.forests.get().name in page.inner_text("#planned-note")
    screenshot(page, "qa-bulk-preview-planned")
    page.click("form.actions button[type=submit]")
    page.wait_for_url("**/apply/*/")
    page.wait_for_selector("#apply-results .badge.result-planned")
    assert f"planned (LDIF) {ticked}" in page.inner_text("#apply-progress")
    colour = page.locator("#apply-results .badge.result-planned").first.evaluate("b => getComputedStyle(b).color")
    screenshot(page, "qa-bulk-run-planned")
    page.goto(f"{base}/apply/")
    row = page.locator("main table tbody tr").first.locator("td").all_inner_texts()
    headers = page.locator("main table thead th").all_inner_texts()
    assert row[[h.lower() for h in headers].index("planned")] == str(ticked)
    page.goto(f"{base}/changes/?result=planned")
    assert (
        page.locator("table.changes tbody .badge", has_text="Planned (LDIF)").first.evaluate(
            "b => getComputedStyle(b).color"
        )
        == colour
        != page.locator("table.changes thead th").first.evaluate("th => getComputedStyle(th).color")
    )


def test_the_forest_form_keeps_the_schedule_fields_together(client, demo):
    client.force_login(User.objects.get(username="admin"))
    forest = demo.forests.get()
    body = client.get(f"/t/{demo.slug}/forests/{forest.pk}/").content.decode()
    order = [
        body.index(f'id="id_{name}"') for name in ("export_only", "scan_schedule", "full_scan_time", "delta_minutes")
    ]
    assert order == sorted(order)


def test_make_run_broker_files_stay_under_var(monkeypatch):
    """Without Redis, kombu's filesystem transport keeps every folder, its control files too, under var/."""
    import runpy
    from pathlib import Path

    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setenv("DEBUG", "true")
    settings = runpy.run_path(str(Path(__file__).resolve().parent.parent / "identityhub" / "settings.py"))
    options = settings["CELERY_BROKER_TRANSPORT_OPTIONS"]
    assert {"data_folder_in", "data_folder_out", "processed_folder", "control_folder"} <= options.keys()
    for name, folder in options.items():
        if name.endswith("_folder"):
            assert Path(folder).is_relative_to(settings["VAR_DIR"]), (name, folder)


def test_the_rollout_page_names_problems_and_why_no_round_trip(client, demo):
    """The rollout page's rules read like the findings list (title, code on hover); the round trip of an
    exports-only tenant says it needs a forest with a reachable DC, not "Add a forest first"."""
    client.force_login(User.objects.get(username="admin"))
    body = client.get(f"/t/{demo.slug}/rollout/").content.decode()
    rules_table = body[body.index('id="score-rules"') :]
    rules_table = rules_table[: rules_table.index("</table>")]
    assert 'title="upn.topleveldomain">The UPN is in a non-routable domain</a>' in rules_table
    assert ">upn.topleveldomain<" not in rules_table
    assert "Add a forest first" not in body and "needs a forest with a reachable DC" in body
