"""Step 7 reads the sync engine in use, and the optional "Ready to license" checkpoint, from real
pulls of the TLS Graph stand-in and scans stored in PostgreSQL."""

import uuid

import pytest
from django.utils import timezone

from identityhub.health import pulls
from identityhub.health.models import GraphConnection
from identityhub.rollout import criteria, progress
from identityhub.rollout.models import Checkpoint, CriterionState, RolloutEvent, State
from identityhub.scans.models import Finding

from .graph_standin import add_cloud_sync, add_licence_errors
from .health_support import ad_user, connect, scan

pytestmark = pytest.mark.django_db


def _results(tenant):
    checkpoint = progress.checkpoint_of(tenant)
    return criteria.evaluate(criteria.Evidence(tenant, checkpoint))


def test_a_connect_sync_tenant_keeps_todays_criteria(tenant, standin):
    connect(tenant, standin)
    pulls.pull(tenant)
    result = _results(tenant)["cloud-sync"]
    assert result.state == State.MET and "Entra Connect Sync" in result.explanation
    assert "Connect Health agent" in _results(tenant)["monitoring"].explanation


def test_a_quarantined_cloud_sync_job_fails_step_7(tenant, standin):
    add_cloud_sync(standin.state, timezone.now())
    connect(tenant, standin)
    pulls.pull(tenant)
    result = _results(tenant)["cloud-sync"]
    assert result.state == State.NOT_MET
    assert "corp.acme.example" in result.explanation and "EncounteredQuarantineException" in result.explanation
    assert "provisioning agents" in _results(tenant)["monitoring"].explanation
    assert not criteria.step_done(_results(tenant), 7)
    progress.recompute(tenant)
    assert Checkpoint.objects.get(tenant=tenant).health_colour == "red"
    event = RolloutEvent.objects.get(tenant=tenant, kind=RolloutEvent.Kind.HEALTH)
    assert "in quarantine" in event.text


def _out_of_quarantine(standin, *, paused=False):
    """Drop the jobs that never ran; the others active (or paused), none in quarantine."""
    for principal in standin.state.service_principals:
        principal["jobs"] = [j for j in principal["jobs"] if j["status"]["lastExecution"]]
        for job in principal["jobs"]:
            job["status"].update(code="Paused" if paused else "Active", quarantine=None)


def test_escrows_older_than_the_threshold_fail_then_pass_with_a_larger_one(tenant, standin):
    add_cloud_sync(standin.state, timezone.now())
    _out_of_quarantine(standin, paused=True)
    connect(tenant, standin)
    pulls.pull(tenant)
    assert "Not active" in _results(tenant)["cloud-sync"].explanation
    _out_of_quarantine(standin)
    pulls.pull(tenant)
    result = _results(tenant)["cloud-sync"]  # Ben has failed for 3 days, over the default 24 hours
    assert result.state == State.NOT_MET and "1 object(s) failing" in result.explanation
    Checkpoint.objects.filter(tenant=tenant).update(escrow_max_age_hours=24 * 4)
    result = _results(tenant)["cloud-sync"]
    assert result.state == State.MET and "2 escrowed" in result.explanation


def test_an_unreadable_job_names_the_permission(tenant, standin):
    add_cloud_sync(standin.state, timezone.now())
    standin.state.permissions = {"Directory.Read.All", "AuditLog.Read.All"}
    connect(tenant, standin)
    pulls.pull(tenant)
    result = _results(tenant)["cloud-sync"]
    assert result.state == State.NOT_MET and "Synchronization.Read.All" in result.explanation


def test_the_engine_set_on_the_connection_wins(tenant, standin):
    connect(tenant, standin, sync_engine="cloud")  # no Cloud Sync in Graph: a misconfiguration shows
    pulls.pull(tenant)
    assert "No Cloud Sync provisioning job" in _results(tenant)["cloud-sync"].explanation
    GraphConnection.objects.filter(tenant=tenant).update(sync_engine="connect")
    assert _results(tenant)["cloud-sync"].state == State.MET


def test_ready_to_license_checks_usage_locations_and_licence_errors(tenant, forest, standin, client, personas):
    add_licence_errors(standin.state)
    connect(tenant, standin)
    checkpoint = progress.checkpoint_of(tenant)
    client.force_login(personas["lead"])
    assert "Ready to license" not in client.get("/t/acme/rollout/").content.decode()  # optional, off

    checkpoint.ready_to_license = True
    checkpoint.save()
    users = [
        ad_user("Ann", upn="ann@acme.com", country="DE"),
        ad_user("Bob", upn="bob@acme.com"),  # no c
        ad_user("Uma", upn="uma@acme.com", country="UK"),  # not ISO 3166 (GB)
        ad_user("Lia", upn="lia@acme.com", country="de"),  # sync takes it as DE
    ]
    scan(forest, users)
    rules = dict(Finding.objects.filter(tenant=tenant, rule__startswith="usagelocation").values_list("dn", "rule"))
    assert rules == {
        "CN=Bob,OU=Staff,DC=corp,DC=acme,DC=example": "usagelocation.missing",
        "CN=Uma,OU=Staff,DC=corp,DC=acme,DC=example": "usagelocation.invalid",
    }
    pulls.pull(tenant)
    results = _results(tenant)
    usage = results["usage-location"]
    assert usage.state == State.NOT_MET and "2 in-scope user(s)" in usage.explanation
    assert "1 synced user(s) without a usage location" in usage.explanation
    errors = results["licence-errors"]
    assert errors.state == State.NOT_MET and "2 CountViolation" in errors.explanation
    assert criteria.progress(results) == criteria.progress({**results, "usage-location": criteria.met("")})

    # Fixed on both sides, with Uma excepted: the checkpoint holds and lists the exception.
    Finding.objects.filter(tenant=tenant, rule="usagelocation.invalid").update(status=Finding.Status.EXCEPTED)
    bob = users[1]
    fixed_bob = ad_user(
        "Bob", upn="bob@acme.com", country="FR", guid=uuid.UUID(bytes_le=bob.attributes["objectguid"][0])
    )
    scan(forest, [users[0], fixed_bob, users[2], users[3]])  # the same Bob (GUID), now with a country
    for u in standin.state.users:
        u["licenseAssignmentStates"], u["usageLocation"] = [], "DE"
    pulls.pull(tenant)
    progress.recompute(tenant)
    states = dict(CriterionState.objects.filter(tenant=tenant).values_list("code", "state"))
    assert states["usage-location"] == State.MET and states["licence-errors"] == State.MET
    page = client.get("/t/acme/rollout/").content.decode()
    assert 'id="checkpoint-license"' in page and "After step 7: Ready to license" in page
    assert "1 excepted or accepted usage-location finding" in page and "CN=Uma," in page


def test_the_country_rule_is_off_without_the_checkpoint(tenant, forest):
    scan(forest, [ad_user("Bob", upn="bob@acme.com")])
    assert not Finding.objects.filter(rule__startswith="usagelocation").exists()


def test_an_admin_turns_the_checkpoint_on(tenant, client, personas):
    client.force_login(personas["admin"])
    form = client.get("/t/acme/rollout/settings/").content.decode()
    assert "Ready to license" in form and "escrow" in form.lower()
    data = {
        "scan_max_age_hours": 168, "count_tolerance_percent": 2, "sync_cycle_minutes": 40,
        "password_sync_max_age_minutes": 180, "error_max_age_hours": 24, "pull_max_age_minutes": 90,
        "round_trip_timeout_minutes": 120, "test_group_container": "", "escrow_max_age_hours": 48,
        "ready_to_license": "on",
    }  # fmt: skip
    assert client.post("/t/acme/rollout/settings/", data).status_code == 302
    checkpoint = Checkpoint.objects.get(tenant=tenant)
    assert checkpoint.ready_to_license and checkpoint.escrow_max_age_hours == 48
