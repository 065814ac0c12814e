"""The test-group round trip of the step 7 exit criterion: "create a new test group in AD DS, wait
for the synchronization interval, verify the test group name appears in the Azure AD tenant".

start() records the request and queues create_in_ad(), which adds a global security group over
LDAP (lib/directory.create_group: the name escaped into the DN) and reads back its objectSid.
After every successful health pull, follow() lists the tenant's groups in Graph and looks for it:
a group whose onPremisesSecurityIdentifier is the SID we read, or, where Graph shows no SID, a
synced group with our generated display name (unique: it carries a random suffix). Seen: it
deletes the group from AD (remove()) and the trip is done. Not seen within the checkpoint's
timeout: it deletes the group all the same and the trip has expired.

Either write (the add, the delete) whose answer is lost leaves the trip unsettled (unknown,
removal_unknown) and is settled as a change's write is (_answer_lost): AD is read on a new
connection (remediation.writing.read_back) at once, else by confirm_test_group with the same
back-off, else by the beat's sweep (confirm_unknown). Our group there or not decides it: created
or failed; still there (not removed: deleting it again is safe) or gone (removed). A delete that
finds the group gone already (noSuchObject, e.g. a re-delivered task) counts as removed.
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
REMOVAL_CONFIRMED = "Removed: confirmed by a re-read after the lost connection."


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
        return _answer_lost(trip, TestGroupRoundTrip.Status.REQUESTED, TestGroupRoundTrip.Status.UNKNOWN,
                            "Creating the test group", exc, str(exc), dn=dn)  # fmt: skip
    except directory.DirectoryError as exc:
        _fail(trip, TestGroupRoundTrip.Status.REQUESTED, str(exc))
        return trip.status
    _created(trip, TestGroupRoundTrip.Status.REQUESTED, dn, sid, "")
    return TestGroupRoundTrip.Status.CREATED


def _answer_lost(trip, seen: str, status: str, action: str, exc, error: str, **fields) -> str:
    """A write of the test group was sent and its answer lost: record the trip as `status` (unsettled)
    and settle it from AD, read on a new connection, at once; while no DC answers, by
    confirm_test_group with back-off and then the beat's sweep."""
    _settle(trip, seen, status, error=f"{error} {writing.CONFIRMING}".strip(), **fields)
    progress.event(trip.tenant, RolloutEvent.Kind.ROUND_TRIP, f"{action}: {exc} Reading AD to confirm.")
    try:
        return confirm(trip)
    except directory.DirectoryError:
        schedule_confirmation(trip)
        return trip.status


def confirm(trip) -> str:
    """Settle a write whose answer was lost from what AD holds now, read on a new connection: our
    group (its sAMAccountName, unique by its random suffix) there or not. A lost create: there ->
    created, not there -> failed. A lost delete: there -> not removed, not there -> removed.

    Raises directory.DirectoryError while no DC answers (the caller tries again later)."""
    if trip.status not in TestGroupRoundTrip.UNSETTLED:
        return trip.status
    entry = writing.read_back(trip.forest, trip.dn, ["objectSid", "sAMAccountName"])
    if trip.status == TestGroupRoundTrip.Status.UNKNOWN:
        _confirm_create(trip, entry)
    else:
        _confirm_removal(trip, entry)
    return trip.status


def _ours(trip, entry) -> bool:
    held = str(entry.first("sAMAccountName", "")) if entry else ""
    return held.lower() == trip.sam_account_name.lower()


def _confirm_create(trip, entry) -> None:
    if _ours(trip, entry):
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


def _confirm_removal(trip, entry) -> None:
    seen = TestGroupRoundTrip.Status.REMOVAL_UNKNOWN
    if _ours(trip, entry):
        _removal_ended(
            trip, seen, removed=False,
            outcome=f"Not removed: {trip.dn} is still in AD (a re-read after the lost connection found it); "
            "removing it again is safe: delete it by hand.",
            event=f"A re-read after the lost connection found the test group still in AD: {trip.dn}.",
        )  # fmt: skip
    else:  # no object at its DN (or, in theory, another one): our group is gone
        _removal_ended(
            trip, seen, removed=True, outcome=REMOVAL_CONFIRMED,
            event=f"Confirmed by a re-read after the lost connection: test group removed from AD: {trip.dn}.",
        )  # fmt: skip
    progress.recompute(trip.tenant)  # settled later than follow(), which recomputes after its removals


def schedule_confirmation(trip) -> None:
    from .tasks import confirm_test_group

    transaction.on_commit(lambda: confirm_test_group.apply_async((trip.pk,), countdown=30))


def confirm_unknown(limit: int = 100) -> int:
    """Periodic (beat): settle every test group whose create or delete answer was lost, once a DC answers."""
    settled = 0
    unknown = TestGroupRoundTrip.objects.filter(status__in=TestGroupRoundTrip.UNSETTLED)
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
        if trip.seen_at:  # seen by a run that stopped before its removal was recorded (its worker died)
            remove(trip)
            ended += 1
            continue
        found = find_in_graph(groups, trip)
        if found is not None:
            _finish(trip, trip.status, seen_at=now, graph_id=found.get("id") or "")
            took = now - trip.created_at
            progress.event(
                tenant, RolloutEvent.Kind.ROUND_TRIP,
                f"Test group {trip.name} appeared in Entra ID (after {int(took.total_seconds() // 60)} min).",
            )  # fmt: skip
            remove(trip)
            ended += 1
        elif now - trip.created_at > timeout:
            _finish(trip, trip.status, error=f"Not seen in Entra ID within {timeout}; is its OU in the sync scope?")
            progress.event(tenant, RolloutEvent.Kind.ROUND_TRIP, f"Test group {trip.name} did not appear in time.")
            remove(trip)
            ended += 1
    if ended:
        progress.recompute(tenant)
    return ended


def remove(trip) -> None:
    """Delete the test group from AD; the trip (seen, or past its timeout) ends removed / expired with
    removed_at (gone from AD) or cleanup_failed / expired without it (still in AD), or
    removal_unknown when the answer was lost, until AD, read again, settles it."""
    seen = trip.status
    try:
        conn = _connect(trip.forest, trip.dn)
        try:
            deleted = directory.delete_object(conn, trip.dn)
        finally:
            directory.close(conn)  # a lost connection must not hide the DirectoryError above
    except directory.OutcomeUnknownError as exc:
        # Sent, the answer lost: AD may have deleted it. Only a re-read can tell.
        _answer_lost(trip, seen, TestGroupRoundTrip.Status.REMOVAL_UNKNOWN, "Removing the test group", exc,
                     f"{trip.error} Removing {trip.dn}: {exc}")  # fmt: skip
        return
    except directory.DirectoryError as exc:
        # Refused by AD, or no DC reached before the delete was sent: the group is still there.
        _removal_ended(
            trip, seen, removed=False,
            outcome=f"Not removed: {trip.dn} is still in AD; removing it failed: {exc} Delete it by hand.",
            event=f"Removing the test group failed: {exc}",
        )  # fmt: skip
        return
    if deleted:
        _removal_ended(trip, seen, removed=True, outcome="", event=f"Test group removed from AD: {trip.dn}.")
    else:  # noSuchObject: deleted already (e.g. by a run that stopped before recording it)
        _removal_ended(
            trip, seen, removed=True, outcome="It was already gone from AD (noSuchObject): counted as removed.",
            event=f"Test group already gone from AD: {trip.dn}; counted as removed.",
        )  # fmt: skip


def _removal_ended(trip, seen: str, *, removed: bool, outcome: str, event: str) -> None:
    """End the trip's removal once, from the state this process last saw. Seen in Entra ID: removed or
    cleanup_failed; never seen: expired either way, removed_at telling whether AD still holds it.
    `outcome` follows the trip's error (which says why it expired, or what was lost)."""
    error = f"{trip.error.removesuffix(writing.CONFIRMING).rstrip()} {outcome}".strip()
    Status = TestGroupRoundTrip.Status
    if removed:
        status, fields = (Status.REMOVED if trip.seen_at else Status.EXPIRED), {"removed_at": timezone.now()}
    else:
        status, fields = (Status.CLEANUP_FAILED if trip.seen_at else Status.EXPIRED), {}
    if _settle(trip, seen, status, error=error, **fields):
        progress.event(trip.tenant, RolloutEvent.Kind.ROUND_TRIP, event)
