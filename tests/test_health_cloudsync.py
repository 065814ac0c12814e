"""Cloud Sync health and licence readiness through the health pull, page, exports and command,
against the TLS Graph stand-in (real msal, real HTTP) and PostgreSQL."""

import csv
import io
import json
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from identityhub.health import pulls
from identityhub.health.models import (
    GraphConnection,
    HealthPull,
    LicenceError,
    ProvisioningError,
    SyncEngine,
    engine_of,
)
from identityhub.health.views import tiles
from identityhub.scans.models import Finding

from .graph_standin import add_cloud_sync, add_licence_errors
from .health_support import ad_group, ad_user, connect, scan, synced_as

pytestmark = pytest.mark.django_db


@pytest.fixture
def cloud_tenant(tenant, forest, standin):
    """Acme synced by Cloud Sync: Ben (scanned, anchored), Support (scanned, found by DN in the log),
    Cy (scanned, licence error matched by anchor); the stand-in's users carry licence errors."""
    tenant.verified_domains = ["acme.com", "contoso.com"]
    tenant.save()
    ben, cy = uuid.uuid4(), uuid.uuid4()
    scan(
        forest,
        [
            ad_user("Ben", upn="ben@contoso.com", guid=ben),
            ad_user("Benjamin", upn="benjamin@acme.com", mail="ben@contoso.com"),  # a duplicate: a finding
            ad_user("Cy", upn="cy@fabrikam.com", guid=cy),
            ad_group("Support", mail="support@contoso.com"),
        ],
    )
    add_cloud_sync(standin.state, timezone.now(), matched_guid=ben)
    add_licence_errors(standin.state)
    synced_as(standin.state.users[2], cy)
    standin.state.max_page_size = 2  # users, provisioning events and principals all page
    connect(tenant, standin)
    tenant.ben_guid = ben
    return tenant


def test_a_pull_stores_cloud_sync_health_and_licences_matched_on_prem(cloud_tenant, forest, standin):
    standin.fault("/auditLogs/provisioning", 429, retry_after="0")
    standin.fault("/users", 503, retry_after="0")
    snapshot = pulls.pull(cloud_tenant)

    jobs = snapshot.cloud_sync_jobs
    assert sorted(j["status"] for j in jobs) == ["Active", "Active", "NotConfigured", "NotRun", "Paused", "Quarantine"]
    quarantined = next(j for j in jobs if j["status"] == "Quarantine")
    assert quarantined["configuration"] == "corp.acme.example"
    assert quarantined["quarantine"]["reason"] == "EncounteredQuarantineException"
    assert snapshot.cloud_sync["detected"] is True and snapshot.cloud_sync["error_count"] == 3
    assert engine_of(GraphConnection.objects.get(tenant=cloud_tenant), snapshot) == SyncEngine.CLOUD
    assert snapshot.error_count == 2 + 3  # Connect's two onPremisesProvisioningErrors + Cloud Sync's three
    assert "errors" not in snapshot.cloud_sync  # rows carry them

    cloud = {e.display_name: e for e in ProvisioningError.objects.filter(snapshot=snapshot, source="cloud_sync")}
    ben = cloud["Ben"]
    assert (ben.matched_by, ben.matched_guid, ben.matched_forest) == ("anchor", cloud_tenant.ben_guid, forest)
    assert ben.occurrences == 3 and ben.property == "AzureActiveDirectoryConflictingObjectUPN"
    assert ben.matched_finding is not None and ben.matched_finding.status == Finding.Status.OPEN
    support = cloud["Support"]
    assert support.matched_by == "dn" and support.matched_dn.startswith("CN=Support,")
    assert cloud["Ghost"].matched_guid is None

    assert snapshot.licensing["errors_by_code"] == {
        "CountViolation": 2,
        "MutuallyExclusiveViolation": 1,
        "ProhibitedInUsageLocationViolation": 1,
    }
    assert snapshot.licensing["users_without_usage_location"]["synced"] == 1
    rows = {(e.upn, e.error_code): e for e in LicenceError.objects.filter(snapshot=snapshot)}
    assert len(rows) == 4
    cy = rows[("cy@fabrikam.com", "ProhibitedInUsageLocationViolation")]
    assert cy.matched_by == "anchor" and cy.matched_dn.startswith("CN=Cy,") and cy.sku_part_number == "SPE_E3"
    assert rows[("ben@contoso.onmicrosoft.com", "CountViolation")].matched_guid is None  # no such UPN on-prem
    assert {s["sku_part_number"]: s["consumed"] for s in snapshot.licensing["skus"]}["EXCHANGESTANDARD"] == 1


def test_a_missing_permission_does_not_fail_the_pull_and_the_page_names_it(cloud_tenant, standin, client, personas):
    standin.state.permissions = {"Directory.Read.All", "AuditLog.Read.All"}  # no Synchronization.Read.All
    snapshot = pulls.pull(cloud_tenant)
    assert HealthPull.objects.get(pk=snapshot.pull_id).status == HealthPull.Status.COMPLETED
    assert [p["permission"] for p in snapshot.problems] == ["Synchronization.Read.All"] * 2
    client.force_login(personas["lead"])
    body = client.get("/t/acme/health/").content.decode()
    assert 'id="permission-problems"' in body and "Synchronization.Read.All" in body and "Cloud Sync jobs" in body
    assert engine_of(None, snapshot) == SyncEngine.CLOUD  # a configuration exists even if its jobs are hidden


def test_the_tiles_of_a_cloud_sync_tenant(cloud_tenant, standin):
    now = timezone.now()
    snapshot = pulls.pull(cloud_tenant)
    by_key = {t["key"]: t for t in tiles(cloud_tenant, snapshot, now)}
    assert by_key["engine"]["value"] == "Entra Cloud Sync" and by_key["engine"]["detail"] == "detected from Graph"
    assert (by_key["cloud-sync-jobs"]["colour"], by_key["cloud-sync-jobs"]["value"]) == ("red", "1 in quarantine")
    assert by_key["cloud-sync-escrows"]["value"] == 2 and by_key["cloud-sync-escrows"]["colour"] == "amber"
    assert (by_key["licence-errors"]["value"], by_key["licence-errors"]["colour"]) == (3, "red")
    assert by_key["usage-location"]["value"] == 1

    # Out of quarantine, some jobs paused or never run: amber; all active and clean: green.
    for principal in standin.state.service_principals:
        for job in principal["jobs"]:
            if job["status"]["code"] == "Quarantine":
                job["status"].update(code="Active", quarantine=None)
    snapshot = pulls.pull(cloud_tenant)
    assert {t["key"]: t for t in tiles(cloud_tenant, snapshot, now)}["cloud-sync-jobs"]["colour"] == "amber"
    for principal in standin.state.service_principals:
        principal["jobs"] = [j for j in principal["jobs"] if j["status"]["code"] == "Active"]
        for job in principal["jobs"]:
            job["status"]["lastExecution"]["countEscrowed"] = 0
    snapshot = pulls.pull(cloud_tenant)
    assert {t["key"]: t for t in tiles(cloud_tenant, snapshot, now)}["cloud-sync-jobs"]["colour"] == "green"


def test_the_page_table_filters_exports_and_trend(cloud_tenant, standin, client, personas):
    pulls.pull(cloud_tenant)
    client.force_login(personas["auditor"])
    body = client.get("/t/acme/health/").content.decode()
    assert 'id="tile-cloud-sync-jobs" data-colour="red"' in body.replace('class="tile red" ', "")
    assert 'id="cloud-sync-jobs"' in body and "EncounteredQuarantineException" in body
    assert 'id="licence-errors"' in body and "ProhibitedInUsageLocationViolation" in body
    assert "none left" in body  # EXCHANGESTANDARD: 1 of 1 consumed, next to CountViolation
    fragment = client.get(
        "/t/acme/health/?source=cloud_sync", headers={"HX-Request": "true", "HX-Target": "errors"}
    ).content.decode()
    assert "3 errors in the latest snapshot" in fragment and "AzureActiveDirectoryConflictingObjectUPN" in fragment
    assert "smtp:support@contoso.com" not in fragment  # Connect Sync's rows are filtered out
    export = client.get("/t/acme/health/errors/export.csv?source=cloud_sync")
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
    assert {r["engine"] for r in rows} == {"cloud_sync"} and len(rows) == 3
    assert {r["on-prem DN as logged"] for r in rows if r["display name"] == "Support"} == {
        "CN=Support,OU=Groups,DC=corp,DC=acme,DC=example"
    }
    trend = json.loads(body.split('id="trend-data" type="application/json">')[1].split("</script>")[0])
    assert trend["escrows"] == [2] and trend["licence_errors"] == [3]

    count_violations = client.get("/t/acme/health/?licence_code=CountViolation").content.decode()
    listed = count_violations.split('id="licence-errors"')[1].split("</table>")[0]
    assert listed.count("CountViolation") == 2 and "ProhibitedInUsageLocationViolation" not in listed
    export = client.get("/t/acme/health/licence-errors/export.csv?licence_code=CountViolation")
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
    assert [(r["UPN"], r["SKU"]) for r in rows] == [
        ("ben@contoso.onmicrosoft.com", "EXCHANGESTANDARD"),
        ("eve@contoso.onmicrosoft.com", "EXCHANGESTANDARD"),
    ]
    xlsx = client.get("/t/acme/health/licence-errors/export.xlsx")
    assert xlsx.status_code == 200 and xlsx["Content-Type"].startswith("application/vnd.openxmlformats")


def test_a_connect_sync_tenant_shows_no_cloud_sync(tenant, standin, client, personas):
    connect(tenant, standin)
    snapshot = pulls.pull(tenant)
    assert snapshot.cloud_sync["detected"] is False and snapshot.cloud_sync_jobs == []
    assert engine_of(GraphConnection.objects.get(tenant=tenant), snapshot) == SyncEngine.CONNECT
    client.force_login(personas["lead"])
    body = client.get("/t/acme/health/").content.decode()
    assert "Entra Connect Sync" in body and 'id="cloud-sync"' not in body and "permission-problems" not in body
    assert standin.seen("/auditLogs/provisioning") == []


def test_the_engine_is_editable_on_the_connection_form(tenant, standin, client, personas):
    connect(tenant, standin)
    client.force_login(personas["admin"])
    form = client.get("/t/acme/health/connection/").content.decode()
    assert "Detect from Graph" in form and "Both (during a migration)" in form
    data = {
        "tenant_id": standin.state.tenant_id,
        "client_id": standin.state.client_id,
        "client_secret": "",
        "sync_engine": "both",
        "provisioning_log_days": "14",
    }
    assert client.post("/t/acme/health/connection/", data).status_code == 302
    connection = GraphConnection.objects.get(tenant=tenant)
    assert (connection.sync_engine, connection.provisioning_log_days) == ("both", 14)
    snapshot = pulls.pull(tenant)
    assert engine_of(connection, snapshot) == SyncEngine.BOTH and snapshot.cloud_sync["days"] == 14
    body = client.get("/t/acme/health/").content.decode()
    assert 'id="cloud-sync"' in body and "No Cloud Sync configuration with a job was found" in body
    bad = client.post("/t/acme/health/connection/", {**data, "provisioning_log_days": "31"})
    assert bad.status_code == 200 and GraphConnection.objects.get(tenant=tenant).provisioning_log_days == 14


def test_pull_health_json_has_cloud_sync_and_licensing(cloud_tenant, standin):
    out = StringIO()
    call_command("pull_health", "acme", "--json", stdout=out)
    data = json.loads(out.getvalue())
    cloud = data["cloud_sync"]
    jobs = [j for c in cloud["configurations"] for j in c["jobs"]]
    quarantined = next(j for j in jobs if j["status"] == "Quarantine")
    assert quarantined["quarantine"]["reason"] == "EncounteredQuarantineException"
    assert quarantined["last_execution"]["state"] == "Failed"
    assert sum(j["escrows"] for j in jobs) == 2 and cloud["detected"] is True
    assert {e["display_name"] for e in cloud["errors"]} == {"Ben", "Support", "Ghost"}
    licensing = data["licensing"]
    assert licensing["users_without_usage_location"]["synced"] == 1
    assert licensing["errors_by_code"]["CountViolation"] == 2
    assert {s["sku_part_number"]: (s["consumed"], s["enabled"]) for s in licensing["skus"]} == {
        "SPE_E3": (3, 10),
        "EXCHANGESTANDARD": (1, 1),
    }
    summary = StringIO()
    call_command("pull_health", "acme", stdout=summary)
    text = summary.getvalue()
    assert "cloud sync jobs:" in text and "Quarantine" in text and "licence errors:" in text


def test_the_demo_tenant_stays_connect_sync(tenant, client, personas):
    from identityhub.health.demo import seed_demo

    seed_demo(tenant)
    snapshot = tenant.sync_snapshots.first()
    assert engine_of(None, snapshot) == SyncEngine.CONNECT
    keys = [t["key"] for t in tiles(tenant, snapshot, timezone.now())]
    assert "cloud-sync-jobs" not in keys and keys[0] == "engine"
    client.force_login(personas["lead"])
    body = client.get("/t/acme/health/").content.decode()
    assert "Entra Connect Sync" in body and 'id="cloud-sync"' not in body
