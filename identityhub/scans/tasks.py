from celery import shared_task
from django.utils import timezone

from . import pipeline
from .models import ScanRun
from .sources import changes_for, entries_for


@shared_task(acks_late=True)
def scan_forest(scan_id: int) -> str | None:
    scan = pipeline.execute(scan_id, entries_for, changes_for)
    return scan.status if scan else None


@shared_task(acks_late=True)
def complete_confirmed_scan(scan_id: int) -> str | None:
    scan = pipeline.complete_confirmed(scan_id)
    return scan.status if scan else None


@shared_task
def discard_scan_staging(scan_id: int) -> None:
    """The objects, keys and findings a rejected scan had staged."""
    pipeline.discard_staging(ScanRun(pk=scan_id))


@shared_task
def dispatch_due_scans() -> int:
    """Queue a scan for every forest whose schedule says one is due."""
    return len(pipeline.queue_due_scans(timezone.now()))
