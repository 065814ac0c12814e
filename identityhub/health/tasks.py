from celery import shared_task

from identityhub.tenants.models import Tenant

from . import pulls


@shared_task(acks_late=True)
def pull_tenant_health(tenant_id: int, pull_id: int | None = None) -> str | None:
    """One pull; a re-delivered task finds its pull claimed or ended and does nothing."""
    return pulls.run(tenant_id, pull_id)


@shared_task(acks_late=True)
def pull_all_health() -> int:
    """Every 30 minutes (beat): a pull for every tenant with a Graph connection and none running."""
    tenants = Tenant.objects.filter(graph_connection__isnull=False)
    return len({pulls.queue_pull(tenant).pk for tenant in tenants})
