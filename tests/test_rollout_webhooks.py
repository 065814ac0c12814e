"""Webhook deliveries to a real HTTP receiver on 127.0.0.1: success, failure then retry, a receiver
that is down or hangs, and the page that caused the event never waiting for any of it."""

import json
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from identityhub.rollout import webhooks
from identityhub.rollout.models import Webhook, WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def receivers_on_loopback(settings):
    # The receivers here listen on 127.0.0.1; production refuses private addresses (see the end).
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True


class Receiver:
    """Answers each POST with the next scripted status (200 when the script is empty), or hangs."""

    def __init__(self, statuses=(), hang=False):
        self.statuses, self.hang, self.received = deque(statuses), hang, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), json.loads(body), body))
                if receiver.hang:
                    time.sleep(3)
                    return
                status = receiver.statuses.popleft() if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hook(tenant, url, events=("step.completed",), **extra):
    return Webhook.objects.create(tenant=tenant, url=url, events=list(events), **extra)


def test_a_delivery_posts_signed_json_with_a_text_field(tenant, django_capture_on_commit_callbacks):
    with Receiver() as receiver:
        hook(tenant, receiver.url, secret="s3cret")
        hook(tenant, receiver.url, events=["health.red"])  # not interested
        hook(tenant, receiver.url, active=False)  # switched off
        with django_capture_on_commit_callbacks(execute=True):
            [delivery] = webhooks.emit(tenant, "step.completed", "step 7 completed.", step=7)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.status_code) == ("delivered", 1, 200)
    [(headers, payload, body)] = receiver.received
    assert payload["text"].startswith("IdentityHub · Acme: step 7 completed.")
    assert payload["event"] == "step.completed" and payload["data"] == {"step": 7}
    assert payload["tenant"] == {"slug": "acme", "name": "Acme"}
    assert headers["X-IdentityHub-Signature"] == webhooks.signature("s3cret", body)


def test_a_failed_delivery_is_retried_with_back_off_until_it_succeeds(tenant, django_capture_on_commit_callbacks):
    with Receiver(statuses=[500, 503]) as receiver:
        hook(tenant, receiver.url, events=["scan.new_blocking"])
        with django_capture_on_commit_callbacks(execute=True):
            # Eager Celery runs the retries at once; a worker waits backoff() between them.
            [delivery] = webhooks.emit(tenant, "scan.new_blocking", "2 new blocking findings.")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.status_code, delivery.error) == ("delivered", 3, 200, "")
    assert len(receiver.received) == 3
    assert [webhooks.backoff(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240] and webhooks.backoff(20) == 3600


def test_each_attempt_records_the_error_and_the_next_attempt(tenant):
    with Receiver(statuses=[500]) as receiver:
        delivery = hook(tenant, receiver.url).deliveries.create(event="test", payload={"text": "x"})
        assert webhooks.attempt(delivery.pk) == 30
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.status_code == 500
    assert delivery.error.startswith("HTTP 500") and delivery.next_attempt_at > delivery.last_attempt_at
    assert webhooks.requeue_overdue(now=delivery.next_attempt_at) == 0  # not overdue: its task is waiting


def test_a_receiver_that_is_down_gives_up_after_the_last_attempt(
    tenant, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(webhooks, "MAX_ATTEMPTS", 3)
    hook(tenant, f"http://127.0.0.1:{closed_port()}/hook")
    began = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = webhooks.emit(tenant, "step.completed", "step 8 completed.")
    assert time.monotonic() - began < 3
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 3 and "ConnectionError" in delivery.error


def test_a_hanging_receiver_times_out(tenant, monkeypatch):
    monkeypatch.setattr(webhooks, "READ_TIMEOUT", 0.3)
    with Receiver(hang=True) as receiver:
        delivery = hook(tenant, receiver.url).deliveries.create(event="test", payload={"text": "x"})
        began = time.monotonic()
        assert webhooks.attempt(delivery.pk) == 30
        assert time.monotonic() - began < 2
    delivery.refresh_from_db()
    assert "ReadTimeout" in delivery.error and delivery.status == "pending"


def test_a_page_never_waits_for_a_receiver(client, personas, tenant, django_capture_on_commit_callbacks):
    """The view only writes the row; the send is handed to Celery once committed (a worker in production)."""
    with Receiver(hang=True) as receiver:
        webhook = hook(tenant, receiver.url)
        client.force_login(personas["lead"])
        client.get("/rollout/")  # warm up: the first request imports every view
        began = time.monotonic()
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = client.post(f"/t/acme/rollout/webhooks/{webhook.pk}/test/")
        assert response.status_code == 302 and time.monotonic() - began < 1
        assert receiver.received == []  # nothing was sent during the request
    delivery = WebhookDelivery.objects.get(webhook=webhook)
    assert delivery.status == "pending" and delivery.attempts == 0 and len(callbacks) == 1


def test_only_http_and_https_urls_are_accepted(client, personas, tenant):
    client.force_login(personas["admin"])
    for url in ("ftp://example.com/hook", "file:///etc/passwd", "javascript:alert(1)"):
        client.post("/t/acme/rollout/webhooks/", {"url": url, "events": ["step.completed"]})
    assert not Webhook.objects.exists()
    response = client.post(
        "/t/acme/rollout/webhooks/", {"url": "https://outlook.office.com/webhook/x", "events": ["health.red"]}
    )
    assert response.status_code == 302
    assert Webhook.objects.get().events == ["health.red"]
    client.force_login(personas["auditor"])
    assert client.post("/t/acme/rollout/webhooks/", {"url": "https://x.example/"}).status_code == 403


# --------------------------------------------------------------------------- private addresses (SSRF)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_by_default_a_delivery_to_a_private_address_is_refused_without_a_request(tenant, settings, host):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    with Receiver() as receiver:
        # "localhost" is a name: it is refused after DNS, on the address actually connected to.
        url = receiver.url.replace("127.0.0.1", host)
        hook = Webhook.objects.create(tenant=tenant, url=url, events=["step.completed"])
        webhooks.emit(tenant, "step.completed", "Step 7 done.")
        delivery = WebhookDelivery.objects.get(webhook=hook)
        assert webhooks.attempt(delivery.pk) is None  # given up at once: retrying cannot help
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 1
    assert "not a public internet address" in delivery.error and "WEBHOOK_ALLOW_PRIVATE_ADDRESSES" in delivery.error
    assert receiver.received == []


def test_the_guarded_session_lets_public_peers_through(monkeypatch):
    from identityhub.lib import egress

    # Only 127.0.0.1 is reachable here: let it count as public to see a guarded request go through.
    monkeypatch.setattr(egress, "is_public_address", lambda address: address == "127.0.0.1")
    with Receiver() as receiver, egress.session() as http:
        assert http.post(receiver.url, json={"text": "hi"}, timeout=3).status_code == 200
    assert len(receiver.received) == 1


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://127.0.0.1:8000/hook", False),
        ("http://169.254.169.254/latest/meta-data/", False),
        ("http://[::1]/hook", False),
        ("http://[::ffff:10.0.0.5]/hook", False),
        ("http://10.1.2.3/hook", False),
        ("http://intranet/hook", False),
        ("http://printer.lan/hook", False),
        ("https://jenkins.corp.local/hook", False),
        ("https://localhost/hook", False),
        ("https://outlook.office.com/webhook/x", True),  # names are not resolved here (no DNS in a form)
        ("https://203.0.113.7/hook", False),  # documentation range, not global
        ("https://8.8.8.8/hook", True),
    ],
)
def test_the_form_refuses_plainly_private_urls(client, personas, tenant, settings, url, ok):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    client.force_login(personas["admin"])
    response = client.post("/t/acme/rollout/webhooks/", {"url": url, "events": ["step.completed"]}, follow=True)
    assert Webhook.objects.exists() == ok
    # Refused by our check, or (a single-label host) already by Django's URL validation.
    assert ("Webhook not added" in response.content.decode()) != ok


def test_the_form_says_why_a_private_url_is_refused(client, personas, tenant, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    client.force_login(personas["admin"])
    page = client.post("/t/acme/rollout/webhooks/", {"url": "http://169.254.169.254/", "events": ["step.completed"]},
                       follow=True).content.decode()  # fmt: skip
    assert "169.254.169.254 is not a public internet address" in page and "internet receivers" in page
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # a receiver inside the network, on purpose
    client.post("/t/acme/rollout/webhooks/", {"url": "http://10.1.2.3/hook", "events": ["step.completed"]})
    assert Webhook.objects.get().url == "http://10.1.2.3/hook"
