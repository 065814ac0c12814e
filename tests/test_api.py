"""The read-only REST API: tenant scoping, roles, token auth, filters, paging, no secrets, and its schema."""

import json

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from identityhub.reports.api import TENANT_ENDPOINTS

from . import test_access_matrix as matrix
from .reports_support import BIND_PASSWORD, make_report_data, other_tenant_data


@pytest.fixture
def data(forest, personas):
    return make_report_data(forest, personas["admin"])


@pytest.fixture
def other(other_tenant, personas):
    return other_tenant_data(other_tenant, personas["outsider"])


def token_for(user) -> dict:
    return {"Authorization": f"Token {Token.objects.create(user=user).key}"}


def ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def api_routes():
    return [(route, p) for route, p in matrix.project_urls() if route.startswith(matrix.API_PREFIX)]


def test_every_api_route_is_in_the_url_matrix():
    names = {p.name for _, p in api_routes()}
    for kind in TENANT_ENDPOINTS:
        assert any(n.startswith("api-") and n.endswith(("-list", "-detail")) for n in names), kind
    assert {"api-tenant-list", "api-tenant-detail", "api-schema", "api-docs", "api-finding-list"} <= names
    for route, p in api_routes():
        # Tagged like the pages (the matrix then asks every persona), or listed as login-only.
        assert getattr(p.callback, "tenant_permission", None) == "view" or p.name in matrix.AUTHENTICATED, route


def test_anonymous_gets_401_and_a_token_works(client, personas, data):
    for route, _ in api_routes():
        url = "/" + route.replace("<slug:slug>", "acme")
        for name in ("forest_id", "scan_id", "object_id", "finding_id", "change_id", "waiver_id", "snapshot_id",
                     "error_id"):  # fmt: skip
            url = url.replace(f"<int:{name}>", "1")
        response = client.get(url)
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"] == "Token"
    auth = token_for(personas["auditor"])
    assert client.get("/api/tenants/", headers=auth).json()["results"][0]["slug"] == "acme"
    assert client.get("/api/tenants/", headers={"Authorization": "Token nope"}).status_code == 401


def test_another_tenants_objects_are_404(client, personas, data, other):
    client.force_login(personas["auditor"])
    for kind, key in (("findings", "findings"), ("changes", "change"), ("scans", "scan"), ("exceptions", "waiver"),
                      ("health-snapshots", "snapshot")):  # fmt: skip
        theirs = other[key]["blocking"] if kind == "findings" else other[key]
        assert client.get(f"/api/tenants/acme/{kind}/{theirs.pk}/").status_code == 404, kind
        assert client.get(f"/api/tenants/globex/{kind}/{theirs.pk}/").status_code == 404, kind
    assert client.get(f"/api/tenants/acme/objects/{other['objects'][0].pk}/").status_code == 404
    assert client.get(f"/api/tenants/acme/provisioning-errors/{other['errors'][0].pk}/").status_code == 404
    assert client.get("/api/tenants/globex/").status_code == 404
    assert [t["slug"] for t in client.get("/api/tenants/").json()["results"]] == ["acme"]
    # The outsider (admin of Globex) sees only Globex.
    client.force_login(personas["outsider"])
    assert client.get("/api/tenants/acme/findings/").status_code == 404
    assert len(ids(client.get("/api/tenants/globex/findings/?status=unresolved"))) == 5


@pytest.mark.parametrize("who", ["lead", "admin", "auditor", "superuser"])
def test_every_role_reads_and_nobody_writes(client, personas, data, who):
    client.force_login(personas[who])
    finding = data["findings"]["blocking"]
    url = f"/api/tenants/acme/findings/{finding.pk}/"
    assert client.get(url).json()["value"] == "user 1@acme.com"
    for method in (client.post, client.put, client.patch, client.delete):
        assert method(url, {}, content_type="application/json").status_code == 405
    assert client.post("/api/tenants/acme/findings/", {}, content_type="application/json").status_code == 405
    finding.refresh_from_db()
    assert finding.status == "open"


def test_forests_never_carry_a_secret(client, personas, data):
    client.force_login(personas["superuser"])
    response = client.get("/api/tenants/acme/forests/")
    forest = response.json()["results"][0]
    assert "bind_password" not in forest and "ca_certificate" not in forest
    assert forest["servers"] == ["127.0.0.11"] and forest["bind_user"] == "svc-idhub@corp.acme.example"
    for route, _ in api_routes():
        if "<" not in route or route.count("<") == 1 and "<slug:slug>" in route:
            body = client.get("/" + route.replace("<slug:slug>", "acme")).content.decode()
            assert BIND_PASSWORD not in body, route


def test_findings_filter_like_the_page(client, personas, data):
    client.force_login(personas["lead"])
    f = data["findings"]
    open_ones = {f[k].pk for k in ("blocking", "blocking2", "formula", "control")}
    assert set(ids(client.get("/api/tenants/acme/findings/"))) == open_ones
    assert ids(client.get("/api/tenants/acme/findings/?status=excepted")) == [f["excepted"].pk]
    assert set(ids(client.get("/api/tenants/acme/findings/?severity=blocking"))) == {
        f["blocking"].pk,
        f["blocking2"].pk,
    }
    assert ids(client.get("/api/tenants/acme/findings/?status=resolved")) == [f["resolved"].pk]
    assert ids(client.get("/api/tenants/acme/findings/?q=HYPERLINK")) == [f["formula"].pk]
    assert client.get("/api/tenants/acme/findings/?severity=bogus").status_code == 400
    # One finding by id is there whatever its status.
    assert client.get(f"/api/tenants/acme/findings/{f['resolved'].pk}/").status_code == 200


def test_paged(client, personas, data):
    client.force_login(personas["auditor"])
    first = client.get("/api/tenants/acme/findings/?status=unresolved&page_size=2").json()
    assert first["count"] == 5 and len(first["results"]) == 2 and "page=2" in first["next"]
    last = client.get("/api/tenants/acme/findings/?status=unresolved&page_size=2&page=3").json()
    assert len(last["results"]) == 1 and last["next"] is None


def test_other_endpoints(client, personas, data):
    client.force_login(personas["auditor"])
    objects = client.get("/api/tenants/acme/objects/").json()["results"]
    assert sorted(o["dn"] for o in objects) == sorted(o.dn for o in data["objects"])  # current picture
    scans = client.get("/api/tenants/acme/scans/").json()["results"]
    assert [s["id"] for s in scans] == [data["old_scan"].pk, data["scan"].pk] and scans[1]["is_current"]
    changes = client.get("/api/tenants/acme/changes/?result=applied").json()["results"]
    assert [c["id"] for c in changes] == [data["change"].pk] and changes[0]["requested_by"] == "admin"
    waiver = client.get("/api/tenants/acme/exceptions/").json()["results"][0]
    assert waiver["justification"] == "Legacy mailbox, retired in Q3" and waiver["approved_by"] == "admin"
    assert waiver["state"] == "in force"
    snapshot = client.get("/api/tenants/acme/health-snapshots/").json()["results"][0]
    assert snapshot["sync_enabled"] is True and "raw" not in snapshot
    errors = client.get("/api/tenants/acme/provisioning-errors/?property=ProxyAddresses").json()["results"]
    assert [e["object_id"] for e in errors] == ["obj-2"]
    tenant = client.get("/api/tenants/acme/").json()
    assert tenant["role"] == "auditor"


def test_rollout_state(client, personas, data):
    client.force_login(personas["lead"])
    state = client.get("/api/tenants/acme/rollout/").json()
    assert state["step"] == 7 and {c["code"] for c in state["criteria"]} >= {"no-blocking", "test-group"}


def test_schema_and_docs(client, personas):
    assert client.get("/api/schema/").status_code == 401
    client.force_login(personas["auditor"])
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert "/api/tenants/{slug}/findings/" in schema["paths"]
    assert "bind_password" not in response.content.decode()
    params = {p["name"] for p in schema["paths"]["/api/tenants/{slug}/findings/"]["get"]["parameters"]}
    assert {"severity", "rule", "status", "forest", "q", "page", "page_size"} <= params
    assert client.get("/api/docs/").status_code == 200
    assert reverse("api-schema") == "/api/schema/"


def test_serving_the_schema_leaves_the_pages_filters_alone(client, personas, data):
    # drf-spectacular builds form fields of the FilterSets' class-level filters; the health page fills
    # its category/property choices per request and must still accept them afterwards.
    client.force_login(personas["auditor"])
    assert client.get("/api/schema/").status_code == 200
    page = client.get("/t/acme/health/?property=ProxyAddresses")
    assert [e.object_id for e in page.context["table"].page.object_list.data] == ["obj-2"]
    errors = client.get("/api/tenants/acme/provisioning-errors/?property=ProxyAddresses").json()["results"]
    assert [e["object_id"] for e in errors] == ["obj-2"]


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """Calling the WSGI app directly fires request_finished, which closes the database connection
    the test's transaction lives on; django.test.Client unhooks it the same way."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_schemathesis_against_the_served_schema(personas, data, wsgi_keeps_the_test_connection):
    """Every operation of the served schema, fuzzed in-process against the WSGI app (bounded examples)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    from identityhub.wsgi import application

    auth = token_for(personas["auditor"])
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, headers=auth)
    fixed = {
        "slug": "acme",
        "forest_id": data["scan"].forest_id,
        "scan_id": data["scan"].pk,
        "object_id": data["objects"][0].pk,
        "finding_id": data["findings"]["blocking"].pk,
        "change_id": data["change"].pk,
        "waiver_id": data["waiver"].pk,
        "snapshot_id": data["snapshot"].pk,
        "error_id": data["errors"][0].pk,
    }
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) >= 19
    statuses = []
    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        strategy = operation.as_strategy(path_parameters={k: v for k, v in fixed.items() if k in names})

        @given(case=strategy)
        @settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def run(case):
            response = case.call_and_validate(headers=auth, checks=checks)
            statuses.append(response.status_code)

        run()
    assert statuses.count(200) >= len(operations)  # every operation answered with data at least once


def test_keyset_paging_reads_every_row_once_without_counting(client, personas, data):
    """Issue 18: ?after=<id> pages by the index (no OFFSET, no COUNT) and follows `next` to the end."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(personas["auditor"])
    everything = ids(client.get("/api/tenants/acme/findings/?status=unresolved&page_size=100"))
    seen, url = [], "/api/tenants/acme/findings/?status=unresolved&page_size=2&after=0"
    while url:
        with CaptureQueriesContext(connection) as captured:
            page = client.get(url).json()
        assert "count" not in page and len(page["results"]) <= 2
        assert not [q for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == sorted(everything) and len(seen) == 5
    assert client.get("/api/tenants/acme/findings/?after=x").status_code == 400
