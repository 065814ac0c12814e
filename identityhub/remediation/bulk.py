"""Bulk actions: a dry-run preview of every change, then a background job that applies them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.http import QueryDict
from django.utils import timezone

from identityhub.scans.models import Finding, ScanRun
from identityhub.timelimits import stopped_reason

from . import actions, writing
from .models import ApplyRun, Change
from .recheck import recompute_duplicates

ACTIONS = {
    "suggestion": "Apply the suggested value",
    "remove": "Remove the value",
    "accept": "Accept as is (no write)",
}
PREVIEW_LIMIT = 5000


@dataclass
class PreviewRow:
    finding: Finding
    old: str
    new: str | None
    refused: list[str] = field(default_factory=list)


def filter_params(querystring: str) -> QueryDict:
    return QueryDict(querystring.lstrip("?"))


def preview(findings, action: str) -> list[PreviewRow]:
    """What each change would be, and which ones would be refused (nothing is written)."""
    rows = []
    for finding in findings.order_by("dn", "rule")[:PREVIEW_LIMIT]:
        rows.append(_preview_row(finding, action))
    return rows


def _preview_row(finding: Finding, action: str) -> PreviewRow:
    if finding.status == Finding.Status.RESOLVED:
        return PreviewRow(finding, finding.value, None, ["Already resolved."])
    if action == "accept":
        return PreviewRow(finding, finding.value, finding.value)
    if action == "remove":
        return PreviewRow(finding, finding.value, "", actions.vet_removal(finding, finding.value))
    if finding.suggestion is None:
        return PreviewRow(finding, finding.value, None, ["No suggestion: edit this one by hand."])
    return PreviewRow(finding, finding.value, finding.suggestion, actions.vet_value(finding, finding.suggestion))


def start(tenant, user, action: str, finding_ids: list[int]) -> ApplyRun:
    ids = sorted(set(finding_ids))
    run = ApplyRun.objects.create(tenant=tenant, requested_by=user, action=action, finding_ids=ids, total=len(ids))
    transaction.on_commit(lambda: apply_run_task.delay(run.pk))
    return run


def retry(run: ApplyRun) -> bool:
    """Queue the rows not attempted yet (a run that failed, or whose worker stopped) once more."""
    if run.is_active and not is_stalled(run):
        return False
    ApplyRun.objects.filter(pk=run.pk).update(status=ApplyRun.Status.QUEUED, claim="", error="", finished=None)
    transaction.on_commit(lambda: apply_run_task.delay(run.pk))
    return True


@shared_task(acks_late=True)
def apply_run_task(run_id: int) -> None:
    # acks_late: a worker killed mid-run leaves the message to be delivered again; whoever runs it
    # (or resume_stalled_runs) takes the run over once its heartbeat is stale.
    run_bulk(run_id)


@shared_task(acks_late=True)
def resume_stalled_runs() -> int:
    """Periodic (beat): runs whose worker died mid-run are queued again, from the row they reached."""
    stalled = ApplyRun.objects.filter(status=ApplyRun.Status.RUNNING, heartbeat__lt=timezone.now() - stale_after())
    count = 0
    for run in stalled:
        count += retry(run)
    return count


def stale_after() -> timedelta:
    return timedelta(seconds=settings.BULK_STALE_SECONDS)


def is_stalled(run: ApplyRun) -> bool:
    return run.status == ApplyRun.Status.RUNNING and (
        run.heartbeat is None or run.heartbeat < timezone.now() - stale_after()
    )


def _claim(run_id: int, token: str) -> bool:
    """Take the run: queued, or running under a worker that has not been heard of for too long."""
    now = timezone.now()
    takeable = Q(status=ApplyRun.Status.QUEUED) | Q(status=ApplyRun.Status.RUNNING, heartbeat__lt=now - stale_after())
    return bool(
        ApplyRun.objects.filter(takeable, pk=run_id).update(status=ApplyRun.Status.RUNNING, claim=token, heartbeat=now)
    )


def _beat(run: ApplyRun, token: str) -> bool:
    """Still ours? (Another worker takes over a run whose heartbeat went stale.) Records progress."""
    done = Change.objects.filter(apply_run=run).count()
    return bool(ApplyRun.objects.filter(pk=run.pk, claim=token).update(heartbeat=timezone.now(), done=done))


def run_bulk(run_id: int) -> ApplyRun | None:
    """Apply one action to many findings; each row is claimed, vetted and guarded on its own.

    Rows are claimed one by one (their Change is created before the write), so a run picked up by
    another worker skips every row already decided and settles the one that was in flight.
    """
    token = uuid.uuid4().hex
    if not _claim(run_id, token):
        return None  # another live worker has it, or it has ended: a redelivery never applies twice
    run = ApplyRun.objects.select_related("tenant", "requested_by").get(pk=run_id)
    try:
        findings = Finding.objects.filter(tenant=run.tenant, pk__in=run.finding_ids).select_related("forest", "tenant")
        for finding in findings.order_by("pk"):
            if not _beat(run, token):
                return None  # taken over by another worker
            _apply_row(run, finding)
        for scan in ScanRun.objects.filter(tenant=run.tenant, is_current=True)[:1]:
            recompute_duplicates(scan)  # once for the whole run, not per change
        _beat(run, token)
        ApplyRun.objects.filter(pk=run.pk, claim=token).update(
            status=ApplyRun.Status.COMPLETED, finished=timezone.now()
        )
    except Exception as exc:  # noqa: BLE001 - the job row must always end
        error = stopped_reason(exc, settings.BULK_SOFT_TIME_LIMIT) or str(exc) or exc.__class__.__name__
        ApplyRun.objects.filter(pk=run.pk, claim=token).update(
            status=ApplyRun.Status.FAILED, error=error, finished=timezone.now()
        )
        raise
    run.refresh_from_db()
    return run


def _apply_row(run: ApplyRun, finding: Finding) -> None:
    claimed = Change.objects.filter(apply_run=run, finding=finding).first()
    if claimed is not None:
        if claimed.result == Change.Result.QUEUED:
            writing.resume(claimed)  # its worker stopped mid-row: settle it, or write it now
        return
    if finding.status == Finding.Status.RESOLVED:
        return
    try:
        with transaction.atomic():
            change = _claim_row(run, finding)
    except IntegrityError:
        return  # another worker claimed this row at the same moment
    if change.result == Change.Result.QUEUED:
        actions.apply_change(change, duplicates=False)


def _claim_row(run: ApplyRun, finding: Finding) -> Change:
    """The row's Change: vetted now (at apply time, not at preview time), refused, or queued."""
    user, action = run.requested_by, run.action
    try:
        if action == "accept":
            return actions.accept(finding, user, apply_run=run)
        kind = Change.Action.REMOVE if action == "remove" else Change.Action.EDIT
        return actions.request_change(finding, kind, user, finding.suggestion, apply_now=False, apply_run=run)
    except actions.ActionRefused as exc:
        new = [finding.suggestion] if finding.suggestion and action != "remove" else []
        kind = Change.Action.REMOVE if action == "remove" else Change.Action.EDIT
        return Change.record(
            finding,
            kind,
            user,
            [finding.value],
            new,
            Change.Result.REFUSED,
            error="; ".join(exc.reasons),
            apply_run=run,
        )


# What the summary of a run counts, in this order, and how it names each outcome.
SUMMARY = (
    (Change.Result.APPLIED, "applied"),
    (Change.Result.CONFLICT, "conflicts"),
    (Change.Result.REFUSED, "refused"),
    (Change.Result.AWAITING_APPROVAL, "awaiting approval"),
    (Change.Result.UNKNOWN, "outcome being confirmed"),
    (Change.Result.NOT_SENT, "not sent"),
    (Change.Result.NOT_APPLIED, "not applied"),
    (Change.Result.PLANNED, "planned (LDIF)"),  # forests without a reachable DC
)


def summary(run: ApplyRun) -> dict:
    """Counts by outcome, and the rows never attempted (listed, with a Retry)."""
    by_result = dict(run.changes.values_list("result").annotate(n=Count("pk")).values_list("result", "n"))
    attempted = set(run.changes.values_list("finding_id", flat=True))
    pending = [pk for pk in run.finding_ids if pk not in attempted]
    not_attempted = Finding.objects.filter(tenant=run.tenant, pk__in=pending).exclude(status=Finding.Status.RESOLVED)
    return {
        "counts": [(label, by_result.get(result, 0)) for result, label in SUMMARY],
        "not_attempted": not_attempted.order_by("pk")[:500] if not run.is_active or is_stalled(run) else [],
        "not_attempted_count": not_attempted.count(),
        "stalled": is_stalled(run),
    }
