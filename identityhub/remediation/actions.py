"""What an admin can do to a finding: edit, remove, accept, waive; and undo, approve, reject.

Every write is one guarded LDAP modify (lib.directory.guarded_modify) recorded as a Change
(writing.apply_change: every outcome, including a lost connection, ends in a true result).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from identityhub.scans import counts
from identityhub.scans.models import Finding
from identityhub.tenants.models import Tenant

from . import exceptions
from .models import Change, Waiver
from .vetting import vet_change, vet_removal, vet_value
from .writing import _record, apply_change

__all__ = ["ActionRefused", "apply_change", "approve", "reject", "request_change", "undo", "vet_removal", "vet_value"]


class ActionRefused(Exception):
    """The action would itself leave a finding, or is not allowed; `reasons` say why."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def proposed_values(finding: Finding, action: str, new_value: str | None) -> tuple[list[str], list[str]]:
    # A finding about a missing value (a user without a UPN, a blank alias) holds "": AD has no value
    # there, so the change starts from none and adds one.
    old = [finding.value] if finding.value != "" else []
    if action == Change.Action.REMOVE:
        return old, []
    return old, [new_value]


def request_change(
    finding: Finding, action: str, user, new_value: str | None = None, *, apply_now: bool = True, apply_run=None
) -> Change:
    """Vet, record and (unless the tenant wants four eyes) apply one action on one finding."""
    if action == Change.Action.ACCEPT:
        return accept(finding, user, apply_run=apply_run)
    waiting = finding.tenant.require_approval
    with transaction.atomic():
        # Vetting and queueing under the tenant's lock: two changes giving one value to two
        # objects are vetted one after the other, the second seeing the first in flight.
        lock_tenant(finding.tenant_id)
        if action == Change.Action.REMOVE:
            reasons = vet_removal(finding, finding.value)
        else:
            reasons = vet_value(finding, new_value or "")
        if reasons:
            raise ActionRefused(reasons)
        old, new = proposed_values(finding, action, new_value)
        result = Change.Result.AWAITING_APPROVAL if waiting else Change.Result.QUEUED
        change = Change.record(finding, action, user, old, new, result, apply_run=apply_run)
    if apply_now and not waiting:
        apply_change(change)
    return change


def lock_tenant(tenant_id: int) -> None:
    """Serialise vetting within one tenant until the transaction ends (a row lock, no table lock)."""
    Tenant.objects.select_for_update().filter(pk=tenant_id).values_list("pk", flat=True).first()


def accept(finding: Finding, user, apply_run=None) -> Change:
    with transaction.atomic():
        Finding.objects.filter(pk=finding.pk).update(status=Finding.Status.ACCEPTED)
        counts.changed(finding.tenant_id)
        value = [finding.value]
        return Change.record(
            finding,
            Change.Action.ACCEPT,
            user,
            value,
            value,
            Change.Result.APPLIED,
            applied_at=timezone.now(),
            apply_run=apply_run,
        )


def waive(finding: Finding, user, justification: str, expires_on) -> Waiver:
    if not justification.strip():
        raise ActionRefused(["Say why this finding may stay."])
    if problems := exceptions.expiry_problems(expires_on):
        raise ActionRefused(problems)
    with transaction.atomic():
        waiver = Waiver.objects.create(
            tenant=finding.tenant, finding=finding, justification=justification, expires_on=expires_on, created_by=user
        )
        Finding.objects.filter(pk=finding.pk).update(status=Finding.Status.EXCEPTED)
        counts.changed(finding.tenant_id)
        exceptions.record_granted(waiver)  # in the change log, beside the writes
    return waiver


def reopen_expired_waivers(today=None) -> int:
    """An expired exception reopens its finding (if the finding is still there)."""
    today = today or timezone.localdate()
    expired = Waiver.objects.filter(expires_on__lte=today, reopened_at__isnull=True)
    count = 0
    for waiver in expired.select_related("finding"):
        with transaction.atomic():
            Finding.objects.filter(pk=waiver.finding_id, status=Finding.Status.EXCEPTED).update(
                status=Finding.Status.OPEN
            )
            Waiver.objects.filter(pk=waiver.pk).update(reopened_at=timezone.now())
            counts.changed(waiver.tenant_id)
            count += 1
    return count


def undo(change: Change, user) -> Change:
    """A new guarded change the other way; it conflicts if the value moved on since."""
    if change.result != Change.Result.APPLIED or change.action == Change.Action.ACCEPT:
        raise ActionRefused(["Only an applied edit or removal can be undone."])
    if change.undone_by.filter(result__in=(*Change.OPEN_RESULTS, Change.Result.UNKNOWN)).exists():
        raise ActionRefused(["An undo of this change is already waiting."])
    waiting = change.tenant.require_approval
    with transaction.atomic():
        lock_tenant(change.tenant_id)
        reasons = [r for value in change.old_values for r in vet_value(change, value, rules_apply=False)]
        if reasons:
            raise ActionRefused(reasons)
        back = _create_undo(change, user, waiting)
    return back if waiting else apply_change(back)


def _create_undo(change: Change, user, waiting: bool) -> Change:
    return Change.objects.create(
        tenant=change.tenant,
        forest=change.forest,
        finding=change.finding,
        guid=change.guid,
        dn=change.dn,
        attribute=change.attribute,
        old_values=change.new_values,
        new_values=change.old_values,
        action=Change.Action.UNDO,
        requested_by=user,
        result=Change.Result.AWAITING_APPROVAL if waiting else Change.Result.QUEUED,
        reverts=change,
    )


def approve(change: Change, approver) -> Change:
    if change.requested_by_id == approver.pk:
        raise ActionRefused(["Four eyes: someone else must approve your change."])
    with transaction.atomic():
        lock_tenant(change.tenant_id)
        change.refresh_from_db()
        if change.result != Change.Result.AWAITING_APPROVAL:
            raise ActionRefused(["This change is not waiting for approval."])
        # Vetted again now: since it was proposed, other changes may have been approved or
        # applied, and the tenant's values may have moved on.
        reasons = vet_change(change)
        decided = {"approved_by": approver, "approved_at": timezone.now()}
        if reasons:
            return _record(change, Change.Result.REFUSED, "Refused at approval: " + "; ".join(reasons), **decided)
        # Claim the change: of two admins approving at once, only one applies it.
        _record(change, Change.Result.QUEUED, "", **decided)
    return apply_change(change)


def reject(change: Change, approver, reason: str = "") -> Change:
    if change.result != Change.Result.AWAITING_APPROVAL:
        raise ActionRefused(["This change is not waiting for approval."])
    change.approved_by, change.approved_at = approver, timezone.now()
    return _record(
        change, Change.Result.REJECTED, reason or "Rejected.", approved_by=approver, approved_at=change.approved_at
    )
