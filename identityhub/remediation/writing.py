"""Writing one Change to AD, and recording an outcome that is true whatever fails in between.

Every way a write can end maps to one result (Change.Result):

* applied: AD answered success (or a re-read after a lost answer found the intended values);
* refused: AD said no, and why; conflict: the value moved on, and what AD holds now;
* not sent: no DC could be reached before the change was sent, so AD never saw it;
* unknown: the change was sent and the answer lost (connection dropped, time-out). It is settled by
  reading the object back on a new connection (read_back; the rollout's test group uses it too) at
  once, and else by confirm_change (a Celery task with back-off) and the periodic sweep: intended
  values -> applied, the values it started from -> not applied, anything else -> conflict.

No ldap3 exception leaves this module: lib.directory maps them to its own errors, caught here.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from ldap3.core.exceptions import LDAPException

from identityhub.lib import directory
from identityhub.lib.entry import Entry
from identityhub.scans.sources import RULE_ATTRIBUTES, directory_settings

from . import planned
from .models import Change
from .recheck import refresh_object

log = logging.getLogger(__name__)

CONFIRMED = "Applied: confirmed by re-read after a lost connection."
CONFIRMING = "The outcome is being confirmed: IdentityHub reads the object back until a DC answers."
NOT_APPLIED = "Not applied: a re-read after the lost connection found the values the change started from."


def write_settings(forest, dn: str) -> directory.DirectorySettings:
    return replace(directory.for_writing(directory_settings(forest), dn), timeout=settings.LDAP_TIMEOUT)


def apply_change(change: Change, *, duplicates: bool = True) -> Change:
    """Write one queued change to AD, guarded; record what happened; re-check the object from AD."""
    if planned.applies_to(change.forest):
        return planned.plan(change)  # no DC to write to: into the LDIF for the forest's admin
    try:
        directory.check_dn(change.dn)  # e.g. from an uploaded export: refused before anything is sent
    except directory.WriteRefusedError as exc:
        return _record(change, Change.Result.REFUSED, str(exc))
    try:
        conn = directory.connect(write_settings(change.forest, change.dn))
    except directory.DirectoryError as exc:
        return _record(change, Change.Result.NOT_SENT, f"{exc} Nothing was sent to AD.")
    try:
        written = directory.guarded_modify(conn, change.dn, change.attribute, change.old_values, change.new_values)
    except directory.OutcomeUnknownError as exc:
        _close(conn)
        _record(change, Change.Result.UNKNOWN, f"{exc} {CONFIRMING}")
        try:
            return confirm(change, duplicates=duplicates)
        except directory.DirectoryError:
            schedule_confirmation(change)
            return change
    except directory.ConflictError as exc:
        _record(change, Change.Result.CONFLICT, str(exc), current_values=exc.current)
    except directory.LostBeforeSendingError as exc:
        _record(change, Change.Result.NOT_SENT, str(exc))
    except directory.DirectoryError as exc:
        _record(change, Change.Result.REFUSED, str(exc))
    else:
        _mark_applied(change, "" if written.verified else _mismatch(written))
    # After a write, and after a conflict too: the findings then show what AD holds now,
    # so a retry starts from the current value.
    try:
        entry = _read(conn, change)
    except directory.DirectoryError:
        schedule_confirmation(change)  # the task re-reads and refreshes once a DC answers
        return change
    finally:
        _close(conn)
    refresh_object(change.forest, entry, change.guid, duplicates=duplicates)
    return change


def confirm(change: Change, *, duplicates: bool = True) -> Change:
    """Read the object back on a new connection: settle an unknown outcome, refresh the findings.

    Raises directory.DirectoryError while no DC answers (the caller tries again later).
    """
    entry = read_back(change.forest, change.dn, _attributes(change))
    if change.result == Change.Result.UNKNOWN:
        settle(change, entry)
    refresh_object(change.forest, entry, change.guid, duplicates=duplicates)
    return change


def resume(change: Change) -> Change:
    """A queued change whose process stopped mid-write (a bulk worker killed): it may have been sent.

    AD still holding the values it started from means it was not: it is written now, guarded as
    ever. Anything else settles it like an unknown outcome. Either way it is written at most once.
    """
    try:
        entry = read_back(change.forest, change.dn, _attributes(change))
    except directory.DirectoryError as exc:
        _record(change, Change.Result.UNKNOWN, f"The worker applying it stopped; {exc} {CONFIRMING}")
        schedule_confirmation(change)
        return change
    if entry is not None and _holds(entry, change)[1]:
        return apply_change(change, duplicates=False)
    _record(change, Change.Result.UNKNOWN, f"The worker applying it stopped. {CONFIRMING}")
    settle(change, entry)
    refresh_object(change.forest, entry, change.guid, duplicates=False)
    return change


def _holds(entry: Entry, change: Change) -> tuple[bool, bool]:
    """(AD holds the intended values, AD holds the values the change started from), exactly."""
    held = [str(v) for v in entry.values(change.attribute)]
    old, new = change.old_values, change.new_values
    intended = all(v in held for v in new) and not any(v in held for v in old if v not in new)
    original = all(v in held for v in old) and not any(v in held for v in new if v not in old)
    return intended, original


def settle(change: Change, entry: Entry | None) -> Change:
    """Decide an unknown outcome from what AD holds now (compared exactly, case included)."""
    if entry is None:
        gone = "After the lost connection the object no longer exists."
        return _record(change, Change.Result.CONFLICT, gone, current_values=None)
    held = [str(v) for v in entry.values(change.attribute)]
    intended, original = _holds(entry, change)
    if intended:
        return _mark_applied(change, CONFIRMED)
    if original:
        return _record(change, Change.Result.NOT_APPLIED, NOT_APPLIED)
    return _record(
        change,
        Change.Result.CONFLICT,
        f"After the lost connection AD holds {held or 'no value'}: neither the values the change started "
        "from nor the ones it meant to write.",
        current_values=held,
    )


def schedule_confirmation(change: Change) -> None:
    from .tasks import confirm_change

    transaction.on_commit(lambda: confirm_change.apply_async((change.pk,), countdown=30))


def read_back(forest, dn: str, attributes: list[str]) -> Entry | None:
    """The object as AD holds it now, read on a new connection (the one a lost answer came on is
    not trusted); None when it does not exist. Settles every write whose answer was lost: a
    change's, and the rollout's test group. Raises directory.DirectoryError while no DC answers."""
    conn = directory.connect(write_settings(forest, dn))
    try:
        return _read_dn(conn, dn, attributes)
    finally:
        _close(conn)


def _attributes(change: Change) -> list[str]:
    return [*RULE_ATTRIBUTES, change.attribute]


def _read(conn, change: Change) -> Entry | None:
    return _read_dn(conn, change.dn, _attributes(change))


def _read_dn(conn, dn: str, attributes: list[str]) -> Entry | None:
    try:
        return directory.read_values(conn, dn, attributes)
    except LDAPException as exc:
        raise directory.UnreachableError(f"Could not read {dn} back: {exc}") from exc


def _close(conn) -> None:
    directory.close(conn)


def _mismatch(written: directory.WriteResult) -> str:
    if written.after is None:
        return "Applied (AD answered success); reading it back failed, the findings are refreshed later."
    return (
        f"Applied, but a read-back found {written.after} instead of the intended {written.intended}: "
        "someone else changed it at the same moment."
    )


def _mark_applied(change: Change, note: str) -> Change:
    _record(change, Change.Result.APPLIED, note, applied_at=timezone.now())
    if change.result == Change.Result.APPLIED and change.reverts_id:
        Change.objects.filter(pk=change.reverts_id, result=Change.Result.APPLIED).update(result=Change.Result.REVERTED)
    return change


def _record(change: Change, result: str, error: str, **fields) -> Change:
    """Record the outcome once: only from the state this process last saw (queued, unknown, awaiting)."""
    seen = change.result
    updated = Change.objects.filter(pk=change.pk, result=seen).update(result=result, error=error, **fields)
    change.refresh_from_db()
    if not updated:
        log.info("change %s already had its outcome (%s), not %s", change.pk, change.result, result)
    return change
