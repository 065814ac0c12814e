"""Pulling sync health against the TLS Graph stand-in (real msal, real HTTP, no mocks): snapshots,
failures that keep the last good snapshot, cloud collisions, closing the loop, tasks."""

import uuid
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from identityhub.health import pulls
from identityhub.health.matching import anchor_of, guid_of_anchor
from identityhub.health.models import HealthPull, ProvisioningError, SyncSnapshot
from identityhub.health.tasks import pull_all_health, pull_tenant_health
from identityhub.lib import graph
from identityhub.scans.models import Finding
from identityhub.tenants.models import Tenant

from .graph_standin import provisioning_error, user
from .health_support import ad_group, ad_user, connect, scan, synced_as

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant_connected(tenant, standin):
    tenant.verified_domains = ["acme.com", "contoso.com"]  # so contoso.com values are not findings themselves
    tenant.save()
    connect(tenant, standin)
    return tenant


def test_anchor_is_base64_of_object_guid_bytes_le():
    guid = uuid.UUID("86ff0de2-6c36-ba4e-2a53-9b9d708797f6")
    assert anchor_of(guid) == "4g3/hjZsTroqU5udcIeX9g=="  # as ldifde prints Dmitri Adams' objectGUID
    assert guid_of_anchor("4g3/hjZsTroqU5udcIeX9g==") == guid
    assert guid_of_anchor("not base64!") is None and guid_of_anchor("YWJj") is None


def test_a_pull_stores_a_snapshot_with_matched_errors(tenant_connected, forest, standin):
    ben_guid = uuid.uuid4()
    scan(
        forest,
        [
            ad_user("Ben", upn="ben@contoso.com", guid=ben_guid),
            ad_user("Benjamin", upn="benjamin@acme.com", mail="ben@contoso.com"),  # an on-prem duplicate too
            ad_group("Support", mail="support@contoso.com"),
        ],
    )
    synced_as(standin.state.users[1], ben_guid)  # the stand-in's ben, synced from our Ben

    snapshot = pulls.pull(tenant_connected)

    assert snapshot.sync_enabled is True and not snapshot.is_demo
    assert snapshot.last_sync.isoformat() == "2026-11-24T09:00:00+00:00"
    assert snapshot.last_password_sync is not None
    assert snapshot.verified_domains == ["contoso.com", "contoso.onmicrosoft.com", "fabrikam.com"]
    assert {d["name"]: d["authentication_type"] for d in snapshot.domains}["fabrikam.com"] == "Federated"
    assert snapshot.counts["users"] == {"synced": 3, "cloud_only": 2}
    assert snapshot.error_count == 2 and snapshot.raw["provisioning_errors"]
    pull = HealthPull.objects.get(pk=snapshot.pull_id)
    assert pull.status == HealthPull.Status.COMPLETED and pull.finished and not pull.error

    ben = ProvisioningError.objects.get(snapshot=snapshot, object_type="user")
    assert (ben.property, ben.value, ben.category) == ("UserPrincipalName", "ben@contoso.com", "PropertyConflict")
    assert ben.matched_by == "anchor" and ben.matched_guid == ben_guid and ben.matched_forest == forest
    assert ben.matched_dn.startswith("CN=Ben,")
    # Of Ben's findings, the one about the conflicting value of the same attribute.
    assert ben.matched_finding.attribute == "userPrincipalName" and ben.matched_finding.guid == ben_guid
    support = ProvisioningError.objects.get(snapshot=snapshot, object_type="group")
    assert support.matched_by == "value" and support.matched_dn.startswith("CN=Support,")

    tenant_connected.refresh_from_db()
    assert tenant_connected.verified_domains == snapshot.verified_domains  # feeds the routable-domain rules


def test_an_error_no_on_prem_object_holds_stays_unmatched(tenant_connected, forest, standin):
    scan(forest, [ad_user("Ann", upn="ann@acme.com")])
    snapshot = pulls.pull(tenant_connected)
    assert not snapshot.provisioning_errors.filter(matched_guid__isnull=False).exists()


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (lambda s: s.fault("/organization", 401), "Organization.Read.All"),
        (lambda s: setattr(s.state, "permissions", {"Organization.Read.All"}), "Domain.Read.All"),
        (lambda s: s.fault("/users", 429, times=None, retry_after="0"), "after 2 attempts"),
        (lambda s: s.fault("/groups", 500, times=None), "500"),
        (lambda s: setattr(s.state, "client_secret", "rotated-in-the-portal"), "AADSTS7000215"),
    ],
    ids=["401", "403", "429-exhausted", "500s", "bad-secret"],
)
def test_a_failed_pull_records_why_and_keeps_the_last_good_snapshot(tenant_connected, standin, break_it, expected):
    good = pulls.pull(tenant_connected)
    errors_before = good.provisioning_errors.count()
    break_it(standin)
    standin.revoke_tokens()  # a new token request, so the bad secret is noticed

    with pytest.raises(graph.GraphError, match=expected):
        pulls.pull(tenant_connected)

    failed = HealthPull.objects.filter(tenant=tenant_connected).first()
    assert failed.status == HealthPull.Status.FAILED and expected in failed.error and failed.finished
    assert list(SyncSnapshot.objects.filter(tenant=tenant_connected)) == [good]
    assert good.provisioning_errors.count() == errors_before


def test_an_unreachable_graph_fails_clearly(tenant_connected, settings):
    settings.GRAPH_AUTHORITY_HOST = "127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(graph.GraphConnectionError, match="Cannot reach 127.0.0.1:9"):
        pulls.pull(tenant_connected)
    assert HealthPull.objects.get().status == "failed" and not SyncSnapshot.objects.exists()


def test_a_tenant_without_connection_fails_with_a_reason(tenant):
    with pytest.raises(pulls.NotConnected, match="no Graph connection"):
        pulls.pull(tenant)
    assert "no Graph connection" in HealthPull.objects.get().error


# -- pre-sync cloud collisions --------------------------------------------------------------------


def test_cloud_collisions_become_findings_and_resolve(tenant_connected, forest, standin, client, personas):
    # The stand-in has a cloud-only Dee (UPN Dee@Contoso.com) and a cloud-only group team@contoso.com.
    scan(forest, [ad_user("Dee", upn="dee@contoso.com"), ad_group("Team", mail="TEAM@contoso.com")])
    pulls.pull(tenant_connected)

    found = Finding.objects.filter(rule="cloud.collision")
    assert {(f.attribute, f.value) for f in found} == {
        ("userPrincipalName", "dee@contoso.com"),
        ("mail", "TEAM@contoso.com"),
        ("proxyAddresses", "SMTP:TEAM@contoso.com"),
    }
    assert all(f.status == "open" and f.severity == "blocking" and f.error == "cloudcollision" for f in found)
    assert {f.forest for f in found} == {forest}
    # Each names the cloud-only object in the way: what to rename or delete in Entra ID.
    dee_cloud = next(u for u in standin.state.users if u["userPrincipalName"] == "Dee@Contoso.com")
    dee_finding = found.get(attribute="userPrincipalName")
    assert dee_finding.detail == (
        f"In use in Entra ID by the cloud-only user 'Dee' (Dee@Contoso.com, id {dee_cloud['id']})."
    )
    assert found.get(attribute="mail").detail.startswith("In use in Entra ID by the cloud-only group 'Cloud Team'")
    client.force_login(personas["auditor"])
    for page in (f"/t/{tenant_connected.slug}/findings/?rule=cloud.collision", dee_finding.get_absolute_url()):
        assert f"id {dee_cloud['id']}" in client.get(page).content.decode()

    pulls.pull(tenant_connected)  # a rerun never duplicates
    assert found.count() == 3

    scan(forest, [ad_user("Dee", upn="dee@contoso.com"), ad_group("Team", mail="TEAM@contoso.com")])
    assert found.filter(status="open").count() == 3  # a forest scan leaves cloud findings alone

    standin.state.users = [u for u in standin.state.users if u["userPrincipalName"] != "Dee@Contoso.com"]
    pulls.pull(tenant_connected)
    assert set(found.filter(status="open").values_list("attribute", flat=True)) == {"mail", "proxyAddresses"}
    dee = found.get(attribute="userPrincipalName")
    assert dee.status == "resolved" and dee.resolved_at is not None


# -- closing the loop -----------------------------------------------------------------------------


def test_a_fix_goes_from_awaiting_sync_to_verified_clean(tenant_connected, forest, standin):
    guid = uuid.uuid4()
    scan(forest, [ad_user("Fay", upn="fay smith@contoso.com", guid=guid)])
    finding = Finding.objects.get(guid=guid, rule="upn.character")
    assert finding.sync_state == ""  # open: nothing to verify yet

    scan(forest, [ad_user("Fay", upn="fay.smith@contoso.com", guid=guid)])  # fixed on-prem
    finding.refresh_from_db()
    assert finding.status == "resolved" and finding.sync_state == Finding.AWAITING_SYNC

    # Graph has Fay now, but its last sync ran before the fix: not evidence yet.
    fay = synced_as(user("fay.smith@contoso.com"), guid)
    standin.state.users.append(fay)
    standin.state.last_sync = (finding.resolved_at - timedelta(minutes=5)).isoformat()
    pulls.pull(tenant_connected)
    finding.refresh_from_db()
    assert finding.sync_state == Finding.AWAITING_SYNC

    # A sync after the fix, but Entra still reports an error on the object.
    standin.state.last_sync = (timezone.now() + timedelta(minutes=1)).isoformat()
    fay["onPremisesProvisioningErrors"] = [provisioning_error("UserPrincipalName", "fay.smith@contoso.com")]
    snapshot = pulls.pull(tenant_connected)
    error = snapshot.provisioning_errors.get(display_name="fay.smith")
    assert error.matched_guid == guid and error.matched_finding == finding
    finding.refresh_from_db()
    assert finding.sync_state == Finding.AWAITING_SYNC

    fay["onPremisesProvisioningErrors"] = []
    pulls.pull(tenant_connected)
    finding.refresh_from_db()
    assert finding.verified_at is not None and finding.sync_state == Finding.VERIFIED_CLEAN

    # Broken and fixed again: the old verification does not count for the new fix.
    scan(forest, [ad_user("Fay", upn="fay smith@contoso.com", guid=guid)])
    finding.refresh_from_db()
    assert finding.status == "open" and finding.sync_state == ""
    scan(forest, [ad_user("Fay", upn="fay.smith@contoso.com", guid=guid)])
    finding.refresh_from_db()
    assert finding.sync_state == Finding.AWAITING_SYNC


def test_objects_without_an_anchor_are_verified_by_address(tenant_connected, forest, standin):
    guid = uuid.uuid4()
    scan(forest, [ad_group("Sales Team", mail="sales team@contoso.com", guid=guid)])
    assert Finding.objects.filter(guid=guid).exists()
    scan(forest, [ad_group("Sales Team", mail="sales@contoso.com", guid=guid)])  # the stand-in's synced Sales
    standin.state.last_sync = (timezone.now() + timedelta(minutes=1)).isoformat()
    pulls.pull(tenant_connected)
    fixed = Finding.objects.filter(guid=guid, status="resolved")
    assert fixed.count() >= 2  # mail and SMTP proxy
    assert {f.sync_state for f in fixed} == {Finding.VERIFIED_CLEAN}


# -- tasks ---------------------------------------------------------------------------------------


def test_pull_now_queues_a_task_that_runs_once(tenant_connected, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = pulls.queue_pull(tenant_connected)
    job.refresh_from_db()
    assert job.status == "completed" and job.snapshot
    # acks_late: a re-delivered task finds its pull ended and does nothing.
    assert pull_tenant_health(tenant_connected.pk, job.pk) is None
    assert SyncSnapshot.objects.count() == 1


def test_a_pull_in_progress_is_not_queued_twice(tenant_connected):
    first = pulls.queue_pull(tenant_connected)  # on_commit never fires inside the test transaction
    assert pulls.queue_pull(tenant_connected) == first


def test_pull_all_health_pulls_connected_tenants_only(
    tenant_connected, other_tenant, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert pull_all_health() == 1
    assert set(SyncSnapshot.objects.values_list("tenant", flat=True)) == {tenant_connected.pk}
    assert not HealthPull.objects.filter(tenant=other_tenant).exists()


def test_a_task_for_a_failing_tenant_reports_failed(tenant_connected, standin):
    standin.fault("/organization", 403)
    assert pull_tenant_health(tenant_connected.pk) == "failed"
    assert Tenant.objects.get(pk=tenant_connected.pk).verified_domains == ["acme.com", "contoso.com"]


def test_the_beat_schedule_pulls_every_30_minutes_and_still_scans():
    schedule = django_settings.CELERY_BEAT_SCHEDULE
    assert schedule["pull-all-health"] == {"task": "identityhub.health.tasks.pull_all_health", "schedule": 1800.0}
    assert "dispatch-due-scans" in schedule
    assert pull_tenant_health.acks_late and pull_all_health.acks_late


def test_old_snapshots_keep_their_numbers_but_drop_details(tenant_connected, monkeypatch):
    monkeypatch.setattr(pulls, "KEEP_DETAIL", 2)
    first = pulls.pull(tenant_connected)
    for _ in range(2):
        pulls.pull(tenant_connected)
    first.refresh_from_db()
    assert first.error_count == 2 and first.raw == {} and not first.provisioning_errors.exists()
    assert SyncSnapshot.objects.exclude(raw={}).count() == 2


def test_a_failed_pull_turns_the_rollout_criterion_red_at_once(tenant_connected, standin):
    from identityhub.rollout.models import CriterionState, RolloutEvent

    def pulls_ok():
        return CriterionState.objects.get(tenant=tenant_connected, code="pulls-ok").state

    pulls.pull(tenant_connected)
    assert pulls_ok() == "met"
    standin.fault("/organization", 500, times=None)
    for _ in range(2):
        with pytest.raises(graph.GraphError):
            pulls.pull(tenant_connected)
        assert pulls_ok() == "not_met"  # no waiting for the 10-minute recompute
    failures = RolloutEvent.objects.filter(tenant=tenant_connected, text__startswith="Health pull failed")
    assert failures.count() == 1  # the first failure of the run, not every retry
    assert "500" in failures.get().text
