from celery import shared_task

from identityhub.remediation.tasks import CONFIRM_RETRIES, until_a_dc_answers
from identityhub.tenants.models import Tenant

from . import progress, roundtrip, webhooks
from .models import TestGroupRoundTrip


@shared_task(bind=True, acks_late=True, max_retries=webhooks.MAX_ATTEMPTS)
def deliver_webhook(self, delivery_id: int) -> None:
    """One attempt; a failure retries itself after the back-off (the row records every attempt)."""
    wait = webhooks.attempt(delivery_id)
    if wait is not None:
        raise self.retry(countdown=wait)


@shared_task(acks_late=True)
def recompute_tenant(tenant_id: int) -> None:
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is not None:
        progress.recompute(tenant)


@shared_task(acks_late=True)
def recompute_all() -> int:
    """Beat: time alone moves some criteria (a sync gets old); also re-queues lost deliveries."""
    webhooks.requeue_overdue()
    tenants = list(Tenant.objects.all())
    for tenant in tenants:
        progress.recompute(tenant)
    return len(tenants)


@shared_task(acks_late=True)
def create_test_group(trip_id: int) -> str | None:
    return roundtrip.create_in_ad(trip_id)


@shared_task(bind=True, acks_late=True, max_retries=CONFIRM_RETRIES)
def confirm_test_group(self, trip_id: int) -> str:
    """Settle a test group whose create or delete answer was lost, once a DC answers (as confirm_change does)."""
    trip = TestGroupRoundTrip.objects.select_related("forest", "tenant").filter(pk=trip_id).first()
    if trip is None:
        return "gone"
    return until_a_dc_answers(self, lambda: roundtrip.confirm(trip), trip.status)


@shared_task(acks_late=True)
def confirm_unknown_test_groups() -> int:
    return roundtrip.confirm_unknown()


@shared_task(acks_late=True)
def follow_round_trips(tenant_id: int) -> int:
    return roundtrip.follow(tenant_id)
