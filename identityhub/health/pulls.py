"""One pull of a tenant's sync health from Microsoft Graph, and what it changes here.

pull(tenant) builds a GraphClient from the tenant's GraphConnection and the GRAPH_* settings,
asks lib/graph.pull_health() for the report and stores it: a SyncSnapshot with its
ProvisioningError rows, the tenant's verified domains, cloud-collision findings and fixed findings
verified clean. A failure stores nothing but the reason on the HealthPull row, so the last good
snapshot stays the tenant's picture. The Celery tasks only call run().
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from identityhub.lib import cloudsync, graph
from identityhub.tenants.models import Tenant
from identityhub.timelimits import stopped_reason

from . import matching
from .models import GraphConnection, HealthPull, LicenceError, ProvisioningError, SyncSnapshot
from .signals import health_pull_failed, health_pulled

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=15)  # a pull running this long lost its worker and may be taken over
KEEP_DETAIL = 48  # snapshots per tenant that keep their error rows and raw report (a day of pulls)


class NotConnected(graph.GraphError):
    """The tenant has no Graph connection (or no Entra tenant ID) yet."""


def graph_settings() -> dict:
    """GraphClient keyword arguments from settings: where the token endpoint and Graph are."""
    return {
        "authority_host": settings.GRAPH_AUTHORITY_HOST,
        "base_url": settings.GRAPH_BASE_URL,
        "ca_bundle": settings.GRAPH_CA_BUNDLE or None,
        "max_retries": settings.GRAPH_MAX_RETRIES,
    }


def make_client(tenant_id, client_id, *, secret="", certificate_key="", thumbprint="") -> graph.GraphClient:
    credential = (
        {"client_secret": secret}
        if secret
        else {"certificate_pem": certificate_key, "certificate_thumbprint": thumbprint or None}
    )
    return graph.GraphClient(str(tenant_id), str(client_id), **credential, **graph_settings())


def client_for(tenant: Tenant) -> graph.GraphClient:
    connection = GraphConnection.objects.filter(tenant=tenant).first()
    if connection is None or not (connection.client_secret or connection.certificate_key):
        raise NotConnected(f"{tenant} has no Graph connection yet: an admin adds one on its health page.")
    if not tenant.entra_tenant_id:
        raise NotConnected(f"{tenant} has no Entra tenant ID: set it in its Graph connection.")
    return make_client(
        tenant.entra_tenant_id,
        connection.client_id,
        secret=connection.client_secret,
        certificate_key=connection.certificate_key,
        thumbprint=connection.certificate_thumbprint,
    )


def provisioning_days(tenant: Tenant) -> int:
    connection = GraphConnection.objects.filter(tenant=tenant).first()
    return connection.provisioning_log_days if connection else cloudsync.DEFAULT_DAYS


# -- the job ------------------------------------------------------------------------------------


def pull(tenant: Tenant, *, job: HealthPull | None = None, user=None) -> SyncSnapshot:
    """Pull, store and return the snapshot; on failure record why on the job row and re-raise."""
    if job is None:
        job = HealthPull.objects.create(
            tenant=tenant,
            status=HealthPull.Status.RUNNING,
            started=timezone.now(),
            triggered_by=user if user is not None and user.is_authenticated else None,
        )
    try:
        with client_for(tenant) as client:
            report = graph.pull_health(client, provisioning_days=provisioning_days(tenant))
        snapshot = store_report(tenant, report, job=job)
    except Exception as exc:
        if not isinstance(exc, graph.GraphError):
            log.exception("health pull %s of %s failed", job.pk, tenant)
        HealthPull.objects.filter(pk=job.pk).update(
            status=HealthPull.Status.FAILED, error=reason(exc), finished=timezone.now()
        )
        job.refresh_from_db()
        health_pull_failed.send(sender=HealthPull, tenant=tenant, pull=job)
        raise
    health_pulled.send(sender=SyncSnapshot, tenant=tenant, snapshot=snapshot)
    return snapshot


def reason(exc: Exception) -> str:
    if isinstance(exc, graph.GraphError):
        return str(exc)
    if stopped := stopped_reason(exc, settings.HEALTH_SOFT_TIME_LIMIT):
        return stopped
    return f"Internal error ({exc.__class__.__name__}): {exc}"


def queue_pull(tenant: Tenant, user=None) -> HealthPull:
    """The tenant's active pull, or a new queued one handed to a worker once the row is committed."""
    from .tasks import pull_tenant_health

    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        active = HealthPull.objects.filter(tenant=tenant, status__in=HealthPull.ACTIVE).first()
        if active and active.created > timezone.now() - STALE_AFTER:
            return active
        if active:
            HealthPull.objects.filter(pk=active.pk).update(
                status=HealthPull.Status.FAILED, error="Abandoned: no worker finished it.", finished=timezone.now()
            )
        job = HealthPull.objects.create(
            tenant=tenant, triggered_by=user if user is not None and user.is_authenticated else None
        )
        transaction.on_commit(lambda: pull_tenant_health.delay(tenant.pk, job.pk))
    return job


def claim(pull_id: int) -> HealthPull | None:
    """Mark a queued (or abandoned) pull as running; None when another worker has it or it ended."""
    now = timezone.now()
    queued = HealthPull.objects.filter(pk=pull_id, status=HealthPull.Status.QUEUED)
    stale = HealthPull.objects.filter(pk=pull_id, status=HealthPull.Status.RUNNING, started__lt=now - STALE_AFTER)
    if not (queued.update(status=HealthPull.Status.RUNNING, started=now) or stale.update(started=now)):
        return None
    return HealthPull.objects.select_related("tenant").get(pk=pull_id)


def run(tenant_id: int, pull_id: int | None = None) -> str | None:
    """What the Celery task does: claim or create the job row and pull; the status it ended in."""
    if pull_id is not None:
        job = claim(pull_id)
        if job is None:
            return None  # a re-delivered task whose pull another worker has or finished
        tenant = job.tenant
    else:
        tenant = Tenant.objects.filter(pk=tenant_id).first()
        if tenant is None:
            return None
        job = None
    try:
        pull(tenant, job=job)
    except Exception:  # noqa: BLE001 - recorded on the job row by pull()
        return HealthPull.Status.FAILED
    return HealthPull.Status.COMPLETED


# -- storing a report ---------------------------------------------------------------------------


def store_report(
    tenant: Tenant, report: graph.HealthReport, *, job: HealthPull | None = None, taken=None, is_demo=False
) -> SyncSnapshot:
    """One transaction: the snapshot and its errors, verified domains, collisions, verified fixes."""
    now = taken or timezone.now()
    with transaction.atomic():
        # One writer per tenant at a time, the same lock a forest scan takes when it completes.
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        as_json = report.to_json()
        cloud_errors = report.cloud_sync.get("errors", [])
        licence_errors = report.licensing.get("errors", [])
        snapshot = SyncSnapshot.objects.create(
            tenant=tenant,
            pull=job,
            taken=now,
            is_demo=is_demo,
            sync_enabled=report.sync_enabled,
            last_sync=report.last_sync,
            last_password_sync=report.last_password_sync,
            verified_domains=list(report.verified_domains),
            domains=[dict(d) for d in report.domains],
            counts={kind: dict(c) for kind, c in report.counts.items()},
            error_count=len(report.provisioning_errors) + len(cloud_errors),
            # The rows carry the lists; the summaries stay for the trend after pruning.
            cloud_sync={
                **{k: v for k, v in as_json["cloud_sync"].items() if k != "errors"},
                "error_count": len(cloud_errors),
            },
            licensing={k: v for k, v in as_json["licensing"].items() if k != "errors"},
            raw=as_json,
        )
        errors = matching.match_errors(tenant, report.provisioning_errors + cloud_errors)
        for row in errors:
            row.snapshot = snapshot
        ProvisioningError.objects.bulk_create(errors, batch_size=1000)
        licence_rows = matching.match_licence_errors(tenant, licence_errors)
        for row in licence_rows:
            row.snapshot = snapshot
        LicenceError.objects.bulk_create(licence_rows, batch_size=1000)
        if report.verified_domains:
            # They feed the scan's routable-domain rules.
            Tenant.objects.filter(pk=tenant.pk).update(verified_domains=list(report.verified_domains))
            tenant.verified_domains = list(report.verified_domains)
        matching.merge_cloud_collisions(tenant, report.cloud_only_identities, now, report.cloud_only_holders)
        matching.verify_fixed(tenant, report.last_sync, report.synced_clean_identities, errors, now)
        prune_details(tenant)
        if job is not None:
            HealthPull.objects.filter(pk=job.pk).update(
                status=HealthPull.Status.COMPLETED, error="", finished=timezone.now()
            )
    return snapshot


def prune_details(tenant: Tenant) -> None:
    """Old snapshots keep their numbers (the trend) but drop error rows and the raw report."""
    keep = list(SyncSnapshot.objects.filter(tenant=tenant).values_list("pk", flat=True)[:KEEP_DETAIL])
    old = SyncSnapshot.objects.filter(tenant=tenant).exclude(pk__in=keep)
    ProvisioningError.objects.filter(snapshot__in=old).delete()
    LicenceError.objects.filter(snapshot__in=old).delete()
    old.exclude(raw={}).update(raw={})
