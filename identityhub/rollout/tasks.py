from celery import shared_task

from identityhub.tenants.models import Tenant

from . import progress, roundtrip, webhooks


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


@shared_task(acks_late=True)
def follow_round_trips(tenant_id: int) -> int:
    return roundtrip.follow(tenant_id)
