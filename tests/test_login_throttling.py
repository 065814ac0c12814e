"""Password guessing is throttled on the login page and the API; weak bootstrap passwords are refused (issue #12, 8)."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token


def _login(client, username, password, **meta):
    return client.post("/login/", {"username": username, "password": password}, **meta)


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_ten_wrong_passwords_lock_the_account_out_for_the_cool_off(client, personas, settings):
    assert settings.AXES_FAILURE_LIMIT == 10
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = _login(client, "auditor", "wrong")
        assert response.status_code == 200 and not _logged_in(client)
    locked = _login(client, "auditor", "wrong")  # the tenth
    assert locked.status_code == 429 and "Too many failed logins" in locked.content.decode()
    right = _login(client, "auditor", "pw-auditor")
    assert right.status_code == 429 and not _logged_in(client)
    # Another user from the same address is not locked out by someone guessing the auditor's password.
    other = _login(client, "lead", "pw-lead")
    assert other.status_code == 302 and _logged_in(client)
    client.logout()

    # Once the cool-off has passed since the last attempt, the right password works again.
    past = timezone.now() - settings.AXES_COOLOFF_TIME - timezone.timedelta(seconds=1)
    AccessAttempt.objects.update(attempt_time=past)
    assert _login(client, "auditor", "pw-auditor").status_code == 302 and _logged_in(client)


def test_a_right_password_before_the_limit_resets_the_count(client, personas, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "admin", "wrong")
    assert _login(client, "admin", "pw-admin").status_code == 302
    client.logout()
    assert _login(client, "admin", "wrong").status_code == 200  # counting starts again


# Behind a reverse proxy every request comes from the proxy (REMOTE_ADDR); the proxy appends the address it
# received the request from to X-Forwarded-For, after whatever the client sent in that header itself.
PROXY = "10.0.0.5"


def _behind_proxy(client_address: str, forged: str = "198.51.100.66") -> dict:
    return {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": f"{forged}, {client_address}"}


def test_without_trusted_proxies_a_forged_x_forwarded_for_does_not_change_the_lockout_key(client, personas, settings):
    assert settings.TRUSTED_PROXY_COUNT == 0  # the default: X-Forwarded-For is not read
    for n in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "auditor", "wrong", REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"192.0.2.10"}
    fresh_header = _login(
        client, "auditor", "pw-auditor", REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR="203.0.113.99"
    )
    assert fresh_header.status_code == 429 and not _logged_in(client)


def test_behind_one_trusted_proxy_clients_are_throttled_separately(client, personas, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "auditor", "wrong", **_behind_proxy("203.0.113.7"))
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}
    assert _login(client, "auditor", "pw-auditor", **_behind_proxy("203.0.113.7")).status_code == 429
    # The same proxy, another client: not locked out by the first one's guessing.
    other = _login(client, "auditor", "pw-auditor", **_behind_proxy("203.0.113.8"))
    assert other.status_code == 302 and _logged_in(client)
    client.logout()
    # The locked client cannot get out by changing the part of the header it writes itself.
    forged = _login(client, "auditor", "pw-auditor", **_behind_proxy("203.0.113.7", forged="203.0.113.8"))
    assert forged.status_code == 429 and not _logged_in(client)


@pytest.mark.parametrize("header", ["", "not-an-address", "203.0.113.7\x00"])
def test_behind_a_trusted_proxy_a_header_without_a_client_address_counts_as_the_proxy(
    client, personas, settings, header
):
    settings.TRUSTED_PROXY_COUNT = 1
    response = _login(client, "auditor", "wrong", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=header)
    assert response.status_code == 200
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [PROXY]


@pytest.fixture
def fresh_rates():
    cache.clear()  # throttle counts live in the cache (Redis in CI)
    yield
    cache.clear()


def test_wrong_api_tokens_are_throttled_per_address(client, personas, settings, fresh_rates):
    settings.API_BAD_TOKEN_RATE = "5/minute"
    answers = [client.get("/api/tenants/", HTTP_AUTHORIZATION=f"Token {'0' * 39}{n}").status_code for n in range(7)]
    assert answers[:5] == [401] * 5 and answers[5:] == [429, 429]
    good = Token.objects.create(user=personas["auditor"])
    throttled = client.get("/api/tenants/", HTTP_AUTHORIZATION=f"Token {good.key}")
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert "wrong tokens" in throttled.json()["detail"]


def test_wrong_api_tokens_are_throttled_per_address_whatever_x_forwarded_for_says(
    client, personas, settings, fresh_rates
):
    settings.API_BAD_TOKEN_RATE = "3/minute"
    answers = [
        client.get("/api/tenants/", HTTP_AUTHORIZATION=f"Token {'0' * 39}{n}", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
        for n in range(4)
    ]
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    # Behind one trusted proxy, the address the proxy saw counts: another client is not throttled.
    settings.TRUSTED_PROXY_COUNT = 1
    cache.clear()
    guesser = [
        client.get("/api/tenants/", HTTP_AUTHORIZATION="Token x", **_behind_proxy("203.0.113.7")) for _ in range(4)
    ]
    assert [a.status_code for a in guesser] == [401, 401, 401, 429]
    good = Token.objects.create(user=personas["auditor"])
    other = client.get("/api/tenants/", HTTP_AUTHORIZATION=f"Token {good.key}", **_behind_proxy("203.0.113.8"))
    assert other.status_code == 200


def test_api_requests_are_throttled_per_user(client, personas, settings, fresh_rates):
    settings.API_USER_RATE = "3/minute"
    token = Token.objects.create(user=personas["auditor"])
    answers = [client.get("/api/tenants/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    other = Token.objects.create(user=personas["lead"])
    assert client.get("/api/tenants/", HTTP_AUTHORIZATION=f"Token {other.key}").status_code == 200


@pytest.mark.parametrize("weak", ["1", "password", "admin", "12345678901"])
def test_bootstrap_refuses_a_weak_admin_password(db, monkeypatch, weak):
    monkeypatch.setenv("ADMIN_PASSWORD", weak)
    with pytest.raises(CommandError, match="ADMIN_PASSWORD"):
        call_command("bootstrap_demo")
    assert not User.objects.filter(username="admin").exists()


def test_bootstrap_takes_a_strong_admin_password(db, monkeypatch, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setenv("ADMIN_PASSWORD", "correct-horse-battery-staple")
    call_command("bootstrap_demo")
    assert User.objects.get(username="admin").check_password("correct-horse-battery-staple")
