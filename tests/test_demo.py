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


# What is not the story's to move: the forest row's own bookkeeping, and the times a recompute
# stamps on every criterion (it runs at each keep_current).
NOT_STORY = {
    ("tenants.Forest", "created"),
    ("tenants.Forest", "updated"),
    ("rollout.CriterionState", "computed_at"),
    ("rollout.Checkpoint", "computed_at"),
}


def _has_tenant(model) -> bool:
    return any(f.name == "tenant" for f in model._meta.fields)


def _dated_models():
    """(model, lookup to its tenant, its date and time fields) of every model with dates whose rows
    belong to a tenant, found from the models (so a date the story adds later is covered too). The
    tenant's own row is left out: its creation time is part of the kept counts' cache key, and time
    passing does not change it."""
    from django.apps import apps
    from django.db.models import DateField

    for model in apps.get_models():
        if not model.__module__.startswith("identityhub.") or model._meta.model_name == "tenant":
            continue
        fields = [f.name for f in model._meta.fields if isinstance(f, DateField)]  # DateTimeField too
        path = "tenant" if _has_tenant(model) else None
        for field in model._meta.fields:
            if path is None and field.is_relation and _has_tenant(field.related_model):
                path = f"{field.name}__tenant"
        if fields and path:
            yield model, path, fields


def _dated(tenant) -> dict:
    """Every date and time the tenant's rows hold, by (model, field, pk)."""
    out = {}
    for model, path, fields in _dated_models():
        for row in model.objects.filter(**{path: tenant}).values("pk", *fields):
            pk = row.pop("pk")
            out.update({(model._meta.label, name, pk): value for name, value in row.items() if value is not None})
    return out


def _age(tenant, by: timedelta) -> None:
    """Time passing, without a clock library: every date of the tenant's rows moved back."""
    from django.db.models import F

    for model, path, fields in _dated_models():
        model.objects.filter(**{path: tenant}).update(**{name: F(name) - by for name in fields})


def _another_tenants_history(user):
    """A tenant besides the demo with a scanned forest, a finding under an exception, a change, a
    sign-off, a timeline and even snapshots labelled demo, all dated more than a week ago."""
    import uuid

    from django.utils import timezone

    from identityhub.health.models import ProvisioningError
    from identityhub.rollout.models import RolloutEvent, SignOff
    from identityhub.tenants.models import Forest, Tenant

    other = Tenant.objects.create(name="Globex", slug="globex")
    forest = Forest.objects.create(
        tenant=other, name="corp.globex.example", servers="dc1.globex.example", base_dns="DC=globex,DC=example"
    )
    now = timezone.now()
    scan = ScanRun.objects.create(
        tenant=other, forest=forest, status="completed", is_current=True, started=now, finished=now, refreshed=now
    )
    finding = Finding.objects.create(
        tenant=other, forest=forest, key="k1", guid=uuid.uuid4(), dn="CN=Ann,DC=globex,DC=example",
        object_class="user", ou="DC=globex,DC=example", rule="upn.routable", severity="degrading", error="",
        attribute="userPrincipalName", value="ann@globex.local", status="excepted", first_seen=now, last_seen=now,
        first_scan=scan, last_scan=scan, resolved_at=now,
    )  # fmt: skip
    Waiver.objects.create(
        tenant=other, finding=finding, justification="Renamed next month.", expires_on=now.date() + timedelta(days=30),
        created_by=user,
    )  # fmt: skip
    Change.objects.create(
        tenant=other, forest=forest, finding=finding, guid=finding.guid, dn=finding.dn, attribute=finding.attribute,
        old_values=[finding.value], new_values=["ann@globex.com"], action="edit", requested_by=user,
        result="applied", applied_at=now,
    )  # fmt: skip
    SignOff.objects.create(tenant=other, code="forests-scanned", user=user, comment="Checked.")
    RolloutEvent.objects.create(tenant=other, kind="scan", text="Scan of Globex.", at=now)
    snapshot = SyncSnapshot.objects.create(
        tenant=other, is_demo=True, sync_enabled=True, taken=now, last_sync=now, last_password_sync=now
    )
    ProvisioningError.objects.create(
        snapshot=snapshot, object_id="o1", object_type="user", occurred=now, last_occurred=now
    )
    _age(other, timedelta(days=8))
    return other


def test_the_demos_story_stays_current_as_time_passes(client, demo, settings, shared_cache):
    """A week after bootstrap_demo (every date of the demo moved back a week, as time passing would
    leave them), the demo's beat task runs: the whole story, not only its health, is dated from now
    again, every date by the same amount, so the latest scan is recent and the month stays a month."""
    from celery import current_app
    from django.utils import formats, timezone

    from identityhub.rollout import criteria
    from identityhub.rollout.models import SignOff

    tenant = Checkpoint.objects.get(tenant__slug="contoso-demo").tenant
    other = _another_tenants_history(demo)
    told, others = _dated(tenant), _dated(other)
    assert {model for model, _name, _pk in told} >= {
        "scans.ScanRun", "scans.Finding", "remediation.Change", "remediation.Waiver", "rollout.RolloutEvent",
        "rollout.ScanFigures", "health.SyncSnapshot",
    }  # fmt: skip
    assert CriterionState.objects.get(tenant=tenant, code="forests-scanned").state == "met"

    _age(tenant, timedelta(days=7))
    aged = criteria.evaluate(criteria.Evidence(tenant, Checkpoint.objects.get(tenant=tenant)))
    assert aged["forests-scanned"].state == "not_met"  # the fault: a week later, the demo's scans are stale
    score.burn_down(tenant)  # a page viewed just before the beat: its counts are kept
    # Someone trying the demo since it was dated: what happened in real time stays when it happened.
    tried = SignOff.objects.create(tenant=tenant, code="forests-scanned", user=demo, comment="Looks right.")

    task, _every = _demo_task_every(settings)
    import_module(task.rsplit(".", 1)[0])
    started = timezone.now()
    assert current_app.tasks[task].apply().get() is True

    assert CriterionState.objects.get(tenant=tenant, code="forests-scanned").state == "met"
    # Every date of the story moved by one amount: the time between its telling and now.
    now = _dated(tenant)
    moved = {
        key: now[key] - value for key, value in told.items() if key[:2] not in NOT_STORY and key[1] != "expires_on"
    }
    assert len(set(moved.values())) == 1, sorted({(k[0], k[1], v) for k, v in moved.items()})[:10]
    (by,) = set(moved.values())
    assert timedelta(0) <= by < timezone.now() - started + timedelta(minutes=5)
    # Exceptions end as far from their granting as told: not expired by the week, not made endless.
    for key, expires_on in told.items():
        if key[1] == "expires_on":
            created = ("remediation.Waiver", "created", key[2])
            assert now[key] - timezone.localdate(now[created]) == expires_on - timezone.localdate(told[created])
            assert now[key] > timezone.localdate()
    # What the pages show: the kept burn-down and the dates of the scan list and the overview.
    assert score.burn_down(tenant) == score._burn_down(tenant, 200)
    client.force_login(demo)
    scans = client.get("/t/contoso-demo/scans/").content.decode()
    newest = re.search(r"<tbody>.*?</tr>", scans, re.S).group(0)
    assert formats.date_format(timezone.localtime(), "DATE_FORMAT") in newest
    overview = client.get("/t/contoso-demo/").content.decode()
    assert re.search(r"#\d+</a>, \d+\xa0minutes? ago, \d+ objects", overview)
    assert SignOff.objects.get(pk=tried.pk).at == tried.at  # not a week into the future
    # No other tenant's row moved, not even its snapshots labelled demo.
    assert _dated(other) == others
