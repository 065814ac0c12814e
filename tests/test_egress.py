"""Webhook egress: a host is resolved and every address checked BEFORE any TCP connection, and a host that
is not a valid (internationalised) domain name is refused outright (issue #12, point 9).

DNS is the one faked boundary (a name that resolves to loopback); the listener is a real socket on 127.0.0.1,
and a connection would complete in its backlog even though nobody accepts it.
"""

import socket

import pytest
import requests

from identityhub.lib import egress
from identityhub.rollout import webhooks
from identityhub.rollout.models import Webhook, WebhookDelivery

RTL_OVERRIDE = "https://hooks.exa\u202emple.com/webhook"


@pytest.fixture
def listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.setblocking(False)
    yield srv
    srv.close()


def connections(srv) -> int:
    count = 0
    while True:
        try:
            conn, _ = srv.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


@pytest.fixture
def fake_dns(monkeypatch):
    """Names under .example.com resolve to the addresses given; everything else as usual."""
    answers = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, bytes):
            host = host.decode()
        if host in answers:
            family = socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (address, port)) for address in answers[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize("addresses", [["127.0.0.1"], ["8.8.8.8", "127.0.0.1"], ["10.0.0.7"], ["169.254.169.254"]])
def test_a_name_resolving_to_a_private_address_is_refused_before_connecting(listener, fake_dns, addresses):
    port = listener.getsockname()[1]
    fake_dns["hooks.example.com"] = [a if a != "127.0.0.1" else "127.0.0.1" for a in addresses]
    with egress.session() as http, pytest.raises(egress.PrivateAddressError) as refused:
        http.post(f"http://hooks.example.com:{port}/hook", json={"text": "x"}, timeout=2)
    assert "not a public internet address" in str(refused.value)
    assert connections(listener) == 0  # no TCP handshake ever reached the port


def test_the_refusal_says_the_same_whether_the_port_is_open_or_closed(listener, fake_dns):
    fake_dns["hooks.example.com"] = ["127.0.0.1"]
    open_port = listener.getsockname()[1]
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        closed_port = spare.getsockname()[1]
    messages = []
    for port in (open_port, closed_port):
        with egress.session() as http, pytest.raises(egress.PrivateAddressError) as refused:
            http.get(f"http://hooks.example.com:{port}/", timeout=2)
        messages.append(str(refused.value).replace(str(port), "PORT"))
    assert messages[0] == messages[1]


def test_a_public_answer_is_connected_to_by_the_address_that_was_checked(listener, fake_dns, monkeypatch):
    # Only loopback is reachable here: let it count as public, and make the name resolve differently the
    # second time (DNS rebinding): the connection must go to the address checked, with no second lookup.
    monkeypatch.setattr(egress, "is_public_address", lambda address: address == "127.0.0.1")
    port = listener.getsockname()[1]
    fake_dns["hooks.example.com"] = ["127.0.0.1"]
    lookups = []
    checked = egress.resolve_public("hooks.example.com", port, lookup=lambda *a: lookups.append(a) or [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))
    ])  # fmt: skip
    assert checked == ["127.0.0.1"] and len(lookups) == 1
    with egress.session() as http, pytest.raises(requests.RequestException):
        http.get(f"http://hooks.example.com:{port}/", timeout=0.5)  # connects (nobody answers HTTP)
    assert connections(listener) == 1


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("hooks.example.com", True),
        ("bücher.example", True),  # a valid internationalised name
        ("xn--bcher-kva.example", True),
        ("hooks.exa\u202emple.com", False),  # right-to-left override
        ("exa\u200bmple.com", False),  # zero-width space
        ("a b.example", False),
        ("-bad-.example", False),
        ("x" * 64 + ".example", False),
        ("8.8.8.8", True),
        ("[2001:4860:4860::8888]", True),
    ],
)
def test_host_syntax(host, ok):
    assert (egress.host_error(f"https://{host}/x") is None) == ok


@pytest.mark.django_db
def test_the_form_refuses_a_host_that_is_not_a_valid_name(client, personas, tenant, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # even then
    client.force_login(personas["admin"])
    page = client.post("/t/acme/rollout/webhooks/", {"url": RTL_OVERRIDE, "events": ["step.completed"]}, follow=True)
    assert not Webhook.objects.exists()
    assert "not a valid internet host name" in page.content.decode()


@pytest.mark.django_db
def test_a_stored_url_with_an_invalid_host_fails_at_once_instead_of_retrying(tenant):
    hook = Webhook.objects.create(tenant=tenant, url=RTL_OVERRIDE, events=["step.completed"])
    delivery = WebhookDelivery.objects.create(webhook=hook, event="step.completed", payload={"text": "x"})
    assert webhooks.attempt(delivery.pk) is None  # no retry
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 1
    assert "not a valid internet host name" in delivery.error
