"""One definition of "open" (Finding.objects.open(): unresolved, neither accepted nor excepted):
the same data gives the same counts on every page, the API and the evidence pack."""

import csv
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from identityhub.remediation import actions
from identityhub.reports import evidence
from identityhub.rollout import score
from identityhub.scans.models import Finding, Severity

pytestmark = pytest.mark.django_db(transaction=True)


def _number(html: str, pattern: str) -> int:
    found = re.search(pattern, html, re.S)
    assert found, pattern
    return int(found.group(1))


@pytest.fixture
def decided(demo_forest, personas):
    """Some blocking and degrading findings accepted, some excepted: no longer open."""
    admin = personas["admin"]
    blocking = list(Finding.objects.filter(severity="blocking").order_by("pk"))
    degrading = list(Finding.objects.filter(severity="degrading").order_by("pk"))
    for finding in blocking[:3] + degrading[:2]:
        actions.accept(finding, admin)
    for finding in blocking[3:5] + degrading[2:3]:
        actions.waive(finding, admin, "Migrated next quarter", timezone.localdate() + timedelta(days=30))
    return demo_forest


def test_every_page_counts_the_same_open_findings(client, personas, decided, tmp_path):
    expected = {
        sev: Finding.objects.filter(severity=sev, status="open").count() for sev in ("blocking", "degrading", "hygiene")
    }
    assert Finding.objects.filter(status__in=("accepted", "excepted")).count() == 8
    total = sum(expected.values())
    client.force_login(personas["lead"])

    tenant_page = client.get("/t/acme/").content.decode()
    for sev, n in expected.items():
        assert _number(tenant_page, rf'id="tile-{sev}".*?<span class="n">(\d+)</span>') == n, sev

    findings_page = client.get("/t/acme/findings/").content.decode()
    assert _number(findings_page, r'id="finding-count">(\d+) finding') == total
    blocking_page = client.get("/t/acme/findings/?severity=blocking").content.decode()
    assert _number(blocking_page, r'id="finding-count">(\d+) finding') == expected["blocking"]
    # Accepted and excepted findings have their own filters.
    accepted = client.get("/t/acme/findings/?status=accepted").content.decode()
    assert _number(accepted, r'id="finding-count">(\d+) finding') == 5
    excepted = client.get("/t/acme/findings/?status=excepted").content.decode()
    assert _number(excepted, r'id="finding-count">(\d+) finding') == 3

    rollout = client.get("/t/acme/rollout/").content.decode()
    assert _number(rollout, r'id="tile-open-blocking".*?<span class="n">(\d+)</span>') == expected["blocking"]
    assert re.search(rf'id="crit-no-blocking".*?{expected["blocking"]} open blocking finding', rollout, re.S)
    tile_score = _number(rollout, r'id="tile-score".*?<span class="n">(\d+)</span>')
    by_forest = r'id="score-forests".*?<tbody><tr><td>[^<]*</td><td>\d+</td><td>(\d+)</td>.*?>(\d+)</span>'
    forest_row = re.search(by_forest, rollout, re.S)
    assert int(forest_row.group(1)) == expected["blocking"] and int(forest_row.group(2)) == tile_score
    assert score.burn_down(decided.tenant)["blocking"][-1] == expected["blocking"]

    portfolio = client.get("/rollout/").content.decode()
    row = re.search(r'id="tenant-acme".*?</tr>', portfolio, re.S).group(0)
    assert _number(row, r'class="open-blocking">.*?>(\d+)<') == expected["blocking"]
    assert _number(row, r'class="col-score">.*?>(\d+)<') == tile_score

    api = client.get("/api/tenants/acme/findings/").json()
    assert api["count"] == total
    assert client.get("/api/tenants/acme/findings/?severity=blocking").json()["count"] == expected["blocking"]
    assert client.get("/api/tenants/acme/rollout/").json()["score"] == tile_score

    pack = evidence.build(decided.tenant, personas["lead"], tmp_path)
    with open(pack.files["findings-open.csv"], encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == total and {r["status"] for r in rows} == {"open"}
    assert pack.context["open_total"] == total and pack.context["score"] == tile_score


def test_the_scan_page_splits_open_findings_as_the_tenant_tiles_do(client, personas, decided):
    """The demo's health pull raised cloud collisions after the scan: findings from Graph's data, not
    the scan's rules. The scan page's "open now" split counts them as the tiles do."""
    assert Finding.objects.filter(forest=decided, rule="cloud.collision", status="open").exists()
    client.force_login(personas["lead"])
    tenant_page = client.get("/t/acme/").content.decode()
    scan = decided.scans.get(is_current=True)
    scan_page = client.get(scan.get_absolute_url()).content.decode()
    total = 0
    for sev in ("blocking", "degrading", "hygiene"):
        tile = _number(tenant_page, rf'id="tile-{sev}".*?<span class="n">(\d+)</span>')
        assert _number(scan_page, rf'id="open-now-{sev}"[^>]*>\D*(\d+)<') == tile, sev
        total += tile
    assert _number(scan_page, r'id="open-now"[^>]*>(\d+)<') == total
    # And the page says what each figure counts.
    assert "including cloud collisions" in scan_page and "when this scan completed" in scan_page


def test_the_scan_page_lists_both_severity_rows_most_severe_first(client, personas, decided):
    """The rows "when it completed" and "open now" list the same severities in the same order, Severity's
    (blocking, degrading, hygiene), zeros included: not the order the JSON field stored the counts in."""
    client.force_login(personas["lead"])
    scan = decided.scans.get(is_current=True)
    scan.severity_counts = {"hygiene": 4, "blocking": 2}  # no degrading finding when it completed
    scan.save(update_fields=["severity_counts"])
    scan_page = client.get(scan.get_absolute_url()).content.decode()

    def row(after: str) -> list[str]:
        dd = re.search(rf"<dt>{after}</dt><dd>(.*?)</dd>", scan_page, re.S).group(1)
        return re.findall(r'class="badge (\w+)"', dd)

    assert row("Findings when it completed") == row("Open now") == list(Severity.values)
    assert list(Severity.values) == ["blocking", "degrading", "hygiene"]
    assert _number(scan_page, r'id="completed-degrading"[^>]*>\D*(\d+)<') == 0
    assert _number(scan_page, r'id="completed-hygiene"[^>]*>\D*(\d+)<') == 4
