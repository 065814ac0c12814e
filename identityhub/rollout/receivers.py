"""Evidence changed: record it in the timeline, recompute the criteria, tell the webhooks.

A receiver never lets its own failure reach the sender: a scan or a pull that completed stays
completed whatever happens here (the beat task recomputes later).
"""

from __future__ import annotations

import functools
import logging

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from identityhub.health.signals import health_pull_failed, health_pulled
from identityhub.remediation.models import Change, Waiver
from identityhub.scans.models import Finding, ScanRun, Severity
from identityhub.scans.signals import scan_completed, scan_held, scan_reviewed

from . import figures, progress, webhooks
from .models import RolloutEvent, TestGroupRoundTrip

log = logging.getLogger(__name__)

FIX_ACTIONS = (Change.Action.EDIT, Change.Action.REMOVE, Change.Action.UNDO)


def _guarded(handler):
    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        try:
            handler(*args, **kwargs)
        except Exception:  # noqa: BLE001 - see the module docstring
            log.exception("rollout: %s failed", handler.__name__)

    return wrapper


@receiver(scan_completed, dispatch_uid="rollout-scan-figures")
@_guarded
def on_scan_completed_count(sender, scan: ScanRun, **kwargs):
    # Connected before the receiver below, whose recompute reads the figures (synced counts match).
    # Failing here leaves the counting to the first page that needs the figures.
    figures.on_completed(scan)


@receiver(scan_completed, dispatch_uid="rollout-scan-completed")
@_guarded
def on_scan_completed(sender, scan: ScanRun, **kwargs):
    tenant = scan.tenant
    new_blocking = Finding.objects.filter(first_scan=scan, severity=Severity.BLOCKING).open().count()
    summary = ", ".join(f"{n} {severity}" for severity, n in Severity.split(scan.severity_counts))
    text = f"Scan #{scan.pk} of {scan.forest.name}: {scan.objects_in_scope} objects in scope; open {summary}."
    if new_blocking:
        text += f" {new_blocking} new blocking."
    progress.event(tenant, RolloutEvent.Kind.SCAN, text, scan.get_absolute_url(), user=scan.triggered_by)
    if new_blocking:
        webhooks.emit(
            tenant, "scan.new_blocking",
            f"scan #{scan.pk} of {scan.forest.name} found {new_blocking} new blocking finding(s).",
            scan=scan.pk, forest=scan.forest.name, new_blocking=new_blocking,
        )  # fmt: skip
    progress.recompute(tenant)


@receiver(scan_held, dispatch_uid="rollout-scan-held")
@_guarded
def on_scan_held(sender, scan: ScanRun, **kwargs):
    text = (
        f"Scan #{scan.pk} of {scan.forest.name} needs confirmation: it would drop {scan.objects_dropped} of "
        f"{scan.objects_before} objects ({scan.drop_percent}%); the previous picture stays until an admin confirms."
    )
    progress.event(scan.tenant, RolloutEvent.Kind.SCAN, text, scan.get_absolute_url(), user=scan.triggered_by)


@receiver(scan_reviewed, dispatch_uid="rollout-scan-reviewed")
@_guarded
def on_scan_reviewed(sender, scan: ScanRun, confirmed: bool, **kwargs):
    if confirmed:
        what = f"confirmed: it becomes the current picture, without {scan.objects_dropped} of {scan.objects_before}"
    else:
        what = f"rejected: the previous picture keeps its {scan.objects_before}"
    text = f"Scan #{scan.pk} of {scan.forest.name} {what} objects."
    progress.event(scan.tenant, RolloutEvent.Kind.SCAN, text, scan.get_absolute_url(), user=scan.reviewed_by)


@receiver(health_pull_failed, dispatch_uid="rollout-health-pull-failed")
@_guarded
def on_health_pull_failed(sender, tenant, pull, **kwargs):
    # "Health pulls succeeding" turns red now, not at the next periodic recompute. The timeline
    # notes the first failure of a run, not each retry every 30 minutes.
    earlier = sender.objects.filter(tenant=tenant, created__lt=pull.created).exclude(status__in=sender.ACTIVE).first()
    if earlier is None or earlier.status != sender.Status.FAILED:
        progress.event(tenant, RolloutEvent.Kind.PULL, f"Health pull failed: {pull.error}", at=pull.finished)
    progress.recompute(tenant)


@receiver(health_pulled, dispatch_uid="rollout-health-pulled")
@_guarded
def on_health_pulled(sender, tenant, snapshot, **kwargs):
    # Every pull (each 30 minutes) recomputes; the timeline notes only pulls that changed the picture.
    previous = type(snapshot).objects.filter(tenant=tenant, is_demo=False, taken__lt=snapshot.taken).first()
    if previous is None or (previous.sync_enabled, previous.error_count) != (
        snapshot.sync_enabled,
        snapshot.error_count,
    ):
        sync = "on" if snapshot.sync_enabled else "off"
        progress.event(
            tenant, RolloutEvent.Kind.PULL,
            f"Health pull: directory sync {sync}, {snapshot.error_count} provisioning error(s).",
            snapshot.get_absolute_url(), at=snapshot.taken,
        )  # fmt: skip
    if TestGroupRoundTrip.objects.filter(tenant=tenant, status=TestGroupRoundTrip.Status.CREATED).exists():
        from .tasks import follow_round_trips

        follow_round_trips.delay(tenant.pk)
    progress.recompute(tenant)


def _recompute_soon(tenant_id: int, countdown: int = 0) -> None:
    from .tasks import recompute_tenant

    transaction.on_commit(lambda: recompute_tenant.apply_async((tenant_id,), countdown=countdown))


@receiver(post_save, sender=Waiver, dispatch_uid="rollout-waiver-saved")
@_guarded
def on_waiver_saved(sender, instance: Waiver, **kwargs):
    # An exception takes its finding out of the open ones (and a revoked one puts it back).
    _recompute_soon(instance.tenant_id)


@receiver(post_save, sender=Change, dispatch_uid="rollout-change-applied")
@_guarded
def on_change_saved(sender, instance: Change, created, update_fields=None, **kwargs):
    if instance.result != Change.Result.APPLIED:
        return
    if not created and update_fields is not None and "result" not in update_fields:
        return
    tenant_id = instance.tenant_id
    if instance.action == Change.Action.ACCEPT:
        _recompute_soon(tenant_id)  # no longer open: the criteria count it no more
        return
    if instance.action not in FIX_ACTIONS:
        return
    progress.event(
        instance.tenant, RolloutEvent.Kind.FIX,
        f"{instance.get_action_display()} of {instance.attribute} on {instance.dn} applied.",
        instance.finding.get_absolute_url() if instance.finding_id else "", user=instance.requested_by,
    )  # fmt: skip
    # The object is re-checked right after its change is recorded: recompute once that is done.
    _recompute_soon(tenant_id, countdown=10)
