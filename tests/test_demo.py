"""The demo of `make run` tells one story: weeks of scans with a falling burn-down, sync health
(labelled demo) that the rollout criteria read, a change log, exceptions. Its seeding lives in
its own app; the base app imports no app above it."""

import re
from datetime import timedelta
from importlib import import_module
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


def _demo_task_every(settings) -> tuple[str, float]:
    """The beat entry that keeps the demo's health current: (task name, seconds between runs)."""
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"].startswith("identityhub.demo."))
    return entry["task"], float(entry["schedule"])


def test_the_demos_health_stays_current_as_time_passes(client, demo, settings):
    """Opened hours after bootstrap_demo, the demo still tells its story: the stored times are moved
    back three hours (time passing, without a clock library), then the demo's beat task runs."""
    from celery import current_app
    from django.db.models import F

    from identityhub.health.models import ProvisioningError
    from identityhub.rollout import progress

    tenant = SyncSnapshot.objects.filter(is_demo=True).first().tenant
    timed = ("sync-fresh", "password-sync", "no-old-errors", "sync-enabled", "first-sync")
    told = dict(CriterionState.objects.filter(tenant=tenant, code__in=timed).values_list("code", "state"))
    assert told["sync-fresh"] == "met"
    later = timedelta(hours=3)
    SyncSnapshot.objects.filter(tenant=tenant).update(
        taken=F("taken") - later, last_sync=F("last_sync") - later, last_password_sync=F("last_password_sync") - later
    )
    ProvisioningError.objects.filter(snapshot__tenant=tenant).update(occurred=F("occurred") - later)
    progress.recompute(tenant)
    assert CriterionState.objects.get(tenant=tenant, code="sync-fresh").state == "not_met"  # the fault, aged

    task, every = _demo_task_every(settings)
    import_module(task.rsplit(".", 1)[0])  # what the worker's autodiscovery does
    current_app.tasks[task].apply()
    checkpoint = Checkpoint.objects.get(tenant=tenant)
    # Between two runs of the task the last sync never ages past the cycle threshold.
    newest = SyncSnapshot.objects.filter(tenant=tenant).first()
    from django.utils import timezone

    age = timezone.now() - newest.last_sync
    assert age + timedelta(seconds=every) < timedelta(minutes=checkpoint.sync_cycle_minutes)
    # The same story as when it was told (its one lingering error stays lingering, no older).
    assert dict(CriterionState.objects.filter(tenant=tenant, code__in=timed).values_list("code", "state")) == told
    assert checkpoint.health_colour != "red"
    # The story's history is the same: as many snapshots, the same errors, only moved to now.
    assert SyncSnapshot.objects.filter(tenant=tenant).count() == 12
    client.force_login(demo)
    health = client.get("/t/contoso-demo/health/").content.decode()
    tile = re.search(r'id="tile-last-sync".*?</div>', health, re.S).group(0)
    assert 'data-colour="green"' in tile and re.search(r">\d+ min ago<", tile)
    rollout = client.get("/t/contoso-demo/rollout/").content.decode()
    assert re.search(r'id="crit-sync-fresh" data-state="met"', rollout)


def test_bootstrap_demo_again_brings_an_aged_demo_to_now(demo):
    tenant = SyncSnapshot.objects.filter(is_demo=True).first().tenant
    from django.db.models import F

    ago = timedelta(days=2)
    SyncSnapshot.objects.filter(tenant=tenant).update(taken=F("taken") - ago, last_sync=F("last_sync") - ago)
    call_command("bootstrap_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert CriterionState.objects.get(tenant=tenant, code="sync-fresh").state == "met"
