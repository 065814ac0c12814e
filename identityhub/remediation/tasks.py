from collections.abc import Callable
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from identityhub.lib import directory

from . import actions, writing
from .models import ApplyRun, Change

# Back-off of confirm_change: 30 s, 1, 2, 4 ... minutes, at most an hour apart; the periodic sweep
# (confirm_unknown_changes, every 5 minutes from beat) goes on after the last retry.
CONFIRM_RETRIES = 10
# A change queued this long ago by a request or job that is no longer running (its process died
# mid-write) may have been sent: it is treated as an unknown outcome.
STALE_QUEUED = timedelta(minutes=15)


@shared_task(acks_late=True)
def reopen_expired_waivers() -> int:
    """Daily (beat): an exception past its expiry date reopens its finding. Idempotent."""
    return actions.reopen_expired_waivers()


def until_a_dc_answers(task, confirm: Callable[[], str], unsettled: str) -> str:
    """confirm() (a re-read of AD on a new connection); while no DC answers, `task` retries with the
    back-off above, and after its last retry the periodic sweep takes over (`unsettled` is returned)."""
    try:
        return confirm()
    except directory.DirectoryError:
        if task.request.retries >= task.max_retries:
            return unsettled
        raise task.retry(countdown=min(30 * 2**task.request.retries, 3600)) from None


@shared_task(bind=True, acks_late=True, max_retries=CONFIRM_RETRIES)
def confirm_change(self, change_id: int) -> str:
    """Settle a write whose answer was lost (or refresh its findings) once a DC answers."""
    change = Change.objects.select_related("forest").filter(pk=change_id).first()
    if change is None:
        return "gone"
    return until_a_dc_answers(self, lambda: writing.confirm(change).result, change.result)


@shared_task(acks_late=True)
def confirm_unknown_changes(limit: int = 500) -> int:
    """Periodic (beat): settle every unknown outcome a DC can now tell us about; returns how many."""
    stale = timezone.now() - STALE_QUEUED
    orphans = Change.objects.filter(result=Change.Result.QUEUED, created__lt=stale).exclude(
        apply_run__status__in=(ApplyRun.Status.QUEUED, ApplyRun.Status.RUNNING)
    )
    orphans.update(result=Change.Result.UNKNOWN, error=f"The process writing it stopped. {writing.CONFIRMING}")
    settled = 0
    for change in Change.objects.select_related("forest").filter(result=Change.Result.UNKNOWN)[:limit]:
        try:
            writing.confirm(change)
        except directory.DirectoryError:
            continue  # still no DC: the next sweep tries again
        settled += 1
    return settled
