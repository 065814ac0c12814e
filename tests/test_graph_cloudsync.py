"""Cloud Sync and licensing reads of identityhub.lib against the TLS Graph stand-in (no mocks)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from identityhub.lib import cloudsync, graph, licences
from identityhub.lib.rules.licensing import is_country_code
from tests.graph_standin import add_cloud_sync, add_licence_errors, graph_standin

NOW = datetime.now(UTC)


standin = pytest.fixture(graph_standin, name="standin")  # the Graph stand-in, started and stopped


@pytest.fixture
def waits():
    return []


@pytest.fixture
def client(standin, waits):
    state = standin.state
    with graph.GraphClient(
        state.tenant_id,
        state.client_id,
        client_secret=state.client_secret,
        sleep=waits.append,
        **standin.client_kwargs(),
    ) as c:
        yield c


@pytest.mark.parametrize(
    ("path", "permission"),
    [
        ("/servicePrincipals", "Application.Read.All"),
        ("/servicePrincipals/abc/synchronization/jobs", "Synchronization.Read.All"),
        ("https://graph.microsoft.com/v1.0/auditLogs/provisioning?$skiptoken=x", "AuditLog.Read.All"),
        ("/subscribedSkus", "LicenseAssignment.Read.All"),
        ("/groups", "Group.Read.All"),
    ],
)
def test_each_new_call_names_its_least_privileged_permission(path, permission):
    assert graph.required_permission(path) == permission


def test_jobs_in_every_status_and_the_quarantine_reason(standin, client):
    names = add_cloud_sync(standin.state, NOW)
    result = cloudsync.read_cloud_sync(client, NOW)
    assert result["detected"] is True and result["problems"] == []
    by_name = {c["display_name"]: c for c in result["configurations"]}
    assert set(by_name) == {"corp.acme.example", "lab.acme.example"}  # not the other app's principal
    statuses = sorted(j["status"] for c in by_name.values() for j in c["jobs"])
    assert statuses == ["Active", "Active", "NotConfigured", "NotRun", "Paused", "Quarantine"]
    quarantined = by_name["corp.acme.example"]["jobs"][0]
    assert quarantined["quarantine"]["reason"] == "EncounteredQuarantineException"
    assert quarantined["quarantine"]["since"] == "2026-11-27T06:00:00+00:00"
    assert quarantined["successive_failures"] == 9 and quarantined["last_execution"]["state"] == "Failed"
    active = by_name["lab.acme.example"]["jobs"][0]
    assert active["escrows"] == 2 and active["last_successful_execution"]["ended"].startswith("2026-11-26")
    assert by_name["lab.acme.example"]["jobs"][2]["last_execution"] is None  # NotRun
    assert names["active"]["id"] == by_name["lab.acme.example"]["id"]


def test_provisioning_failures_are_paged_filtered_by_date_and_folded_per_object(standin, client, waits):
    guid = uuid.uuid4()
    add_cloud_sync(standin.state, NOW, matched_guid=guid)
    standin.state.max_page_size = 2
    standin.fault("/auditLogs/provisioning", 429, retry_after="2")
    standin.fault("/auditLogs/provisioning", 503, retry_after="1")
    result = cloudsync.read_cloud_sync(client, NOW, days=7)
    assert waits == [2, 1]
    requests = standin.seen("/auditLogs/provisioning")
    first = requests[0].query["$filter"][0]
    since = NOW - timedelta(days=7)
    assert first.startswith(f"activityDateTime ge {since:%Y-%m-%dT%H:%M}")
    assert first.endswith("provisioningStatusInfo/status eq 'failure'")
    assert len(requests) >= 4  # 6 events at 2 per page, after the two faults
    errors = {e["display_name"]: e for e in result["errors"]}
    assert set(errors) == {"Ben", "Support", "Ghost"}  # not the 10-day-old one, not another app's
    ben = errors["Ben"]
    assert ben["occurrences"] == 3 and ben["property"] == "AzureActiveDirectoryConflictingObjectUPN"
    assert ben["immutable_id"] == cloudsync.anchor_of_source(str(guid))
    assert (NOW - ben["occurred"]).days == 3 and (NOW - ben["last_occurred"]).days == 1
    assert ben["upn"] == "ben@contoso.com" and ben["source"] == "cloud_sync"
    assert errors["Support"]["dn"].startswith("CN=Support,") and errors["Support"]["object_type"] == "group"


def test_the_window_is_configurable(standin, client):
    add_cloud_sync(standin.state, NOW)
    result = cloudsync.read_cloud_sync(client, NOW, days=1)
    assert result["days"] == 1
    assert {e["display_name"] for e in result["errors"]} == {"Ben", "Support", "Ghost"}
    ben = next(e for e in result["errors"] if e["display_name"] == "Ben")
    assert ben["occurrences"] == 1  # only the last day's


def test_reading_the_log_is_bounded(standin, client):
    add_cloud_sync(standin.state, NOW)
    result = cloudsync.read_cloud_sync(client, NOW, max_events=2)
    assert result["truncated"] is True and result["events_read"] == 2


@pytest.mark.parametrize(
    ("granted", "part", "permission"),
    [
        ({"Directory.Read.All"}, "Cloud Sync jobs", "Synchronization.Read.All"),
        ({"Directory.Read.All", "Synchronization.Read.All"}, "Provisioning logs", "AuditLog.Read.All"),
        ({"User.Read.All"}, "Cloud Sync configurations", "Application.Read.All"),
    ],
)
def test_a_missing_permission_is_named_and_the_rest_still_read(standin, client, granted, part, permission):
    add_cloud_sync(standin.state, NOW)
    standin.state.permissions = granted if part == "Provisioning logs" else granted | {"AuditLog.Read.All"}
    result = cloudsync.read_cloud_sync(client, NOW)
    problems = {p["part"]: p for p in result["problems"]}
    assert problems[part]["permission"] == permission and problems[part]["status"] == 403
    assert permission in problems[part]["message"]
    if part == "Cloud Sync configurations":
        assert result["detected"] is None and result["configurations"] == []
    else:
        assert result["detected"] is True and len(result["configurations"]) == 2


def test_a_connect_sync_tenant_has_no_cloud_sync(standin, client):
    result = cloudsync.read_cloud_sync(client, NOW)
    assert result["detected"] is False and result["configurations"] == [] and result["problems"] == []
    assert standin.seen("/auditLogs/provisioning") == []


def test_licence_errors_across_pages_with_throttling(standin, client, waits):
    add_licence_errors(standin.state)
    standin.state.max_page_size = 2
    standin.fault("/users", 429, retry_after="3")
    standin.fault("/subscribedSkus", 503, retry_after="1")
    report = graph.pull_health(client, now=NOW)
    lic = report.licensing
    assert 3 in waits and 1 in waits
    assert lic["errors_by_code"] == {
        "CountViolation": 2,
        "MutuallyExclusiveViolation": 1,
        "ProhibitedInUsageLocationViolation": 1,
    }
    assert lic["users_in_error"] == 3 and lic["problems"] == []
    assert lic["users_without_usage_location"]["synced"] == 1
    assert lic["users_without_usage_location"]["examples"] == ["cy@fabrikam.com"]
    skus = {s["sku_part_number"]: s for s in lic["skus"]}
    assert (skus["EXCHANGESTANDARD"]["consumed"], skus["EXCHANGESTANDARD"]["enabled"]) == (1, 1)
    assert {e["sku_part_number"] for e in lic["errors"] if e["error_code"] == "CountViolation"} == {"EXCHANGESTANDARD"}
    assert [(g["display_name"], g["users_in_error"]) for g in lic["groups_in_error"]] == [("Sales", 3)]
    assert report.to_json()["licensing"]["errors_by_code"]["CountViolation"] == 2


def test_licensing_without_the_sku_permission_names_it(standin, client):
    standin.state.permissions = {"User.Read.All", "Group.Read.All"}  # no licence or organization read
    tally = licences.LicenceTally()
    result = licences.read_licensing(client, tally)
    assert [(p["part"], p["permission"]) for p in result["problems"]] == [
        ("Subscribed SKUs", "LicenseAssignment.Read.All")
    ]


@pytest.mark.parametrize(
    ("value", "ok"), [("DE", True), ("GB", True), ("UK", False), ("de", False), ("DEU", False), ("", False)]
)
def test_usage_location_is_a_two_letter_iso_3166_code(value, ok):
    assert is_country_code(value) is ok


def test_a_query_graph_refuses_leaves_the_part_unread_but_an_outage_fails_the_pull(standin, client, waits):
    add_cloud_sync(standin.state, NOW)
    standin.fault("/auditLogs/provisioning", 400, code="Request_UnsupportedQuery", message="Unsupported filter.")
    result = cloudsync.read_cloud_sync(client, NOW)
    (problem,) = result["problems"]
    assert problem["part"] == "Provisioning logs" and problem["permission"] is None and problem["status"] == 400
    assert "Request_UnsupportedQuery" in problem["message"] and len(result["configurations"]) == 2

    standin.fault("/subscribedSkus", 503, times=None)
    with pytest.raises(graph.GraphError, match="after 5 attempts"):
        graph.pull_health(client, now=NOW)
