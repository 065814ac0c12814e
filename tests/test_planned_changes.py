"""A forest without a reachable DC (the demo's export forest): Fix, Remove and bulk there create
planned changes, vetted like live ones, exported as one LDIF that `ldapmodify -n` parses (and a
CSV); the next uploaded export verifies them: applied, not applied, changed since."""

import csv
import io
import shutil
import subprocess

import pytest

from identityhub.remediation import actions, bulk
from identityhub.remediation.models import Change
from identityhub.scans.models import Finding

from .browser import log_in, screenshot
from .journey_support import DEMO_EXPORT, load_export
from .services import require

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def export_forest(demo_forest):
    demo_forest.export_only = True
    demo_forest.save()
    return demo_forest


def _fixable(forest, count, exclude=()):
    """Open findings whose suggestion passes vetting and whose value is one plain line of the export."""
    text = DEMO_EXPORT.read_bytes()
    found = []
    for finding in Finding.objects.filter(forest=forest, status="open").exclude(suggestion=None).order_by("dn"):
        line = f"{finding.attribute}: {finding.value}\r\n".encode()
        if finding.pk in exclude or not finding.suggestion or text.count(line) != 1:
            continue
        if actions.vet_value(finding, finding.suggestion):
            continue
        found.append(finding)
        if len(found) == count:
            break
    assert len(found) == count
    return found


@pytest.mark.browser
def test_a_fix_in_the_browser_becomes_a_planned_change(live_server, page, personas, export_forest):
    finding = _fixable(export_forest, 1)[0]
    log_in(page, live_server, "admin", "pw-admin")
    page.goto(f"{live_server.url}/t/acme/")
    assert "exports only" in page.inner_text(f"#export-only-{export_forest.pk}")
    assert page.get_by_role("button", name="Scan now").count() == 0
    page.goto(f"{live_server.url}{finding.get_absolute_url()}")
    page.locator(f"#actions-{finding.pk}").get_by_role("button", name="Fix").click()
    assert page.input_value(f"#value-{finding.pk}") == finding.suggestion
    page.locator(f"#actions-{finding.pk}").get_by_role("button", name="Apply").click()
    page.wait_for_selector(f"#actions-{finding.pk} >> text=planned")
    change = Change.objects.get(finding=finding)
    assert change.result == "planned" and change.new_values == [finding.suggestion] and change.error == ""
    page.goto(f"{live_server.url}/t/acme/changes/")
    assert "1 planned change to import" in page.inner_text("#planned-changes")
    screenshot(page, "planned-changes")


def test_planned_changes_export_as_ldif_and_the_next_export_verifies_them(client, personas, export_forest, tmp_path):
    require(shutil.which("ldapmodify") is not None, "ldap-utils (ldapmodify) is not installed")
    admin = personas["admin"]
    applied, ignored, moved = _fixable(export_forest, 3)
    for finding in (applied, ignored, moved):
        change = actions.request_change(finding, Change.Action.EDIT, admin, finding.suggestion)
        assert change.result == "planned"
    # A refused value is refused exactly as on a forest with a DC: nothing planned.
    with pytest.raises(actions.ActionRefused):
        actions.request_change(applied, Change.Action.EDIT, admin, "")
    # Bulk: planned too.
    more = _fixable(export_forest, 2, exclude={applied.pk, ignored.pk, moved.pk})
    run = bulk.start(export_forest.tenant, admin, "suggestion", [f.pk for f in more])
    run = bulk.run_bulk(run.pk) or run
    assert set(Change.objects.filter(apply_run=run).values_list("result", flat=True)) == {"planned"}
    assert Finding.objects.filter(pk__in=[f.pk for f in more], status="open").count() == 2  # until verified

    client.force_login(personas["auditor"])
    response = client.get("/t/acme/changes/planned.ldf")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    ldif = response.content
    path = tmp_path / "planned.ldf"
    path.write_bytes(ldif)
    parsed = subprocess.run(
        ["ldapmodify", "-n", "-f", str(path), "-H", "ldap://127.0.0.1:9"], capture_output=True, text=True, timeout=30
    )
    assert parsed.returncode == 0, parsed.stderr
    assert parsed.stdout.count("modifying entry") == 5
    rows = list(csv.reader(io.StringIO(client.get("/t/acme/changes/planned.csv").content.decode())))
    assert rows[0][0] == "DN" and len(rows) == 6

    # The admin imported two of them; someone else changed the third; one was not imported.
    text = DEMO_EXPORT.read_bytes()
    for finding, value in ((applied, applied.suggestion), (moved, "someone-else@contoso.com")):
        old = f"{finding.attribute}: {finding.value}\r\n".encode()
        text = text.replace(old, f"{finding.attribute}: {value}\r\n".encode())
    later = tmp_path / "contoso-after-import.ldf"
    later.write_bytes(text)
    load_export(export_forest, later)
    results = {f.pk: Change.objects.get(finding=f).result for f in (applied, ignored, moved)}
    assert results == {applied.pk: "applied", ignored.pk: "not_applied", moved.pk: "conflict"}
    assert "holds another value" in Change.objects.get(finding=moved).error
    applied.refresh_from_db()
    assert applied.status == "resolved"
    # Every planned change of the forest was verified; the bulk ones were not imported.
    assert not Change.objects.filter(result="planned").exists()
    assert set(Change.objects.filter(apply_run=run).values_list("result", flat=True)) == {"not_applied"}


def test_scan_now_is_refused_on_a_forest_without_a_dc(client, personas, export_forest):
    client.force_login(personas["admin"])
    response = client.post(f"/t/acme/forests/{export_forest.pk}/scan/", follow=True)
    assert "has no DC IdentityHub can reach" in response.content.decode()
