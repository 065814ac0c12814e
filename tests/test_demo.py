"""The demo of `make run` tells one story: weeks of scans with a falling burn-down, sync health
(labelled demo) that the rollout criteria read, a change log, exceptions. Its seeding lives in
its own app; the base app imports no app above it."""

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from identityhub.health.models import SyncSnapshot
from identityhub.remediation.models import Change, Waiver
from identityhub.rollout import score
from identityhub.rollout.models import Checkpoint, CriterionState
from identityhub.scans.models import Finding, ScanRun

from .browser import log_in, screenshot

pytestmark = pytest.mark.django_db(transaction=True)
APPS = Path(__file__).resolve().parent.parent / "identityhub"


@pytest.fixture
def demo(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setenv("ADMIN_PASSWORD", "demo-admin-pw")
    call_command("bootstrap_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    return User.objects.get(username="admin")


def test_the_demo_tells_one_story(demo):
    scans = list(ScanRun.objects.filter(tenant__slug="contoso-demo", status="completed").order_by("finished"))
    assert len(scans) >= 5 and (scans[-1].finished - scans[0].finished).days >= 21
    tenant = scans[0].tenant
    burn = score.burn_down(tenant)
    total = [sum(burn[s][i] for s in ("blocking", "degrading", "hygiene")) for i in range(len(burn["labels"]))]
    weekly = total[: len(scans)]
    assert weekly[0] > weekly[-1] and all(a >= b for a, b in zip(weekly, weekly[1:], strict=False))
    assert burn["blocking"][0] > burn["blocking"][len(scans) - 1]
    # Health the criteria read: the same demo snapshots the health page shows.
    checkpoint = Checkpoint.objects.get(tenant=tenant)
    assert checkpoint.last_sync is not None and checkpoint.health_colour
    assert SyncSnapshot.objects.filter(tenant=tenant, is_demo=True).exists()
    assert CriterionState.objects.get(tenant=tenant, code="sync-enabled").state == "met"
    # A change log with applied and undone changes; exceptions and accepted findings.
    results = set(Change.objects.filter(tenant=tenant).values_list("result", flat=True))
    assert {"applied", "reverted", "planned"} <= results
    assert Change.objects.filter(tenant=tenant, action="undo", result="applied").exists()
    assert Waiver.objects.filter(tenant=tenant).exists()
    assert Finding.objects.filter(tenant=tenant, status="accepted").exists()
    # Once: a second run adds nothing.
    call_command("bootstrap_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert ScanRun.objects.filter(tenant=tenant).count() == len(scans)


def test_pages_agree_on_the_demos_sync_and_label_it(client, demo):
    client.force_login(demo)
    portfolio = client.get("/rollout/").content.decode()
    row = re.search(r'id="tenant-contoso-demo".*?</tr>', portfolio, re.S).group(0)
    assert "never" not in row and re.search(r"\d+ min ago", row) and ">demo<" in row
    rollout = client.get("/t/contoso-demo/rollout/").content.decode()
    assert 'id="demo-label"' in rollout and "No sync seen yet" not in rollout
    assert "Demo data." in client.get("/t/contoso-demo/health/").content.decode()


def test_the_base_app_imports_no_app_above_it():
    # At module level (the tenant page's view asks scans for its tiles inside the function).
    upward = re.compile(r"^(from|import) identityhub\.(scans|remediation|health|rollout|reports|demo)\b", re.M)
    assert not (APPS / "tenants" / "management").exists()  # the demo's seeding moved to identityhub/demo
    for path in (APPS / "tenants").rglob("*.py"):
        assert not upward.search(path.read_text()), path
    for path in APPS.rglob("*.py"):
        if "demo" not in path.relative_to(APPS).parts:
            assert "identityhub.demo" not in path.read_text() or path.name == "settings.py", path


@pytest.mark.browser
def test_a_newcomer_sees_the_month_of_rollout(live_server, page, demo):
    log_in(page, live_server, "admin", "demo-admin-pw")
    page.goto(f"{live_server.url}/rollout/")
    assert "never" not in page.inner_text("#tenant-contoso-demo")
    page.click("#tenant-contoso-demo a")
    page.wait_for_selector("#demo-label")
    page.wait_for_function("() => window.Chart && Chart.getChart('burn-down-chart')")
    points = page.evaluate("() => Chart.getChart('burn-down-chart').data.datasets.map(d => d.data)")
    totals = [sum(values) for values in zip(*points, strict=True)]
    assert len(totals) >= 5 and totals[0] > totals[-2]
    assert page.get_attribute("#crit-sync-enabled", "data-state") == "met"
    screenshot(page, "demo-rollout")
