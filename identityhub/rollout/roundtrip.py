"""The test-group round trip of the step 7 exit criterion: "create a new test group in AD DS, wait
for the synchronization interval, verify the test group name appears in the Azure AD tenant".

start() records the request and queues create_in_ad(), which adds a global security group over
LDAP (lib/directory.create_group: the name escaped into the DN) and reads back its objectSid. When
the answer is lost the trip is unknown and settled as a change's write is: AD is read on a new
connection (remediation.writing.read_back) at once, else by confirm_test_group with the same
back-off, else by the beat's sweep (confirm_unknown).
After every successful health pull, follow() lists the tenant's groups in Graph and looks for it:
a group whose onPremisesSecurityIdentifier is the SID we read, or, where Graph shows no SID, a
synced group with our generated display name (unique: it carries a random suffix). Seen: it
deletes the group from AD and the trip is done. Not seen within the checkpoint's timeout: it
deletes the group all the same and the trip has expired.
"""

from __future__ import annotations

import logging
import secrets

from django.db import transaction
from django.utils import timezone

from identityhub.health import pulls
from identityhub.lib import directory, graph
from identityhub.remediation import writing
from identityhub.tenants.models import Tenant

from . import progress
from .models import RolloutEvent, TestGroupRoundTrip

log = logging.getLogger(__name__)

GROUP_SELECT = "id,displayName,mailNickname,onPremisesSecurityIdentifier,onPremisesSyncEnabled"
DESCRIPTION = "Created by IdentityHub to test directory synchronization; it removes the group itself."


class Busy(Exception):
    """A round trip of this tenant is already under way."""


def default_container(forest, checkpoint) -> str:
    if checkpoint.test_group_container:
        return checkpoint.test_group_container
    return (forest.include_ou_list or forest.base_dn_list or [""])[0]


def start(forest, user) -> TestGroupRoundTrip:
    tenant = forest.tenant
    checkpoint = progress.checkpoint_of(tenant)
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        if TestGroupRoundTrip.objects.filter(tenant=tenant, status__in=TestGroupRoundTrip.ACTIVE).exists():
            raise Busy("A test group round trip is already under way.")
        suffix = secrets.token_hex(4)
        trip = TestGroupRoundTrip.objects.create(
            tenant=tenant,
            forest=forest,
            requested_by=user,
            name=f"IdentityHub sync test {suffix}",
            sam_account_name=f"idhub-test-{suffix}",
            container=default_container(forest, checkpoint),
        )
        progress.event(
            tenant, RolloutEvent.Kind.ROUND_TRIP, f"Test group round trip requested in {forest.name}.", user=user
        )
        from .tasks import create_test_group

        transaction.on_commit(lambda: create_test_group.delay(trip.pk))
    return trip


def _connect(forest, dn: str):
    # The settings of every write (a DC of the object's domain, the write time-out).
    return directory.connect(writing.write_settings(forest, dn))


def create_in_ad(trip_id: int) -> str | None:
    claimed = TestGroupRoundTrip.objects.filter(pk=trip_id, status=TestGroupRoundTrip.Status.REQUESTED)
    trip = claimed.select_related("forest", "tenant").first()
    if trip is None:
        return None  # a re-delivered task: created already, or ended
    try:
        conn = _connect(trip.forest, trip.container)
        try:
            dn, sid = directory.create_group(conn, trip.container, trip.name, trip.sam_account_name, DESCRIPTION)
        finally:
            directory.close(conn)  # a lost connection must not hide the DirectoryError above
    except directory.OutcomeUnknownError as exc:
        # Sent, the answer lost: AD may hold the group. Its DN is known (the add named it), so AD is read.
        dn = directory.child_dn(trip.name, trip.container)
        _settle(trip, TestGroupRoundTrip.Status.REQUESTED, TestGroupRoundTrip.Status.UNKNOWN,
                dn=dn, error=f"{exc} {writing.CONFIRMING}")  # fmt: skip
        progress.event(
            trip.tenant, RolloutEvent.Kind.ROUND_TRIP, f"Creating the test group: {exc} Reading AD to confirm."
        )
        try:
            return confirm(trip)
        except directory.DirectoryError:
            schedule_confirmation(trip)
            return trip.status
    except directory.DirectoryError as exc:
        _fail(trip, TestGroupRoundTrip.Status.REQUESTED, str(exc))
        return trip.status
    _created(trip, TestGroupRoundTrip.Status.REQUESTED, dn, sid, "")
    return TestGroupRoundTrip.Status.CREATED


def confirm(trip) -> str:
    """Settle a create whose answer was lost from what AD holds now, read on a new connection: our
    group there (its sAMAccountName, unique by its random suffix) -> created, nothing -> failed.

    Raises directory.DirectoryError while no DC answers (the caller tries again later)."""
    if trip.status != TestGroupRoundTrip.Status.UNKNOWN:
        return trip.status
    entry = writing.read_back(trip.forest, trip.dn, ["objectSid", "sAMAccountName"])
    held = str(entry.first("sAMAccountName", "")) if entry else ""
    if held.lower() == trip.sam_account_name.lower():
        _created(trip, TestGroupRoundTrip.Status.UNKNOWN, trip.dn, directory.sid_of(entry),
                 "Confirmed by a re-read after the lost connection.")  # fmt: skip
    elif entry is None:
        _fail(
            trip, TestGroupRoundTrip.Status.UNKNOWN, "Not created: a re-read after the lost connection found no group."
        )
    else:
        _fail(
            trip,
            TestGroupRoundTrip.Status.UNKNOWN,
            f"Not created: after the lost connection {trip.dn} is another object.",
        )
    return trip.status


def schedule_confirmation(trip) -> None:
    from .tasks import confirm_test_group

    transaction.on_commit(lambda: confirm_test_group.apply_async((trip.pk,), countdown=30))


def confirm_unknown(limit: int = 100) -> int:
    """Periodic (beat): settle every test group whose create answer was lost, once a DC answers."""
    settled = 0
    unknown = TestGroupRoundTrip.objects.filter(status=TestGroupRoundTrip.Status.UNKNOWN)
    for trip in unknown.select_related("forest", "tenant")[:limit]:
        try:
            confirm(trip)
        except directory.DirectoryError:
            continue  # still no DC: the next sweep tries again
        settled += 1
    return settled


def _settle(trip, seen: str, status: str, **fields) -> bool:
    """Move the trip on once: only from the state this process last saw (like writing._record)."""
    updated = TestGroupRoundTrip.objects.filter(pk=trip.pk, status=seen).update(status=status, **fields)
    trip.refresh_from_db()
    return bool(updated)


def _created(trip, seen: str, dn: str, sid: str, note: str) -> None:
    if not _settle(trip, seen, TestGroupRoundTrip.Status.CREATED, dn=dn, sid=sid, error="", created_at=timezone.now()):
        return
    text = f"Test group created in AD: {dn}; waiting for it in Entra ID."
    progress.event(trip.tenant, RolloutEvent.Kind.ROUND_TRIP, f"{note} {text}".strip())
    progress.recompute(trip.tenant)


def _fail(trip, seen: str, error: str) -> None:
    if not _settle(trip, seen, TestGroupRoundTrip.Status.FAILED, error=error):
        return
    progress.event(trip.tenant, RolloutEvent.Kind.ROUND_TRIP, f"Creating the test group failed: {error}")
    progress.recompute(trip.tenant)


def _finish(trip, status, **fields) -> None:
    TestGroupRoundTrip.objects.filter(pk=trip.pk).update(status=status, **fields)
    trip.status = status
    for name, value in fields.items():
        setattr(trip, name, value)


def find_in_graph(groups, trip) -> dict | None:
    for group in groups:
        sid = group.get("onPremisesSecurityIdentifier")
        if sid and trip.sid and sid.upper() == trip.sid.upper():
            return group
        if not sid and group.get("onPremisesSyncEnabled") is True and group.get("displayName") == trip.name:
            return group
    return None


def follow(tenant_id: int, now=None) -> int:
    """After a successful pull: look for each waiting test group in Graph; returns how many ended."""
    trips = list(
        TestGroupRoundTrip.objects.filter(tenant_id=tenant_id, status=TestGroupRoundTrip.Status.CREATED).select_related(
            "tenant", "forest"
        )
    )
    if not trips:
        return 0
    tenant = trips[0].tenant
    try:
        with pulls.client_for(tenant) as client:
            groups = list(client.get_all("/groups", {"$select": GROUP_SELECT, "$top": "999"}))
    except graph.GraphError as exc:
        log.warning("round trip of %s: reading groups from Graph failed: %s", tenant, exc)
        return 0
    now = now or timezone.now()
    timeout = progress.checkpoint_of(tenant).round_trip_timeout
    ended = 0
    for trip in trips:
        found = find_in_graph(groups, trip)
        if found is not None:
            _finish(trip, trip.status, seen_at=now, graph_id=found.get("id") or "")
            took = now - trip.created_at
            progress.event(
                tenant, RolloutEvent.Kind.ROUND_TRIP,
                f"Test group {trip.name} appeared in Entra ID (after {int(took.total_seconds() // 60)} min).",
            )  # fmt: skip
            remove(trip, TestGroupRoundTrip.Status.REMOVED)
            ended += 1
        elif now - trip.created_at > timeout:
            _finish(trip, trip.status, error=f"Not seen in Entra ID within {timeout}; is its OU in the sync scope?")
            progress.event(tenant, RolloutEvent.Kind.ROUND_TRIP, f"Test group {trip.name} did not appear in time.")
            remove(trip, TestGroupRoundTrip.Status.EXPIRED)
            ended += 1
    if ended:
        progress.recompute(tenant)
    return ended


def remove(trip, status: str) -> None:
    """Delete the test group from AD and end the trip in `status` (cleanup_failed if AD refuses)."""
    try:
        conn = _connect(trip.forest, trip.dn)
        try:
            directory.delete_object(conn, trip.dn)
        finally:
            directory.close(conn)  # a lost connection must not hide the DirectoryError above
    except directory.DirectoryError as exc:
        error = f"{trip.error} Removing {trip.dn} failed: {exc}".strip()
        final = TestGroupRoundTrip.Status.CLEANUP_FAILED if trip.seen_at else status
        _finish(trip, final, error=error)
        progress.event(trip.tenant, RolloutEvent.Kind.ROUND_TRIP, f"Removing the test group failed: {exc}")
        return
    _finish(trip, status, removed_at=timezone.now())
    progress.event(trip.tenant, RolloutEvent.Kind.ROUND_TRIP, f"Test group removed from AD: {trip.dn}.")
