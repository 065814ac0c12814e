"""Webhooks: a JSON POST per event to each receiver of the tenant that wants it.

The body has a "text" field, which is what Teams and Slack incoming webhooks show, plus the event
and its data for any other receiver. emit() only writes WebhookDelivery rows and, once they are
committed, hands each to a Celery task: nothing is sent in the request that caused the event.
The task tries once with short time-outs and, on failure, retries with exponential back-off
(BACKOFF_BASE * 2**(attempt-1), at most BACKOFF_CAP) up to MAX_ATTEMPTS, recording every
attempt on the row. In production these requests go out to the internet (Teams, Slack, ...),
and only there: lib/egress refuses private addresses unless WEBHOOK_ALLOW_PRIVATE_ADDRESSES is on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from identityhub.lib import egress

from .models import Webhook, WebhookDelivery

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0
MAX_ATTEMPTS = 6
BACKOFF_BASE = 30  # seconds before the second attempt
BACKOFF_CAP = 3600
SIGNATURE_HEADER = "X-IdentityHub-Signature"


def absolute(path: str) -> str:
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    return f"{base}{path}" if base else path


def payload_for(tenant, event: str, text: str, **data) -> dict:
    url = absolute(f"/t/{tenant.slug}/rollout/")
    return {
        "text": f"IdentityHub · {tenant.name}: {text}" + (f" {url}" if url.startswith("http") else ""),
        "event": event,
        "tenant": {"slug": tenant.slug, "name": tenant.name},
        "url": url,
        "at": timezone.now().isoformat(),
        "data": data,
    }


def emit(tenant, event: str, text: str, **data) -> list[WebhookDelivery]:
    """A delivery for every active receiver of the tenant that wants `event`, queued on commit."""
    hooks = [h for h in Webhook.objects.filter(tenant=tenant, active=True) if event in h.events]
    payload = payload_for(tenant, event, text, **data)
    deliveries = [
        WebhookDelivery.objects.create(webhook=hook, event=event, payload=payload, next_attempt_at=timezone.now())
        for hook in hooks
    ]
    for delivery in deliveries:
        queue(delivery)
    return deliveries


def queue(delivery: WebhookDelivery, countdown: int | None = None) -> None:
    from .tasks import deliver_webhook

    transaction.on_commit(lambda: deliver_webhook.apply_async((delivery.pk,), countdown=countdown))


def backoff(attempts: int) -> int:
    """Seconds to wait after `attempts` failed attempts."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def attempt(delivery_id: int) -> int | None:
    """One attempt; None when delivered or given up (or nothing to do), else seconds until the next."""
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return None  # a re-delivered task after the outcome was recorded
    body = json.dumps(delivery.payload).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "IdentityHub-webhook"}
    if delivery.webhook.secret:
        headers[SIGNATURE_HEADER] = signature(delivery.webhook.secret, body)
    status_code, error, permanent = None, "", False
    if invalid := egress.host_error(delivery.webhook.url):  # saved before the form checked it: retrying cannot help
        error, permanent = invalid[:500], True
    else:
        status_code, error, permanent = _post(delivery, body, headers)
    now = timezone.now()
    attempts = delivery.attempts + 1
    fields = {"attempts": attempts, "status_code": status_code, "error": error, "last_attempt_at": now}
    wait = None
    if not error:
        fields.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=now, next_attempt_at=None)
    elif permanent or attempts >= MAX_ATTEMPTS:
        fields.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None)
    else:
        wait = backoff(attempts)
        fields.update(next_attempt_at=now + timedelta(seconds=wait))
    WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.PENDING).update(**fields)
    if error:
        log.info("webhook delivery %s to %s failed (attempt %s): %s", delivery.pk, delivery.webhook, attempts, error)
    return wait


def _post(delivery: WebhookDelivery, body: bytes, headers: dict) -> tuple[int | None, str, bool]:
    """One POST: (HTTP status, error, whether the error is permanent)."""
    status_code, error, permanent = None, "", False
    try:
        with egress.session(allow_private=settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES) as http:
            response = http.post(
                delivery.webhook.url, data=body, headers=headers, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                allow_redirects=False,
            )  # fmt: skip
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}: {response.text[:200]}"
    except egress.PrivateAddressError as exc:
        error, permanent = f"{exc} (WEBHOOK_ALLOW_PRIVATE_ADDRESSES is off)"[:500], True
    except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema) as exc:  # the same every time
        error, permanent = f"{exc.__class__.__name__}: {exc}"[:500], True
    except requests.RequestException as exc:
        error = f"{exc.__class__.__name__}: {exc}"[:500]
    return status_code, error, permanent


def requeue_overdue(now=None) -> int:
    """Pending deliveries whose next attempt is long overdue (their task was lost): queue them again."""
    now = now or timezone.now()
    overdue = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lt=now - timedelta(minutes=10)
    )
    count = 0
    for delivery in overdue:
        queue(delivery)
        count += 1
    return count
