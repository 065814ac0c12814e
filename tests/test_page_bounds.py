"""Every list, in the pages and the API, answers a bounded page whatever ?per_page= / ?page= say (issue #12, point 1).

The lists hold more rows than the largest page, so an unbounded page would show up as more rows than MAX_PAGE_SIZE.
"""

import uuid

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from identityhub.health.models import ProvisioningError, SyncSnapshot
from identityhub.paging import API_MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PAGE_SIZES, page_size
from identityhub.remediation.models import Change, Waiver
from identityhub.scans.models import Finding

ROWS = MAX_PAGE_SIZE + 37  # more than the largest page of the pages
API_ROWS = 30


@pytest.fixture
def many(forest):
    """ROWS findings (open), changes, exceptions and provisioning errors in tenant Acme."""
    now = timezone.now()
    tenant = forest.tenant
    requester = User.objects.create_user("bulk-requester")
    findings = Finding.objects.bulk_create(
        Finding(
            tenant=tenant,
            forest=forest,
            key=f"k{i}",
            guid=uuid.uuid4(),
            dn=f"CN=bound-{i:04d},OU=Sales,DC=acme,DC=com",
            object_class="user",
            ou="OU=Sales,DC=acme,DC=com",
            rule="upn.character",
            severity="blocking",
            error="character",
            attribute="userPrincipalName",
            value=f"bound {i}@acme.com",
            first_seen=now,
            last_seen=now,
        )
        for i in range(ROWS)
    )
    Change.objects.bulk_create(
        Change(
            tenant=tenant,
            forest=forest,
            finding=f,
            guid=f.guid,
            dn=f.dn,
            attribute=f.attribute,
            old_values=[f.value],
            new_values=[f.value.replace(" ", "")],
            action="edit",
            requested_by=requester,
            result="applied",
        )
        for f in findings
    )
    Waiver.objects.bulk_create(
        Waiver(tenant=tenant, finding=f, justification="j", expires_on=now.date(), created_by=requester)
        for f in findings
    )
    snapshot = SyncSnapshot.objects.create(tenant=tenant, taken=now, sync_enabled=True, error_count=ROWS)
    ProvisioningError.objects.bulk_create(
        ProvisioningError(snapshot=snapshot, object_id=f"o{i}", object_type="user", upn=f"p{i}@acme.com")
        for i in range(ROWS)
    )
    return findings


LISTS = {
    "findings": "/t/acme/findings/?status=all",
    "changes": "/t/acme/changes/",
    "exceptions": "/t/acme/exceptions/",
    "health": "/t/acme/health/",
}
PER_PAGE = {
    "100000000": MAX_PAGE_SIZE,
    str(10**40): MAX_PAGE_SIZE,
    "201": MAX_PAGE_SIZE,
    "-1": DEFAULT_PAGE_SIZE,
    "0": DEFAULT_PAGE_SIZE,
    "abc": DEFAULT_PAGE_SIZE,
    "1e9": DEFAULT_PAGE_SIZE,
    "": DEFAULT_PAGE_SIZE,
    "30": 50,
    "25": 25,
    "100": 100,
    "200": 200,
}


def _rows(response) -> int:
    return len(response.context["table"].page.object_list)


def test_page_sizes_are_the_documented_ones():
    assert PAGE_SIZES == (25, 50, 100, 200) and MAX_PAGE_SIZE == 200 and API_MAX_PAGE_SIZE == 1000
    assert [page_size(n) for n in (1, 25, 26, 51, 101, 199, 200, 201, 10**9)] == [25, 25, 50, 100, 200, 200] + [200] * 3


@pytest.mark.parametrize("name", LISTS)
def test_per_page_is_capped_on_every_list(client, personas, many, name):
    client.force_login(personas["auditor"])
    sep = "&" if "?" in LISTS[name] else "?"
    for requested, expected in PER_PAGE.items():
        response = client.get(f"{LISTS[name]}{sep}per_page={requested}")
        assert response.status_code == 200, (name, requested)
        assert _rows(response) == expected, (name, requested)


@pytest.mark.parametrize("name", LISTS)
def test_out_of_range_pages_answer_the_nearest_page(client, personas, many, name):
    client.force_login(personas["auditor"])
    sep = "&" if "?" in LISTS[name] else "?"
    last = ROWS - (ROWS // 100) * 100  # rows on the last page of 100
    for page, rows in (("999999", last), (str(10**30), last), ("-1", 100), ("0", 100), ("x", 100), ("2", 100)):
        response = client.get(f"{LISTS[name]}{sep}per_page=100&page={page}")
        assert response.status_code == 200, (name, page)
        assert _rows(response) == rows, (name, page)


def test_htmx_partial_of_the_findings_list_is_capped_too(client, personas, many):
    client.force_login(personas["auditor"])
    response = client.get(
        "/t/acme/findings/?status=all&per_page=100000000", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="findings"
    )
    assert response.status_code == 200 and _rows(response) == MAX_PAGE_SIZE


API_LISTS = ["findings", "changes", "exceptions", "provisioning-errors"]


@pytest.mark.parametrize("name", API_LISTS)
def test_api_page_size_is_capped_and_bad_pages_answer_404(client, personas, many, settings, name):
    client.force_login(personas["auditor"])
    url = f"/api/tenants/acme/{name}/"
    capped = client.get(url, {"page_size": "100000000"}).json()
    assert len(capped["results"]) == min(ROWS, API_MAX_PAGE_SIZE) and capped["count"] == ROWS
    for bad in ("-1", "0", "abc", ""):
        answer = client.get(url, {"page_size": bad})
        assert answer.status_code == 200 and len(answer.json()["results"]) == 100, (name, bad)
    for page in ("999999", str(10**30), "0", "-1", "x"):
        answer = client.get(url, {"page": page})
        assert answer.status_code == 404, (name, page)
        assert "detail" in answer.json()


def test_bulk_preview_of_a_whole_filter_renders_at_most_one_page_and_keeps_every_row(client, personas, many):
    client.force_login(personas["admin"])
    response = client.post(
        "/t/acme/findings/bulk/preview/", {"action": "accept", "scope": "filter", "filter": "status="}
    )
    assert response.status_code == 200
    assert len(response.context["rows"]) == ROWS  # vetted and counted
    assert response.content.decode().count("CN=bound-") == MAX_PAGE_SIZE  # rendered
    assert len(response.context["ids"].split(",")) == ROWS  # applied


def test_the_scans_list_is_paged_newest_first(client, personas, forest):
    from identityhub.scans.models import ScanRun

    ScanRun.objects.bulk_create([ScanRun(tenant=forest.tenant, forest=forest, status="completed") for _ in range(60)])
    newest = ScanRun.objects.filter(forest=forest).order_by("-created", "-pk").first()
    client.force_login(personas["auditor"])
    first = client.get(f"/t/{forest.tenant.slug}/scans/")
    assert first.status_code == 200
    assert first.content.decode().count("badge status-completed") == DEFAULT_PAGE_SIZE
    assert f'href="{newest.get_absolute_url()}"' in first.content.decode() and "Page 1 of 2" in first.content.decode()
    for bad in ("-1", "0", "x", "99999999999999999999"):
        response = client.get(f"/t/{forest.tenant.slug}/scans/?page={bad}&per_page=100000000")
        assert response.status_code == 200
        assert response.content.decode().count("badge status-completed") <= MAX_PAGE_SIZE
