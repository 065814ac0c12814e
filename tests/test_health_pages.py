"""The health pages: connection form (secret encrypted, never shown), Test connection, tiles,
errors table, roles; against the TLS Graph stand-in."""

from datetime import timedelta

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from django.db import connection as db
from django.utils import timezone

from identityhub.health import pulls
from identityhub.health.demo import seed_demo
from identityhub.health.models import GraphConnection, HealthPull, SyncSnapshot, age_colour
from identityhub.health.views import tiles

from .health_support import connect

pytestmark = pytest.mark.django_db


def _form(standin, **extra):
    data = {"tenant_id": standin.state.tenant_id, "client_id": standin.state.client_id, "client_secret": ""}
    data.update(extra)
    return data


# -- connection form -------------------------------------------------------------------------------


def test_the_secret_is_encrypted_at_rest_and_never_rendered(client, personas, tenant, standin):
    client.force_login(personas["admin"])
    secret = standin.state.client_secret
    response = client.post("/t/acme/health/connection/", _form(standin, client_secret=secret))
    assert response.status_code == 302 and response["Location"] == "/t/acme/health/"
    stored = GraphConnection.objects.get(tenant=tenant)
    assert stored.client_secret == secret and stored.updated_by == personas["admin"]
    tenant.refresh_from_db()
    assert str(tenant.entra_tenant_id) == standin.state.tenant_id
    with db.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM health_graphconnection")
        raw = cursor.fetchone()[0]
    assert secret not in raw and raw.startswith("gAAAA")  # a Fernet token

    page = client.get("/t/acme/health/connection/").content.decode()
    assert secret not in page and raw not in page and "A client secret is stored" in page
    # Saving without a secret keeps the stored one.
    assert client.post("/t/acme/health/connection/", _form(standin)).status_code == 302
    assert GraphConnection.objects.get(tenant=tenant).client_secret == secret
    for who in ("lead", "auditor"):
        client.force_login(personas[who])
        assert secret not in client.get("/t/acme/health/").content.decode()


def test_a_first_connection_needs_a_credential(client, personas, standin):
    client.force_login(personas["admin"])
    response = client.post("/t/acme/health/connection/", _form(standin))
    assert response.status_code == 200 and "client secret or a certificate" in response.content.decode()
    assert not GraphConnection.objects.exists()


def test_test_connection_reads_the_organization(client, personas, standin):
    client.force_login(personas["admin"])
    url = "/t/acme/health/connection/test/"
    ok = client.post(url, _form(standin, client_secret=standin.state.client_secret), headers={"HX-Request": "true"})
    body = ok.content.decode()
    assert "Connected to Contoso" in body and "fabrikam.com" in body and "<html" not in body

    wrong = client.post(url, _form(standin, client_secret="nope"), headers={"HX-Request": "true"}).content.decode()
    assert "AADSTS7000215" in wrong and "invalid_client" in wrong

    standin.state.permissions = {"User.Read.All"}
    denied = client.post(url, _form(standin, client_secret=standin.state.client_secret)).content.decode()
    assert "Authorization_RequestDenied" in denied and "Organization.Read.All" in denied

    incomplete = client.post(url, {"tenant_id": "not-a-guid"}).content.decode()
    assert "Fix the form first" in incomplete


def test_a_certificate_credential(client, personas, tenant, standin):
    app_cert = trustme.CA().issue_cert("identityhub-app", key_type=trustme.KeyType.RSA)
    cert_pem = app_cert.cert_chain_pems[0].bytes()
    standin.state.certificate_pem = cert_pem
    key_pem = app_cert.private_key_pem.bytes().decode()
    client.force_login(personas["admin"])
    pasted = _form(standin, certificate_key=key_pem + cert_pem.decode())
    tested = client.post("/t/acme/health/connection/test/", pasted).content.decode()
    assert "Connected to Contoso" in tested
    assert client.post("/t/acme/health/connection/", pasted).status_code == 302
    stored = GraphConnection.objects.get(tenant=tenant)
    thumbprint = x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA1()).hex()
    assert stored.uses_certificate and stored.certificate_thumbprint == thumbprint
    assert "CERTIFICATE" not in stored.certificate_key and not stored.client_secret
    page = client.get("/t/acme/health/connection/").content.decode()
    assert "PRIVATE KEY" not in page and "A certificate is stored" in page
    tenant.refresh_from_db()
    assert pulls.pull(tenant).sync_enabled


# -- tiles -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "colour"),
    [
        (timedelta(0), "green"),
        (timedelta(minutes=39, seconds=59), "green"),
        (timedelta(minutes=40), "amber"),
        (timedelta(hours=2, minutes=59, seconds=59), "amber"),
        (timedelta(hours=3), "red"),
        (timedelta(days=4), "red"),
        (None, "red"),
    ],
)
def test_sync_age_colours_at_the_thresholds(age, colour):
    assert age_colour(age) == colour


def _snapshot(tenant, now, sync_age, password_age=timedelta(minutes=2), **extra):
    return SyncSnapshot.objects.create(
        tenant=tenant,
        taken=now,
        sync_enabled=True,
        last_sync=now - sync_age if sync_age is not None else None,
        last_password_sync=now - password_age,
        counts={"users": {"synced": 1, "cloud_only": 0}},
        **extra,
    )


def test_tiles_on_the_page(client, personas, tenant):
    now = timezone.now()
    _snapshot(tenant, now, timedelta(minutes=41), password_age=timedelta(hours=4))
    client.force_login(personas["lead"])
    body = client.get("/t/acme/health/").content.decode()
    assert 'id="tile-last-sync" data-colour="amber"' in body.replace('class="tile amber" ', "")
    assert 'id="tile-password-sync" data-colour="red"' in body.replace('class="tile red" ', "")
    assert 'id="tile-sync-enabled" data-colour="green"' in body.replace('class="tile green" ', "")


def test_password_sync_tile_only_for_password_hash_sync(tenant):
    now = timezone.now()
    snapshot = _snapshot(tenant, now, timedelta(minutes=5))
    keys = [t["key"] for t in tiles(tenant, snapshot, now)]
    assert keys == ["engine", "sync-enabled", "last-sync", "password-sync", "errors"]
    tenant.auth_method = "pta"
    keys = [t["key"] for t in tiles(tenant, snapshot, now)]
    assert "password-sync" not in keys
    never = _snapshot(tenant, now, None)
    last = next(t for t in tiles(tenant, never, now) if t["key"] == "last-sync")
    assert (last["value"], last["colour"]) == ("never", "red")


# -- the page ------------------------------------------------------------------------------------


def test_the_page_shows_the_latest_snapshot_errors_and_filters(client, personas, tenant, standin):
    connect(tenant, standin)
    pulls.pull(tenant)
    client.force_login(personas["auditor"])
    body = client.get("/t/acme/health/").content.decode()
    assert "ben@contoso.com" in body and "smtp:support@contoso.com" in body
    assert "trend-data" in body and "chart.umd.min.js" in body
    groups = client.get("/t/acme/health/?object_type=group", headers={"HX-Request": "true", "HX-Target": "errors"})
    fragment = groups.content.decode()
    assert "smtp:support@contoso.com" in fragment and "ben@contoso.com" not in fragment and "<html" not in fragment
    text = client.get("/t/acme/health/?q=BEN").content.decode()
    assert "1 error in the latest snapshot" in text


def test_a_failed_pull_is_shown_above_the_last_good_snapshot(client, personas, tenant, standin):
    connect(tenant, standin)
    pulls.pull(tenant)
    standin.fault("/organization", 403)
    with pytest.raises(pulls.graph.GraphPermissionError):
        pulls.pull(tenant)
    client.force_login(personas["lead"])
    body = client.get("/t/acme/health/").content.decode()
    assert "The last pull failed" in body and "Organization.Read.All" in body
    assert "Showing the last good snapshot" in body and "ben@contoso.com" in body


def test_roles_read_only_for_lead_and_auditor(client, personas, tenant, standin):
    connect(tenant, standin)
    for who in ("lead", "auditor"):
        client.force_login(personas[who])
        page = client.get("/t/acme/health/")
        assert page.status_code == 200 and "Pull now" not in page.content.decode()
        assert client.post("/t/acme/health/pull/").status_code == 403
        assert client.get("/t/acme/health/connection/").status_code == 403
        assert client.post("/t/acme/health/connection/test/", {}).status_code == 403
    client.force_login(personas["outsider"])
    for url in ("/t/acme/health/", "/t/acme/health/connection/"):
        assert client.get(url).status_code == 404
    assert client.post("/t/acme/health/pull/").status_code == 404
    assert not HealthPull.objects.exists()


def test_an_admin_pulls_now(client, personas, tenant, standin, django_capture_on_commit_callbacks):
    connect(tenant, standin)
    client.force_login(personas["admin"])
    assert "Pull now" in client.get("/t/acme/health/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/t/acme/health/pull/", headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"] == "/t/acme/health/"
    pull = HealthPull.objects.get()
    assert pull.status == "completed" and pull.triggered_by == personas["admin"]
    # The status fragment polls while a pull runs and asks for a reload once it has ended.
    poll = client.get("/t/acme/health/", headers={"HX-Request": "true", "HX-Target": "pull-status"})
    assert poll.headers.get("HX-Refresh") == "true"


def test_pull_now_without_a_connection_says_so(client, personas):
    client.force_login(personas["admin"])
    response = client.post("/t/acme/health/pull/", follow=True)
    assert "Connect the tenant to Microsoft Graph first" in response.content.decode()
    assert not HealthPull.objects.exists()


def test_a_running_pull_polls(client, personas, tenant, standin):
    connect(tenant, standin)
    job = pulls.queue_pull(tenant)  # inside the test transaction on_commit never fires: stays queued
    client.force_login(personas["lead"])
    body = client.get("/t/acme/health/").content.decode()
    assert f"Pull #{job.pk} is queued" in body and 'hx-trigger="every 2s"' in body
    poll = client.get("/t/acme/health/", headers={"HX-Request": "true", "HX-Target": "pull-status"})
    assert "HX-Refresh" not in poll.headers and "every 2s" in poll.content.decode()


def test_the_tenant_page_links_the_health_page(client, personas):
    client.force_login(personas["lead"])
    assert 'href="/t/acme/health/"' in client.get("/t/acme/").content.decode()


# -- demo ------------------------------------------------------------------------------------------


def test_demo_snapshots_are_labelled(client, personas, tenant):
    assert seed_demo(tenant) == 12
    assert seed_demo(tenant) == 0  # once
    assert SyncSnapshot.objects.filter(tenant=tenant, is_demo=True).count() == 12
    client.force_login(personas["lead"])
    body = client.get("/t/acme/health/").content.decode()
    assert "Demo data." in body and "Kiosk Lobby" in body


def test_bootstrap_demo_seeds_health_matched_to_the_demo_forest(monkeypatch, settings, tmp_path):
    from django.core.management import call_command

    from identityhub.health.models import ProvisioningError
    from identityhub.scans.models import Finding

    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setenv("ADMIN_PASSWORD", "demo-admin-pw")
    call_command("bootstrap_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    snapshots = SyncSnapshot.objects.filter(tenant__slug="contoso-demo")
    assert snapshots.count() == 12 and all(s.is_demo for s in snapshots)
    latest = snapshots.first()
    errors = ProvisioningError.objects.filter(snapshot=latest)
    by_name = {e.display_name: e for e in errors}
    assert by_name["Emily Fernández"].matched_by == "anchor"
    assert by_name["Emily Fernández"].matched_finding.rule == "duplicate.smtp"
    assert by_name["HR Approvers 4"].matched_by == "value"
    assert not by_name["Kiosk Lobby"].matched_guid  # in the cloud only
    collisions = Finding.objects.filter(tenant__slug="contoso-demo", rule="cloud.collision", status="open")
    assert {f.value.lower() for f in collisions} >= {"jennifer.walker@contoso.com", "smtp:it-approvers@contoso.com"}
    call_command("bootstrap_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert snapshots.count() == 12


def test_a_pasted_private_key_is_not_sent_back_with_a_form_error(client, personas, standin):
    client.force_login(personas["admin"])
    key = "-----BEGIN PRIVATE KEY-----\nnot-really-a-key\n-----END PRIVATE KEY-----"
    response = client.post("/t/acme/health/connection/", _form(standin, certificate_key=key))
    assert response.status_code == 200  # the form has an error
    assert "not-really-a-key" not in response.content.decode()


def test_recent_pulls_are_listed_with_why_they_failed_even_without_a_snapshot(client, personas, tenant, standin):
    connect(tenant, standin)
    standin.fault("/organization", 403, times=None)
    for _ in range(2):
        with pytest.raises(pulls.graph.GraphPermissionError):
            pulls.pull(tenant, user=personas["admin"])
    client.force_login(personas["auditor"])
    page = client.get("/t/acme/health/").content.decode()
    assert "No health data yet" in page  # no pull ever succeeded
    recent = page[page.index('id="recent-pulls"') :]
    assert recent.count("Organization.Read.All") == 2 and recent.count(">admin<") == 2
    assert recent.count("status-failed") == 2
