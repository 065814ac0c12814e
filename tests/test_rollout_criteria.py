"""Rollout criteria computed from real evidence: scans of the Samba lab forest, pulls from the TLS
Graph stand-in, and the test-group round trip created and removed in Samba for real."""

from datetime import timedelta

import ldap3
import pytest
from django.utils import timezone

from identityhub.health import pulls
from identityhub.lib import directory
from identityhub.rollout import criteria, progress, roundtrip
from identityhub.rollout.models import Checkpoint, CriterionState, RolloutEvent, SignOff, TestGroupRoundTrip
from identityhub.scans import pipeline
from identityhub.scans.models import DirectoryObject, Finding, ScanRun
from identityhub.scans.sources import directory_settings, entries_for
from identityhub.tenants.models import Forest, Tenant

from .graph_standin import contact, group, user
from .health_support import connect

pytestmark = [pytest.mark.samba, pytest.mark.django_db]


@pytest.fixture
def lab_tenant(db, corp_forest):
    domains = {"corp.example.com", "mail.corp.example.com", "example.com"}
    domains |= {v.value.rpartition("@")[2] for v in corp_forest.seed.valid if v.attribute == "userPrincipalName"}
    return Tenant.objects.create(name="Lab", slug="lab", verified_domains=sorted(domains), auth_method="phs")


@pytest.fixture
def corp(lab_tenant, corp_forest):
    return Forest.objects.create(
        tenant=lab_tenant,
        name=corp_forest.realm.lower(),
        servers=corp_forest.host,
        port=636,
        ca_certificate=corp_forest.ca_cert.read_text(),
        base_dns=corp_forest.base_dn,
        include_ous=corp_forest.lab_ou,
        bind_user=corp_forest.bind_user,
        bind_password=corp_forest.password,
    )


@pytest.fixture
def lead(django_user_model):
    return django_user_model.objects.create_user("lab-lead")


def scan(forest):
    run = ScanRun.objects.create(tenant=forest.tenant, forest=forest)
    return pipeline.execute(run.pk, entries_for)


def states(tenant) -> dict[str, str]:
    return dict(CriterionState.objects.filter(tenant=tenant).values_list("code", "state"))


def mirror_in_cloud(standin, tenant):
    """The stand-in's tenant holds one synced object per in-scope object of the current scans."""
    kinds = {"users": 0, "groups": 0, "contacts": 0}
    for object_class in DirectoryObject.objects.filter(scan__tenant=tenant, scan__is_current=True).values_list(
        "object_class", flat=True
    ):
        kinds[criteria.KIND_OF_CLASS[object_class]] += 1
    standin.state.users = [user(f"u{i}@example.com") for i in range(kinds["users"])]
    standin.state.groups = [group(f"G{i}") for i in range(kinds["groups"])]
    standin.state.contacts = [contact(f"C{i}", f"c{i}@partner.example") for i in range(kinds["contacts"])]
    now = timezone.now()
    standin.state.last_sync = (now - timedelta(minutes=5)).isoformat()
    standin.state.last_password_sync = (now - timedelta(minutes=3)).isoformat()
    return kinds


def in_ad(lab, dn) -> bool:
    conn = lab.connection()
    try:
        conn.search(dn, "(objectClass=group)", ldap3.BASE, attributes=["cn"])
        return bool(conn.entries)
    except ldap3.core.exceptions.LDAPNoSuchObjectResult:
        return False
    finally:
        conn.unbind()


def test_steps_7_and_8_from_a_real_scan_real_pulls_and_a_real_test_group(
    corp, corp_forest, standin, lead, django_capture_on_commit_callbacks
):
    tenant = corp.tenant
    checkpoint = progress.checkpoint_of(tenant)
    checkpoint.test_group_container = f"CN=Users,{corp_forest.base_dn}"  # outside OU=Lab: other tests count it
    checkpoint.save()

    # A scan of the real forest: the receiver recomputes and notes it in the timeline.
    run = scan(corp)
    assert run.status == "completed", run.error
    s = states(tenant)
    assert s["forests-scanned"] == "met"
    assert s["no-blocking"] == "not_met"  # the lab plants blocking defects
    assert s["graph-connected"] == "not_met" and s["sync-enabled"] == "unknown"
    assert RolloutEvent.objects.filter(tenant=tenant, kind="scan", url=run.get_absolute_url()).exists()
    checkpoint.refresh_from_db()
    assert checkpoint.current_step == 7 and checkpoint.open_blocking > 0 and 0 < checkpoint.score < 100

    # Connected, and the cloud holds what the scan saw: a pull proves the Graph criteria.
    connect(tenant, standin)
    kinds = mirror_in_cloud(standin, tenant)
    assert kinds["users"] > 0
    pulls.pull(tenant)
    s = states(tenant)
    for code in ("graph-connected", "sync-enabled", "first-sync", "counts-match", "sync-fresh", "no-old-errors"):
        assert s[code] == "met", (code, CriterionState.objects.get(tenant=tenant, code=code).explanation)
    assert s["password-sync"] == "met" and s["pulls-ok"] == "met"
    assert s["test-group"] == "not_met"

    # The round trip: a group created in Samba for real...
    with django_capture_on_commit_callbacks(execute=True):
        trip = roundtrip.start(corp, lead)
    trip.refresh_from_db()
    assert trip.status == TestGroupRoundTrip.Status.CREATED, trip.error
    assert trip.dn == f"CN={trip.name},CN=Users,{corp_forest.base_dn}" and trip.sid.startswith("S-1-5-21-")
    assert in_ad(corp_forest, trip.dn)
    with pytest.raises(roundtrip.Busy):
        roundtrip.start(corp, lead)
    assert states(tenant)["test-group"] == "unknown"

    # ...not in Entra ID yet at the next pull...
    pulls.pull(tenant)
    trip.refresh_from_db()
    assert trip.status == TestGroupRoundTrip.Status.CREATED and trip.seen_at is None

    # ...then Entra Connect syncs it (the stand-in shows it with its SID): seen, and removed from AD.
    synced = group(trip.name)
    synced["onPremisesSecurityIdentifier"] = trip.sid
    standin.state.groups.append(synced)
    pulls.pull(tenant)
    trip.refresh_from_db()
    assert trip.status == TestGroupRoundTrip.Status.REMOVED, trip.error
    assert trip.seen_at and trip.removed_at and trip.graph_id == synced["id"]
    assert not in_ad(corp_forest, trip.dn)
    state = CriterionState.objects.get(tenant=tenant, code="test-group")
    assert state.state == "met" and "appeared in Entra ID" in state.explanation
    timeline = list(RolloutEvent.objects.filter(tenant=tenant, kind="roundtrip").values_list("text", flat=True))
    assert any("created in AD" in t for t in timeline) and any("removed from AD" in t for t in timeline)

    # Blocking findings excepted, the method confirmed: step 7 is done and step 8 follows.
    standin.state.groups.remove(synced)
    Finding.objects.filter(tenant=tenant, severity="blocking").update(status=Finding.Status.EXCEPTED)
    SignOff.objects.create(tenant=tenant, code="auth-method", user=lead, comment="PHS, per the design review")
    pulls.pull(tenant)  # the counts match again without the test group
    checkpoint.refresh_from_db()
    assert checkpoint.step7_done_at is not None and checkpoint.current_step == 8, states(tenant)
    no_blocking = CriterionState.objects.get(tenant=tenant, code="no-blocking")
    assert no_blocking.state == "met" and "excepted" in no_blocking.explanation
    SignOff.objects.create(tenant=tenant, code="monitoring", user=lead, comment="Connect Health agent on AADC01")
    progress.recompute(tenant)
    checkpoint.refresh_from_db()
    assert checkpoint.current_step == 9 and checkpoint.percent == 100 and checkpoint.health_colour == "green"
    assert RolloutEvent.objects.filter(tenant=tenant, kind="step", text__contains="Step 8").exists()

    # Time passes without a sync: step 8 no longer holds, and health turns red.
    Checkpoint.objects.filter(tenant=tenant).update(sync_cycle_minutes=1)
    progress.recompute(tenant, now=timezone.now() + timedelta(hours=4))
    checkpoint.refresh_from_db()
    assert checkpoint.current_step == 8 and checkpoint.step8_done_at is None and checkpoint.health_colour == "red"
    assert RolloutEvent.objects.filter(tenant=tenant, kind="health", text__startswith="Sync health turned red").exists()


def test_a_test_group_never_synced_expires_and_is_removed(corp, corp_forest, standin, lead, monkeypatch):
    tenant = corp.tenant
    connect(tenant, standin)
    Checkpoint.objects.create(tenant=tenant, test_group_container=f"CN=Users,{corp_forest.base_dn}")
    trip = TestGroupRoundTrip.objects.create(
        tenant=tenant, forest=corp, requested_by=lead, name="IdentityHub sync test late", sam_account_name="idhub-late",
        container=f"CN=Users,{corp_forest.base_dn}",
    )  # fmt: skip
    assert roundtrip.create_in_ad(trip.pk) == "created"
    assert roundtrip.create_in_ad(trip.pk) is None  # a re-delivered task does nothing
    trip.refresh_from_db()
    assert in_ad(corp_forest, trip.dn)

    assert roundtrip.follow(tenant.pk) == 0  # not seen, not late yet
    assert roundtrip.follow(tenant.pk, now=timezone.now() + timedelta(hours=3)) == 1
    trip.refresh_from_db()
    assert trip.status == TestGroupRoundTrip.Status.EXPIRED and "sync scope" in trip.error
    assert trip.removed_at and not in_ad(corp_forest, trip.dn)
    assert states(tenant)["test-group"] == "not_met"


def test_creating_the_test_group_where_no_container_exists_fails_cleanly(corp, corp_forest, lead):
    trip = TestGroupRoundTrip.objects.create(
        tenant=corp.tenant, forest=corp, requested_by=lead, name="IdentityHub sync test x", sam_account_name="idhub-x",
        container=f"OU=Nowhere,{corp_forest.base_dn}",
    )  # fmt: skip
    assert roundtrip.create_in_ad(trip.pk) == "failed"
    trip.refresh_from_db()
    assert "does not exist" in trip.error
    assert states(corp.tenant)["test-group"] == "not_met"


def test_create_group_escapes_the_name_into_the_dn(corp, corp_forest):
    conn = directory.connect(directory_settings(corp))
    try:
        name = 'Odd, "name" + <test>; #1'
        dn, sid = directory.create_group(conn, f"CN=Users,{corp_forest.base_dn}", name, "idhub-odd")
        try:
            assert dn.startswith('CN=Odd\\, \\"name\\" \\+ \\<test\\>\\; #1,CN=Users,')
            assert directory.read_values(conn, dn, ["cn"]).first("cn") == name and sid
        finally:
            assert directory.delete_object(conn, dn) is True
        assert directory.delete_object(conn, dn) is False  # already gone: harmless
        with pytest.raises(directory.WriteRefusedError):
            directory.create_group(conn, "not a DN", "x", "idhub-x")
    finally:
        conn.unbind()


def test_the_default_container_is_the_first_included_ou(corp, corp_forest):
    assert roundtrip.default_container(corp, Checkpoint(tenant=corp.tenant)) == corp_forest.lab_ou
    assert roundtrip.default_container(corp, Checkpoint(tenant=corp.tenant, test_group_container="OU=X")) == "OU=X"
