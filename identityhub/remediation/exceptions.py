"""Exceptions (Waiver) as decisions in the change log: granting one, and revoking it early.

Neither writes to AD: the Change rows record who decided what, when (action "exception" or
"revoke", old and new value the finding's own value), beside the writes in the one audit trail.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from identityhub.scans import counts
from identityhub.scans.models import Finding

from .models import Change, Waiver

# An exception is reviewed at least yearly: a later date is refused (an expiry in 2099 is a
# permanent acceptance in disguise; Accept says that honestly).
MAX_DAYS = 366


class Refused(Exception):
    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def latest_expiry(today=None):
    return (today or timezone.localdate()) + timedelta(days=MAX_DAYS)


def expiry_problems(expires_on, today=None) -> list[str]:
    today = today or timezone.localdate()
    if expires_on <= today:
        return ["The exception must expire in the future."]
    if expires_on > latest_expiry(today):
        return [f"An exception lasts at most a year: choose a date up to {latest_expiry(today):%d %b %Y}."]
    return []


def record_granted(waiver: Waiver) -> Change:
    finding = waiver.finding
    return _record(finding, Change.Action.EXCEPTION, waiver.created_by)


def revoke(waiver: Waiver, user) -> Change:
    """End an exception now: its finding is open again (if it is still there), and the log says who."""
    with transaction.atomic():
        locked = Waiver.objects.select_for_update().get(pk=waiver.pk)
        if locked.revoked_at or locked.reopened_at:
            raise Refused(["This exception has already ended."])
        locked.revoked_at, locked.revoked_by = timezone.now(), user
        # Saved (not updated): the rollout receivers recompute on it, the finding counts as open again.
        locked.save(update_fields=["revoked_at", "revoked_by"])
        Finding.objects.filter(pk=locked.finding_id, status=Finding.Status.EXCEPTED).update(status=Finding.Status.OPEN)
        counts.changed(locked.tenant_id)
        return _record(locked.finding, Change.Action.REVOKE, user)


def _record(finding: Finding, action: str, user) -> Change:
    value = [finding.value]
    return Change.record(finding, action, user, value, value, Change.Result.APPLIED, applied_at=timezone.now())
