"""`manage.py pull_health` in both forms, against the TLS Graph stand-in."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from identityhub.health.models import GraphConnection, HealthPull, ProvisioningError, SyncSnapshot
from identityhub.scans.models import Finding
from identityhub.tenants.models import Tenant

from .health_support import connect

ROOT = Path(__file__).resolve().parent.parent


def _check_snapshot_json(data):
    assert data["sync_enabled"] is True
    assert data["last_sync"] == "2026-11-24T09:00:00+00:00"
    assert data["last_password_sync"] == "2026-11-24T09:02:00+00:00"
    assert data["verified_domains"] == ["contoso.com", "contoso.onmicrosoft.com", "fabrikam.com"]
    assert data["counts"] == {
        "users": {"synced": 3, "cloud_only": 2},
        "groups": {"synced": 2, "cloud_only": 1},
        "contacts": {"synced": 1, "cloud_only": 1},
    }
    assert [(e["object_type"], e["property"], e["value"]) for e in data["provisioning_errors"]] == [
        ("user", "UserPrincipalName", "ben@contoso.com"),
        ("group", "ProxyAddress", "smtp:support@contoso.com"),
    ]
    assert data["provisioning_errors"][0]["occurred"] == "2026-11-20T08:30:00+00:00"


@pytest.mark.django_db
def test_pull_health_for_a_stored_tenant_stores_and_prints_json(tenant, standin):
    connect(tenant, standin)
    out = StringIO()
    call_command("pull_health", "acme", "--json", stdout=out)
    data = json.loads(out.getvalue())
    _check_snapshot_json(data)
    snapshot = SyncSnapshot.objects.get()
    assert data["snapshot_id"] == snapshot.pk and data["tenant"] == "acme"
    assert snapshot.provisioning_errors.count() == 2
    assert HealthPull.objects.get().status == "completed"


@pytest.mark.django_db
def test_pull_health_prints_a_summary_without_json(tenant, standin):
    connect(tenant, standin)
    out = StringIO()
    call_command("pull_health", "acme", stdout=out)
    text = out.getvalue()
    assert "sync enabled:       yes" in text and "users:" in text and "3 synced, 2 cloud-only" in text
    assert "provisioning errors: 2" in text and "Stored as snapshot" in text


@pytest.mark.django_db
def test_credentials_form_writes_nothing(tenant, standin, monkeypatch, django_assert_num_queries):
    monkeypatch.setenv("GRAPH_CLIENT_SECRET", standin.state.client_secret)
    out = StringIO()
    with django_assert_num_queries(0):  # not a single query, let alone a write
        call_command(
            "pull_health",
            "--tenant-id",
            standin.state.tenant_id,
            "--client-id",
            standin.state.client_id,
            "--json",
            stdout=out,
        )
    _check_snapshot_json(json.loads(out.getvalue()))
    for model in (SyncSnapshot, HealthPull, ProvisioningError, GraphConnection, Finding):
        assert not model.objects.exists()
    assert Tenant.objects.get(pk=tenant.pk).verified_domains == ["acme.com"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda s, env: env.setenv("GRAPH_CLIENT_SECRET", "wrong"), "AADSTS7000215"),
        (lambda s, env: s.fault("/users", 429, times=None, retry_after="0"), "429 TooManyRequests.*after 2 attempts"),
        (lambda s, env: setattr(s.state, "permissions", {"User.Read.All"}), "Organization.Read.All"),
        (lambda s, env: env.delenv("GRAPH_CLIENT_SECRET"), "GRAPH_CLIENT_SECRET"),
    ],
    ids=["bad-secret", "429-exhausted", "403", "no-secret"],
)
def test_credentials_form_fails_with_a_clear_message(standin, monkeypatch, break_it, message):
    monkeypatch.setenv("GRAPH_CLIENT_SECRET", standin.state.client_secret)
    break_it(standin, monkeypatch)
    with pytest.raises(CommandError, match=message):
        call_command("pull_health", "--tenant-id", standin.state.tenant_id, "--client-id", standin.state.client_id)


@pytest.mark.django_db
def test_stored_form_fails_clearly_and_keeps_the_reason(tenant, standin, settings):
    connect(tenant, standin)
    settings.GRAPH_AUTHORITY_HOST = "127.0.0.1:9"
    with pytest.raises(CommandError, match="Cannot reach 127.0.0.1:9"):
        call_command("pull_health", "acme")
    assert "Cannot reach" in HealthPull.objects.get().error
    with pytest.raises(CommandError, match="No tenant"):
        call_command("pull_health", "nope")
    with pytest.raises(CommandError, match="not both"):
        call_command("pull_health", "acme", "--tenant-id", "x", "--client-id", "y")


def _manage(standin, *args, secret):
    env = dict(
        os.environ,
        GRAPH_AUTHORITY_HOST=standin.host,
        GRAPH_BASE_URL=standin.graph_url,
        GRAPH_CA_BUNDLE=standin.ca_path,
        GRAPH_MAX_RETRIES="1",
        GRAPH_CLIENT_SECRET=secret,
        DATABASE_URL="sqlite:////nonexistent/never-opened.sqlite3",  # proves no database is touched
    )
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return subprocess.run(
        [sys.executable, "manage.py", "pull_health", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_the_command_line_exit_status_and_stderr(standin):
    ids = ["--tenant-id", standin.state.tenant_id, "--client-id", standin.state.client_id]
    ok = _manage(standin, *ids, "--json", secret=standin.state.client_secret)
    assert ok.returncode == 0, ok.stderr
    _check_snapshot_json(json.loads(ok.stdout))

    bad = _manage(standin, *ids, secret="wrong")
    assert bad.returncode == 1 and bad.stdout == ""
    assert "CommandError: Token refused for client" in bad.stderr and "AADSTS7000215" in bad.stderr
    assert "Traceback" not in bad.stderr
