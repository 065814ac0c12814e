"""Recompute a tenant's criteria from the evidence, store them, and say what changed.

recompute() is called whenever evidence changes (receivers.py: a scan completed, a health pull,
an applied fix; views: a sign-off; roundtrip.py: the test group moved on) and by the beat task
every 10 minutes, since time alone ages a sync. It records step completion and health turning
red in the timeline and sends those events to the tenant's webhooks.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from identityhub.health.models import HealthPull, SyncEngine, age_colour

from . import criteria, score, webhooks
from .models import Checkpoint, CriterionState, RolloutEvent

RED, AMBER, GREEN = "red", "amber", "green"


def checkpoint_of(tenant) -> Checkpoint:
    checkpoint, _ = Checkpoint.objects.get_or_create(tenant=tenant)
    return checkpoint


def health_colour(ev: criteria.Evidence) -> str:
    """Red: the last pull failed, sync is off, a Cloud Sync job is in quarantine, or the last
    (password) sync is over 3 hours old;
    amber: a sync over 40 minutes old or provisioning errors; green otherwise; "" without data."""
    snapshot = ev.snapshot
    if snapshot is None:
        return RED if ev.latest_pull is not None and ev.latest_pull.status == HealthPull.Status.FAILED else ""
    ages = [age_colour(ev.now - snapshot.last_sync if snapshot.last_sync else None)]
    if ev.tenant.auth_method == "phs":
        ages.append(age_colour(ev.now - snapshot.last_password_sync if snapshot.last_password_sync else None))
    failed = ev.latest_pull is not None and ev.latest_pull.status == HealthPull.Status.FAILED
    quarantined = ev.engine != SyncEngine.CONNECT and any(j["status"] == "Quarantine" for j in snapshot.cloud_sync_jobs)
    if failed or not snapshot.sync_enabled or RED in ages or quarantined:
        return RED
    if AMBER in ages or snapshot.error_count:
        return AMBER
    return GREEN


def event(tenant, kind: str, text: str, url: str = "", user=None, at=None) -> RolloutEvent:
    return RolloutEvent.objects.create(
        tenant=tenant, kind=kind, text=text[:500], url=url, user=user, at=at or timezone.now()
    )


def recompute(tenant, now=None) -> dict[str, criteria.Result]:
    now = now or timezone.now()
    with transaction.atomic():
        checkpoint = Checkpoint.objects.select_for_update().filter(tenant=tenant).first() or checkpoint_of(tenant)
        ev = criteria.Evidence(tenant, checkpoint, now)
        results = criteria.evaluate(ev)
        _store_states(tenant, results, now)
        step, percent = criteria.progress(results)
        was = {7: checkpoint.step7_done_at, 8: checkpoint.step8_done_at}
        colour_was = checkpoint.health_colour
        checkpoint.current_step, checkpoint.percent = step, percent
        checkpoint.health_colour = health_colour(ev)
        checkpoint.score = score.tenant_score(tenant)
        checkpoint.open_blocking = ev.open_blocking
        checkpoint.last_sync = ev.snapshot.last_sync if ev.snapshot else None
        checkpoint.computed_at = now
        url = checkpoint.get_absolute_url()
        for number in (7, 8):
            done = criteria.step_done(results, number)
            title = criteria.STEPS[number]
            if done and was[number] is None:
                setattr(checkpoint, f"step{number}_done_at", now)
                event(tenant, RolloutEvent.Kind.STEP, f"Step {number} ({title}) completed.", url, at=now)
                webhooks.emit(tenant, "step.completed", f"step {number} ({title}) completed.", step=number)
            elif not done and was[number] is not None:
                setattr(checkpoint, f"step{number}_done_at", None)
                event(tenant, RolloutEvent.Kind.STEP, f"Step {number} ({title}) no longer holds.", url, at=now)
        if checkpoint.health_colour == RED and colour_was != RED:
            why = "; ".join(
                results[code].explanation
                for code in ("pulls-ok", "sync-enabled", "cloud-sync", "sync-fresh", "password-sync")
                if results[code].state == criteria.State.NOT_MET
            )
            event(tenant, RolloutEvent.Kind.HEALTH, f"Sync health turned red. {why}", "", at=now)
            webhooks.emit(tenant, "health.red", f"sync health turned red. {why}".strip(), reasons=why)
        checkpoint.save()
    return results


def _store_states(tenant, results: dict[str, criteria.Result], now) -> None:
    stored = {s.code: s for s in CriterionState.objects.filter(tenant=tenant)}
    for code, result in results.items():
        row = stored.get(code)
        if row is None:
            CriterionState.objects.create(
                tenant=tenant, code=code, state=result.state, explanation=result.explanation[:500],
                evidence_url=result.evidence_url, computed_at=now, changed_at=now,
            )  # fmt: skip
            continue
        changed = row.state != result.state
        row.state, row.explanation, row.evidence_url = result.state, result.explanation[:500], result.evidence_url
        row.computed_at = now
        if changed:
            row.changed_at = now
        row.save()
