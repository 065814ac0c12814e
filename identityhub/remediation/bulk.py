"""Bulk actions: a dry-run preview of every change, then a background job that applies them."""

from __future__ import annotations

from dataclasses import dataclass, field

from celery import shared_task
from django.db import transaction
from django.http import QueryDict
from django.utils import timezone

from identityhub.scans.models import Finding, ScanRun

from . import actions
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
    run = ApplyRun.objects.create(tenant=tenant, requested_by=user, total=len(finding_ids))
    transaction.on_commit(lambda: apply_run_task.delay(run.pk, action, finding_ids))
    return run


@shared_task(acks_late=True)
def apply_run_task(run_id: int, action: str, finding_ids: list[int]) -> None:
    run_bulk(run_id, action, finding_ids)


def run_bulk(run_id: int, action: str, finding_ids: list[int]) -> ApplyRun | None:
    """Apply one action to many findings; each is vetted and guarded on its own."""
    if not ApplyRun.objects.filter(pk=run_id, status=ApplyRun.Status.QUEUED).update(status=ApplyRun.Status.RUNNING):
        return None  # another worker has it, or it ran already: a redelivery never applies twice
    run = ApplyRun.objects.select_related("tenant", "requested_by").get(pk=run_id)
    try:
        for done, finding in enumerate(Finding.objects.filter(tenant=run.tenant, pk__in=finding_ids), start=1):
            _apply_one(run, finding, action)
            ApplyRun.objects.filter(pk=run.pk).update(done=done)
        for scan in ScanRun.objects.filter(tenant=run.tenant, is_current=True)[:1]:
            recompute_duplicates(scan)  # once for the whole run, not per change
        ApplyRun.objects.filter(pk=run.pk).update(status=ApplyRun.Status.COMPLETED, finished=timezone.now())
    except Exception as exc:  # noqa: BLE001 - the job row must always end
        ApplyRun.objects.filter(pk=run.pk).update(
            status=ApplyRun.Status.FAILED, error=str(exc), finished=timezone.now()
        )
        raise
    run.refresh_from_db()
    return run


def _apply_one(run: ApplyRun, finding: Finding, action: str) -> None:
    if finding.status == Finding.Status.RESOLVED:
        return
    user = run.requested_by
    try:
        if action == "accept":
            change = actions.accept(finding, user, apply_run=run)
        else:
            kind = Change.Action.REMOVE if action == "remove" else Change.Action.EDIT
            change = actions.request_change(finding, kind, user, finding.suggestion, apply_now=False, apply_run=run)
    except actions.ActionRefused as exc:
        new = [finding.suggestion] if finding.suggestion else []
        change = actions.record_change(
            finding,
            Change.Action.EDIT,
            user,
            [finding.value],
            new,
            Change.Result.REFUSED,
            error="; ".join(exc.reasons),
            apply_run=run,
        )
    if change.result == Change.Result.QUEUED:
        actions.apply_change(change, duplicates=False)
