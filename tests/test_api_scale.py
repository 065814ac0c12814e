"""Issue 18: the findings API at scale. A page of findings is written without DRF's per-field
machinery and counted once per change of the findings, yet answers exactly what it answered before."""

import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from identityhub.remediation import actions
from identityhub.reports.serializers import FindingSerializer
from identityhub.scans.models import Finding

from .reports_support import finding, make_report_data

URL = "/api/tenants/acme/findings/"


@pytest.fixture
def data(forest, personas):
    data = make_report_data(forest, personas["admin"])
    now = timezone.now()
    # Every shape a row can take: verified clean, awaiting sync, no suggestion, an empty one, microseconds.
    data["verified"] = finding(
        forest, 7, status="resolved", resolved_at=now - timedelta(hours=1), verified_at=now, suggestion=""
    )
    data["accepted"] = finding(forest, 8, status="accepted", first_seen=now.replace(microsecond=0))
    return data


def reference(queryset) -> list[dict]:
    """What DRF's ModelSerializer answers for these rows, one at a time: the body before issue 18."""
    rows = [FindingSerializer(f).data for f in queryset.with_seen().order_by("pk")]
    return json.loads(JSONRenderer().render(rows))


def counting(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]


@pytest.mark.parametrize("time_zone", ["UTC", "Europe/Berlin"])
@pytest.mark.parametrize(
    "query, narrowed",
    [
        ("", lambda qs: qs.open()),
        ("?status=", lambda qs: qs),
        ("?status=unresolved", lambda qs: qs.unresolved()),
        ("?status=resolved", lambda qs: qs.filter(status="resolved")),
        ("?severity=blocking", lambda qs: qs.open().filter(severity="blocking")),
    ],
)
def test_a_page_of_findings_is_the_model_serializers_json(client, personas, data, settings, time_zone, query, narrowed):
    settings.TIME_ZONE = time_zone  # datetimes are written in the server's zone, as DRF does
    client.force_login(personas["auditor"])
    body = client.get(URL + query).json()
    expected = reference(narrowed(Finding.objects.filter(tenant=data["scan"].tenant)))
    assert expected, query
    assert body["results"] == expected
    assert body["count"] == len(expected) and body["next"] is None and body["previous"] is None
    assert list(body["results"][0]) == list(FindingSerializer().fields)  # the same keys in the same order
    keyset = client.get(URL + (query + "&" if query else "?") + "after=0").json()
    assert keyset == {"next": None, "previous": None, "results": expected}


def test_one_finding_by_id_is_unchanged(client, personas, data):
    client.force_login(personas["auditor"])
    verified = data["verified"]
    assert client.get(f"{URL}{verified.pk}/").json() == reference(Finding.objects.filter(pk=verified.pk))[0]


@pytest.mark.usefixtures("shared_cache")
def test_a_page_number_request_counts_once_per_change(client, personas, data):
    """The total of `count` is kept per filter until the tenant's findings change, not counted per page."""
    client.force_login(personas["auditor"])
    cache.clear()
    first = client.get(URL + "?page_size=2").json()
    assert first["count"] == Finding.objects.filter(tenant=data["scan"].tenant).open().count() == 4
    for url in (URL + "?page_size=2", URL + "?page_size=2&page=2"):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200 and response.json()["count"] == 4
        assert not counting(captured), url
    assert client.get(URL + "?page_size=2&page=3").status_code == 404  # past the end, by the kept total
    assert client.get(URL + "?severity=blocking").json()["count"] == 2  # each filter its own total
    assert client.get(URL + "?status=").json()["count"] == 8

    actions.accept(data["findings"]["blocking"], personas["admin"])
    assert client.get(URL + "?page_size=2").json()["count"] == 3
    assert client.get(URL + "?severity=blocking").json()["count"] == 1


@pytest.mark.usefixtures("shared_cache")
def test_a_warm_page_reads_only_its_rows(client, personas, data):
    """Session, user, tenant, role and the page's rows: no COUNT, no forest (its encrypted password)."""
    client.force_login(personas["auditor"])
    client.get(URL)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(URL).status_code == 200
    sql = [q["sql"] for q in captured.captured_queries]
    assert len(sql) <= 5, sql
    assert not [s for s in sql if "tenants_forest" in s], sql


@pytest.mark.parametrize("kind", ["findings", "objects", "health-snapshots", "provisioning-errors", "scans"])
def test_lists_join_only_what_they_write(client, personas, data, kind):
    """A list writes its rows' foreign keys as ids: no join loads the forest (and decrypts its password)."""
    client.force_login(personas["auditor"])
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"/api/tenants/acme/{kind}/").status_code == 200
    loaded = [q["sql"] for q in captured.captured_queries if '"tenants_forest"."bind_password"' in q["sql"]]
    assert not loaded, loaded
