"""AD and the change log agree whatever fails mid-write: every proxy fault and a DC killed outright,
for an inline fix, an undo, an approved four-eyes change and a bulk run (real Samba behind tests/ldap_proxy)."""

import os
import signal

import pytest

from identityhub.remediation import actions, tasks
from identityhub.remediation.models import ApplyRun, Change
from identityhub.scans.models import Finding
from identityhub.tenants.models import Membership, Role

from . import ldap_proxy
from .remediation_support import finding_on, scan

pytestmark = [pytest.mark.samba, pytest.mark.django_db(transaction=True)]

DC_KILLED = "dc-killed"
FAULTS = [
    ldap_proxy.DROP_BEFORE_REPLY,
    ldap_proxy.DROP_AFTER_REPLY,
    ldap_proxy.DELAY_REPLY,
    ldap_proxy.REFUSE,
    DC_KILLED,
]
# What the change log must say once everything has settled, and what AD then holds.
SETTLED = {
    ldap_proxy.DROP_BEFORE_REPLY: "applied",  # AD applied it; a re-read on a new connection confirms it
    ldap_proxy.DROP_AFTER_REPLY: "applied",  # the reply arrived; only the read-back was lost
    ldap_proxy.DELAY_REPLY: "applied",  # the reply came too late; AD had applied it
    ldap_proxy.REFUSE: "not_sent",  # no connection: nothing reached AD
    DC_KILLED: "not_applied",  # the DC died before it got the modify; settled once it is back
}

# A bulk run of three rows, the fault hitting the first write: the rows after it are all attempted.
BULK_SETTLED = {
    ldap_proxy.DROP_BEFORE_REPLY: ["applied"] * 3,
    ldap_proxy.DROP_AFTER_REPLY: ["applied"] * 3,
    ldap_proxy.DELAY_REPLY: ["applied"] * 3,
    ldap_proxy.REFUSE: ["not_sent"] * 3,
    DC_KILLED: ["not_applied", "not_sent", "not_sent"],  # the DC stays down for the rest of the run
}


@pytest.fixture
def second_admin(fix_tenant, django_user_model):
    user = django_user_model.objects.create_user("second-admin")
    Membership.objects.create(user=user, tenant=fix_tenant, role=Role.ADMIN)
    return user


def kill_dc(forest):
    """SIGKILL the DC's whole process group: no shutdown, no flush, like pulling the plug."""
    os.killpg(forest.process.pid, signal.SIGKILL)
    forest.process.wait()


def inject(fault, proxy, corp_forest):
    if fault == DC_KILLED:
        proxy.fault(ldap_proxy.DROP_BEFORE_REPLY, on_write=lambda _message: kill_dc(corp_forest))
    elif fault == ldap_proxy.REFUSE:
        proxy.fault(ldap_proxy.REFUSE, times=1000)
    else:
        proxy.fault(fault)


def settle_after(fault, proxy, corp_forest, sandbox):
    """The fault is over: the relay passes, the DC is back; the periodic sweep settles what is open."""
    proxy.fault(ldap_proxy.PASS, times=0)
    if not corp_forest.running:
        corp_forest.stop()
        corp_forest.start()
        sandbox.reconnect()
    tasks.confirm_unknown_changes()


def assert_agree(change, sandbox):
    """The change log and AD tell the same story about this change."""
    change.refresh_from_db()
    held = sandbox.value(change.dn, change.attribute)
    assert change.result not in ("queued", "unknown"), change.error
    if change.result == "applied":
        assert all(v in held for v in change.new_values), (held, change.new_values)
        assert not any(v in held for v in change.old_values if v not in change.new_values), held
    elif change.result == "conflict":
        assert sorted(held) == sorted(change.current_values or [])
    else:
        assert change.result in ("not_applied", "not_sent", "refused"), change.result
        assert all(v in held for v in change.old_values), (held, change.old_values)
        assert not any(v in held for v in change.new_values), held
    return held


def _bad_user(sandbox, name):
    return sandbox.user(name, userPrincipalName=f"{name.lower()} bad@corp.example.com")


def _fixed(name):
    return f"{name.lower()}bad@corp.example.com"


@pytest.mark.parametrize("fault", FAULTS)
def test_an_inline_fix(fault, client, personas, proxied_forest, sandbox, proxy, corp_forest):
    dn = _bad_user(sandbox, "Ina")
    scan(proxied_forest)
    finding = finding_on(dn, "userPrincipalName")
    client.force_login(personas["admin"])
    inject(fault, proxy, corp_forest)
    response = client.post(f"/t/acme/findings/{finding.pk}/edit/", {"value": _fixed("Ina")}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    change = Change.objects.get(finding=finding)
    assert change.result != "queued"
    body = response.content.decode()
    if change.result == "unknown":
        assert "outcome is being confirmed" in body.lower()
    settle_after(fault, proxy, corp_forest, sandbox)
    assert_agree(change, sandbox)
    change.refresh_from_db()
    assert change.result == SETTLED[fault]
    finding.refresh_from_db()
    assert finding.status == ("resolved" if change.result == "applied" else "open")
    if fault in (ldap_proxy.DROP_BEFORE_REPLY, ldap_proxy.DELAY_REPLY):
        assert "confirmed by re-read after a lost connection" in change.error


@pytest.mark.parametrize("fault", FAULTS)
def test_an_undo(fault, client, personas, proxied_forest, sandbox, proxy, corp_forest):
    dn = _bad_user(sandbox, "Uma")
    scan(proxied_forest)
    fix = actions.request_change(finding_on(dn, "userPrincipalName"), "edit", personas["admin"], _fixed("Uma"))
    assert fix.result == "applied"
    client.force_login(personas["admin"])
    inject(fault, proxy, corp_forest)
    response = client.post(f"/t/acme/changes/{fix.pk}/undo/")
    assert response.status_code == 302
    back = Change.objects.get(reverts=fix)
    assert back.result != "queued"
    settle_after(fault, proxy, corp_forest, sandbox)
    assert_agree(back, sandbox)
    back.refresh_from_db()
    fix.refresh_from_db()
    assert back.result == SETTLED[fault]
    assert fix.result == ("reverted" if back.result == "applied" else "applied")


@pytest.mark.parametrize("fault", FAULTS)
def test_an_approved_four_eyes_change(
    fault, client, personas, proxied_forest, sandbox, proxy, corp_forest, second_admin
):
    proxied_forest.tenant.require_approval = True
    proxied_forest.tenant.save()
    dn = _bad_user(sandbox, "Abe")
    scan(proxied_forest)
    change = actions.request_change(finding_on(dn, "userPrincipalName"), "edit", personas["admin"], _fixed("Abe"))
    assert change.result == "awaiting"
    client.force_login(second_admin)
    inject(fault, proxy, corp_forest)
    response = client.post(f"/t/acme/changes/{change.pk}/approve/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    change.refresh_from_db()
    assert change.result != "queued" and change.approved_by == second_admin
    settle_after(fault, proxy, corp_forest, sandbox)
    assert_agree(change, sandbox)
    assert change.result == SETTLED[fault]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_bulk_run(fault, client, personas, proxied_forest, sandbox, proxy, corp_forest):
    dns = [_bad_user(sandbox, name) for name in ("Bea", "Ben", "Bob")]
    scan(proxied_forest)
    ids = [finding_on(dn, "userPrincipalName").pk for dn in dns]
    client.force_login(personas["admin"])
    inject(fault, proxy, corp_forest)
    response = client.post("/t/acme/findings/bulk/apply/", {"action": "suggestion", "ids": ",".join(map(str, ids))})
    assert response.status_code == 302
    run = ApplyRun.objects.get()
    assert run.status == "completed", run.error
    changes = list(Change.objects.filter(apply_run=run).order_by("pk"))
    assert len(changes) == 3  # every row attempted and listed, none left queued
    assert all(c.result != "queued" for c in changes)
    settle_after(fault, proxy, corp_forest, sandbox)
    for change in changes:
        assert_agree(change, sandbox)
    assert [Change.objects.get(pk=c.pk).result for c in changes] == BULK_SETTLED[fault]
    assert client.get(run.get_absolute_url()).status_code == 200


def test_a_change_confirmed_after_a_lost_connection_is_in_the_ldif_and_can_be_undone(
    client, personas, proxied_forest, sandbox, proxy, corp_forest
):
    dn = _bad_user(sandbox, "Lee")
    scan(proxied_forest)
    proxy.fault(ldap_proxy.DROP_BEFORE_REPLY)
    change = actions.request_change(finding_on(dn, "userPrincipalName"), "edit", personas["admin"], _fixed("Lee"))
    assert change.result == "applied"
    client.force_login(personas["admin"])
    ldif = b"".join(client.get("/t/acme/changes/export.ldf").streaming_content).decode()
    assert _fixed("Lee") in ldif
    back = actions.undo(change, personas["admin"])
    assert back.result == "applied" and sandbox.value(dn, "userPrincipalName") == ["lee bad@corp.example.com"]


def test_an_unknown_outcome_is_settled_by_the_task_once_a_dc_answers(personas, proxied_forest, sandbox, proxy):
    dn = _bad_user(sandbox, "Tia")
    scan(proxied_forest)
    finding = finding_on(dn, "userPrincipalName")
    # The reply is lost and every new connection is refused for a while: the re-read cannot settle it yet.
    proxy.fault(ldap_proxy.DROP_BEFORE_REPLY)
    proxy.on_write = lambda _message: proxy.fault(ldap_proxy.REFUSE, times=1000)
    change = actions.request_change(finding, "edit", personas["admin"], _fixed("Tia"))
    assert change.result == "unknown" and "being confirmed" in change.error
    assert sandbox.value(dn, "userPrincipalName") == [_fixed("Tia")]  # AD has it, the log cannot know yet
    proxy.fault(ldap_proxy.PASS, times=0)
    tasks.confirm_unknown_changes()
    change.refresh_from_db()
    assert change.result == "applied" and "confirmed by re-read" in change.error
    finding.refresh_from_db()
    assert finding.status == "resolved"


@pytest.mark.parametrize("sent", [True, False])
def test_a_bulk_row_left_in_flight_by_a_dead_worker_is_written_at_most_once(
    sent, personas, proxied_forest, sandbox, proxy, settings
):
    from datetime import timedelta

    from django.utils import timezone

    from identityhub.remediation import bulk

    settings.BULK_STALE_SECONDS = 1
    dn = _bad_user(sandbox, "Ora")
    scan(proxied_forest)
    finding = finding_on(dn, "userPrincipalName")
    run = ApplyRun.objects.create(
        tenant=proxied_forest.tenant,
        requested_by=personas["admin"],
        action="suggestion",
        finding_ids=[finding.pk],
        total=1,
        status="running",
        claim="dead-worker",
        heartbeat=timezone.now() - timedelta(minutes=5),
    )
    # The dead worker had claimed the row (its change queued) and perhaps sent the modify.
    row = Change.record(finding, "edit", personas["admin"], [finding.value], [_fixed("Ora")], "queued", apply_run=run)
    if sent:
        sandbox.set(dn, "userPrincipalName", [_fixed("Ora")])
    writes = proxy.writes_seen
    assert bulk.resume_stalled_runs() == 1
    run.refresh_from_db()
    row.refresh_from_db()
    assert run.status == "completed" and Change.objects.filter(apply_run=run).count() == 1
    assert row.result == "applied" and sandbox.value(dn, "userPrincipalName") == [_fixed("Ora")]
    assert proxy.writes_seen - writes == (0 if sent else 1)  # never written twice


@pytest.mark.parametrize("fault", [ldap_proxy.DROP_BEFORE_REPLY, ldap_proxy.DELAY_REPLY])
def test_the_rollout_test_group_maps_a_lost_answer_to_an_unknown_outcome(fault, corp_forest, proxy):
    import uuid

    from identityhub.lib import directory

    settings = directory.DirectorySettings(
        servers=[proxy.address], bind_user=corp_forest.bind_user, bind_password=corp_forest.password, port=389,
        timeout=1,
    )  # fmt: skip
    name = f"IH test {uuid.uuid4().hex[:8]}"
    conn = directory.connect(settings)
    proxy.fault(fault)
    try:
        with pytest.raises(directory.OutcomeUnknownError, match="may or may not exist"):
            directory.create_group(conn, corp_forest.lab_ou, name, "ih" + uuid.uuid4().hex[:12])
        directory.close(conn)  # never raises on the half-closed connection
    finally:
        corp_forest.connection().delete(f"CN={name},{corp_forest.lab_ou}")


def test_a_change_by_someone_else_between_the_guard_and_the_modify_is_recorded(
    personas, proxied_forest, sandbox, proxy
):
    """The window the exact guard leaves open (see lib.directory.guarded_modify): detected, never silent."""
    primary, bad = "SMTP:win@corp.example.com", "smtp:win old@corp.example.com"
    dn = sandbox.user(
        "Win", userPrincipalName="win@corp.example.com", mailNickname="win", proxyAddresses=[primary, bad]
    )
    scan(proxied_forest)
    finding = Finding.objects.get(dn__iexact=dn, value=bad)
    intruder = "smtp:win.other@corp.example.com"
    # After the guard's read, before the modify reaches AD, someone adds an address.
    proxy.fault(ldap_proxy.PASS, on_write=lambda _message: sandbox.set(dn, "proxyAddresses", [primary, bad, intruder]))
    change = actions.request_change(finding, "edit", personas["admin"], "smtp:win.old@corp.example.com")
    assert change.result == "applied"
    assert "someone else changed it at the same moment" in change.error and intruder in change.error
    assert sorted(sandbox.value(dn, "proxyAddresses")) == sorted([primary, intruder, "smtp:win.old@corp.example.com"])


def test_a_change_left_queued_by_a_dead_request_is_settled_by_the_sweep(personas, proxied_forest, sandbox):
    from datetime import timedelta

    from django.utils import timezone

    dn = _bad_user(sandbox, "Zed")
    scan(proxied_forest)
    finding = finding_on(dn, "userPrincipalName")
    orphan = Change.record(finding, "edit", personas["admin"], [finding.value], [_fixed("Zed")], "queued")
    fresh = Change.record(finding, "edit", personas["admin"], [finding.value], [_fixed("Zed")], "queued")
    Change.objects.filter(pk=orphan.pk).update(created=timezone.now() - timedelta(minutes=20))
    tasks.confirm_unknown_changes()
    orphan.refresh_from_db()
    fresh.refresh_from_db()
    assert orphan.result == "not_applied" and orphan.error.startswith("Not applied: a re-read")
    assert fresh.result == "queued"  # a request may still be writing it
    assert sandbox.value(dn, "userPrincipalName") == ["zed bad@corp.example.com"]


# What the rollout's test group must be once settled: created (and AD holds it, with the SID we
# recorded) when AD made it, failed (and AD holds nothing) when it did not.
TRIP_SETTLED = {
    ldap_proxy.DROP_BEFORE_REPLY: "created",  # AD made it; a re-read on a new connection finds it
    ldap_proxy.DROP_AFTER_REPLY: "created",  # the answer came; reading its objectSid back was lost
    ldap_proxy.DELAY_REPLY: "created",  # the answer came after the write time-out; AD had made it
    ldap_proxy.REFUSE: "failed",  # no connection: nothing reached AD
    DC_KILLED: "failed",  # the DC died before it got the add; settled by the sweep once it is back
}


@pytest.mark.parametrize("fault", list(TRIP_SETTLED))
def test_the_rollout_test_group_with_a_lost_answer_is_settled_by_reading_ad(
    fault, personas, proxied_forest, sandbox, proxy, corp_forest
):
    import uuid

    from ldap3.protocol.formatters.formatters import format_sid

    from identityhub.rollout import roundtrip
    from identityhub.rollout.models import TestGroupRoundTrip

    suffix = uuid.uuid4().hex[:8]
    trip = TestGroupRoundTrip.objects.create(
        tenant=proxied_forest.tenant, forest=proxied_forest, requested_by=personas["admin"],
        name=f"IdentityHub sync test {suffix}", sam_account_name=f"idhub-test-{suffix}", container=sandbox.ou,
    )  # fmt: skip
    dn = f"CN={trip.name},{sandbox.ou}"
    inject(fault, proxy, corp_forest)
    roundtrip.create_in_ad(trip.pk)
    trip.refresh_from_db()
    if trip.status == "unknown":
        assert "being confirmed" in trip.error
    settle_after(fault, proxy, corp_forest, sandbox)
    roundtrip.confirm_unknown()  # the rollout's sweep (beat), as confirm_unknown_changes is for changes
    trip.refresh_from_db()
    assert trip.status == TRIP_SETTLED[fault], trip.error
    conn = corp_forest.connection()
    try:
        found = conn.search(dn, "(objectClass=group)", "BASE", attributes=["objectSid"]) and conn.entries
    except Exception:  # noqa: BLE001 - ldap3 raises noSuchObject on a strategy that raises
        found = []
    finally:
        conn.unbind()
    if found:
        sandbox.dns.append(dn)  # removed with the sandbox
    if trip.status == "created":
        assert found and trip.dn == dn and trip.created_at
        assert trip.sid == format_sid(found[0].objectSid.raw_values[0]) and trip.sid.startswith("S-1-5-")
    else:
        assert not found, "AD holds a test group the trip says was never created"


# Removing the test group (after Entra ID showed it, or after it expired unseen) must end in a record
# AD agrees with, whatever fails: removed when AD holds no group any more, not removed when it does.
REMOVAL_SETTLED = {
    ldap_proxy.DROP_BEFORE_REPLY: "removed",  # AD deleted it; a re-read on a new connection finds it gone
    ldap_proxy.DROP_AFTER_REPLY: "removed",  # the answer came, then the connection dropped
    ldap_proxy.DELAY_REPLY: "removed",  # the answer came after the write time-out; AD had deleted it
    ldap_proxy.REFUSE: "not removed",  # no connection: nothing reached AD
    DC_KILLED: "not removed",  # the DC died before it got the delete; settled by the sweep once it is back
}
# Where the answer was lost the record may say nothing final until AD is read: at once when a DC
# answers the re-read, else (the DC is dead) it stays unknown until the sweep reads AD.
REMOVAL_AT_ONCE = {**REMOVAL_SETTLED, DC_KILLED: "removal_unknown"}
CONFIRMED_BY_REREAD = {ldap_proxy.DROP_BEFORE_REPLY, ldap_proxy.DELAY_REPLY}


def created_test_group(tenant, forest, admin, container):
    """A trip whose group AD holds (created through the relay while it passes), waiting to be seen."""
    import uuid

    from identityhub.rollout import roundtrip
    from identityhub.rollout.models import TestGroupRoundTrip

    suffix = uuid.uuid4().hex[:8]
    trip = TestGroupRoundTrip.objects.create(
        tenant=tenant, forest=forest, requested_by=admin,
        name=f"IdentityHub sync test {suffix}", sam_account_name=f"idhub-test-{suffix}", container=container,
    )  # fmt: skip
    assert roundtrip.create_in_ad(trip.pk) == "created"
    trip.refresh_from_db()
    return trip


def in_ad(corp_forest, dn) -> bool:
    conn = corp_forest.connection()
    try:
        return bool(conn.search(dn, "(objectClass=group)", "BASE", attributes=["cn"]) and conn.entries)
    except Exception:  # noqa: BLE001 - ldap3 raises noSuchObject on a strategy that raises
        return False
    finally:
        conn.unbind()


def removal_of(trip) -> str:
    """What the trip's record says of the removal: removed, not removed, or removal_unknown."""
    if trip.status == "removal_unknown":
        return "removal_unknown"
    assert trip.status in ("removed", "cleanup_failed", "expired"), (trip.status, trip.error)
    return "removed" if trip.removed_at else "not removed"


def round_trip_row(client, trip) -> str:
    """The trip's row in the rollout page's test-group table."""
    page = client.get("/t/acme/rollout/").content.decode()
    section = page.split('id="round-trip"')[1].split("</section>")[0]
    return next(row for row in section.split("<tr>") if trip.name in row)


@pytest.mark.parametrize("seen", [True, False], ids=["seen", "expired"])
@pytest.mark.parametrize("fault", list(REMOVAL_SETTLED))
def test_removing_the_rollout_test_group_ends_in_a_record_ad_agrees_with(
    fault, seen, client, personas, proxied_forest, sandbox, proxy, corp_forest, standin
):
    from datetime import timedelta

    from django.utils import timezone

    from identityhub.rollout import roundtrip
    from identityhub.rollout.models import RolloutEvent

    from .graph_standin import group
    from .health_support import connect

    tenant = proxied_forest.tenant
    connect(tenant, standin)
    trip = created_test_group(tenant, proxied_forest, personas["admin"], sandbox.ou)
    now = timezone.now()
    if seen:  # Entra Connect synced it: the next pull sees it and removes it from AD
        synced = group(trip.name)
        synced["onPremisesSecurityIdentifier"] = trip.sid
        standin.state.groups.append(synced)
    else:  # never synced: once the timeout is past it expires and is removed all the same
        now += timedelta(hours=3)
    inject(fault, proxy, corp_forest)
    assert roundtrip.follow(tenant.pk, now=now) == 1
    trip.refresh_from_db()
    assert removal_of(trip) == REMOVAL_AT_ONCE[fault], trip.error
    client.force_login(personas["admin"])
    if trip.status == "removal_unknown":
        assert "being confirmed" in trip.error
        assert "reading AD to confirm" in round_trip_row(client, trip)
    settle_after(fault, proxy, corp_forest, sandbox)
    roundtrip.confirm_unknown()  # the rollout's sweep (beat)
    trip.refresh_from_db()
    assert removal_of(trip) == REMOVAL_SETTLED[fault], trip.error
    assert bool(trip.seen_at) == seen
    still_there = in_ad(corp_forest, trip.dn)
    if still_there:
        sandbox.dns.append(trip.dn)  # removed with the sandbox
    assert still_there == (REMOVAL_SETTLED[fault] == "not removed"), trip.error
    row = round_trip_row(client, trip)
    if REMOVAL_SETTLED[fault] == "removed":
        assert trip.status == ("removed" if seen else "expired") and "Not removed" not in row
    else:
        assert trip.status == ("cleanup_failed" if seen else "expired")
        assert f"Not removed: {trip.dn} is still in AD" in trip.error and "Not removed" in row
    timeline = list(RolloutEvent.objects.filter(tenant=tenant, kind="roundtrip").values_list("text", flat=True))
    if fault in CONFIRMED_BY_REREAD:
        assert "removed: confirmed by a re-read after the lost connection" in trip.error.lower()
        assert any("confirmed by a re-read" in t.lower() and "removed from AD" in t for t in timeline), timeline


def test_a_lost_removal_answer_is_settled_by_the_task_once_a_dc_answers(
    personas, proxied_forest, sandbox, proxy, corp_forest, standin
):
    from identityhub.rollout import roundtrip
    from identityhub.rollout import tasks as rollout_tasks

    from .graph_standin import group
    from .health_support import connect

    tenant = proxied_forest.tenant
    connect(tenant, standin)
    trip = created_test_group(tenant, proxied_forest, personas["admin"], sandbox.ou)
    synced = group(trip.name)
    synced["onPremisesSecurityIdentifier"] = trip.sid
    standin.state.groups.append(synced)
    # The delete reaches AD, its answer is lost, and every new connection is refused for a while.
    proxy.fault(ldap_proxy.DROP_BEFORE_REPLY)
    proxy.on_write = lambda _message: proxy.fault(ldap_proxy.REFUSE, times=1000)
    roundtrip.follow(tenant.pk)
    trip.refresh_from_db()
    assert trip.status == "removal_unknown" and "being confirmed" in trip.error
    assert not in_ad(corp_forest, trip.dn)  # AD deleted it; the record cannot know yet
    # The retrying task: no DC answers through all its retries, so it leaves it to the sweep...
    assert rollout_tasks.confirm_test_group.apply((trip.pk,)).get() == "removal_unknown"
    # ...and once one does, it settles it.
    proxy.fault(ldap_proxy.PASS, times=0)
    assert rollout_tasks.confirm_test_group.apply((trip.pk,)).get() == "removed"
    trip.refresh_from_db()
    assert trip.removed_at and "confirmed by a re-read" in trip.error


def test_a_test_group_already_gone_from_ad_counts_as_removed(personas, proxied_forest, sandbox, corp_forest, standin):
    """A removal retried after AD deleted the group (a re-delivered task): noSuchObject is removed."""
    from django.utils import timezone

    from identityhub.rollout import roundtrip
    from identityhub.rollout.models import TestGroupRoundTrip

    from .health_support import connect

    tenant = proxied_forest.tenant
    connect(tenant, standin)
    trip = created_test_group(tenant, proxied_forest, personas["admin"], sandbox.ou)
    # A first follow saw it and deleted it, then its worker died before recording the removal;
    # Entra ID no longer shows it when the task is delivered again.
    TestGroupRoundTrip.objects.filter(pk=trip.pk).update(seen_at=timezone.now())
    conn = corp_forest.connection()
    assert conn.delete(trip.dn)
    conn.unbind()
    assert roundtrip.follow(tenant.pk) == 1
    trip.refresh_from_db()
    assert trip.status == "removed" and trip.removed_at, trip.error
    assert "already gone" in trip.error
