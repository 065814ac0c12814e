"""Persistent tenant navigation and breadcrumbs, styled error pages, one date format and humane
durations, the bulk runs list, and a bulk preview that refuses an empty selection."""

import re
from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone
from django.views.defaults import server_error

from identityhub.remediation import actions
from identityhub.remediation.models import ApplyRun
from identityhub.scans.models import Finding, ScanRun

pytestmark = pytest.mark.django_db(transaction=True)

SECTIONS = {
    "/t/acme/": "Overview",
    "/t/acme/findings/": "Findings",
    "/t/acme/scans/": "Scans",
    "/t/acme/health/": "Sync health",
    "/t/acme/rollout/": "Rollout",
    "/t/acme/changes/": "Changes",
    "/t/acme/apply/": "Bulk runs",
    "/t/acme/exceptions/": "Exceptions",
    "/t/acme/reports/": "Reports",
}


def _current(body: str) -> str:
    nav = re.search(r'<nav class="tenant-nav".*?</nav>', body, re.S)
    assert nav, "no tenant navigation"
    marked = re.findall(r'aria-current="page">([^<]+)</a>', nav.group(0))
    assert len(marked) == 1, marked
    return marked[0]


def _last_crumb(body: str) -> str:
    crumbs = re.search(r'<nav class="crumbs".*?</nav>', body, re.S).group(0)
    return re.findall(r'<span aria-current="page">([^<]+)</span>', crumbs)[-1]


def test_every_tenant_page_carries_the_tenant_navigation_with_its_section_marked(client, personas, demo_forest):
    client.force_login(personas["admin"])
    for url, section in SECTIONS.items():
        body = client.get(url).content.decode()
        assert _current(body) == section, url
    scan = ScanRun.objects.get(is_current=True)
    finding = Finding.objects.exclude(dn__contains="\\").order_by("dn").first()
    deeper = {
        scan.get_absolute_url(): ("Scans", f"Scan #{scan.pk}"),
        finding.get_absolute_url(): ("Findings", finding.dn.split(",")[0].split("=")[1]),
        f"/t/acme/forests/{demo_forest.pk}/": ("Overview", demo_forest.name),
    }
    for url, (section, crumb) in deeper.items():
        body = client.get(url).content.decode()
        assert _current(body) == section, url
        assert _last_crumb(body) == crumb, url  # breadcrumbs end at the page


def test_objects_are_named_by_their_own_name():
    from identityhub.scans.names import object_name, parent_path

    assert object_name("CN=Adams\\, Emily,OU=Sales,DC=corp") == "Adams, Emily"
    assert parent_path("CN=Adams\\, Emily,OU=Sales,DC=corp") == "OU=Sales,DC=corp"
    assert object_name("CN=Jos\\C3\\A9,DC=corp") == "José"


def test_error_pages_are_styled_pages(client, personas, forest, settings):
    settings.DEBUG = False
    client.force_login(personas["auditor"])
    response = client.get(f"/t/acme/forests/{forest.pk}/")  # an auditor may not edit forests
    body = response.content.decode()
    assert response.status_code == 403 and 'id="error-403"' in body and 'class="topbar"' in body
    assert "may not edit" in body
    response = client.get("/t/nope/")
    assert response.status_code == 404 and 'id="error-404"' in response.content.decode()
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500 and 'id="error-500"' in response.content.decode()


def test_dates_have_one_format_and_durations_read_like_durations(client, personas, demo_forest):
    scan = ScanRun.objects.get(is_current=True)
    ScanRun.objects.filter(pk=scan.pk).update(
        started=scan.created, finished=scan.created + timedelta(seconds=83, microseconds=399554)
    )
    client.force_login(personas["lead"])
    body = client.get(scan.get_absolute_url()).content.decode()
    assert "1 min 23 s" in body and "0:01:23" not in body
    local = timezone.localtime(scan.created)
    shown = f"{local.day} {local:%b %Y %H:%M}"  # "29 Nov 2026 14:05", the one format
    assert shown in client.get(f"{finding_url(demo_forest)}").content.decode()
    for url in ("/t/acme/scans/", "/t/acme/reports/", "/t/acme/health/", "/t/acme/changes/", "/t/acme/exceptions/"):
        body = client.get(url).content.decode()
        assert not re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}|[ap]\.m\.", body), url


def finding_url(forest):
    return Finding.objects.filter(forest=forest).first().get_absolute_url()


def test_the_bulk_runs_page_lists_each_run(client, personas, demo_forest):
    admin = personas["admin"]
    run = ApplyRun.objects.create(tenant=demo_forest.tenant, requested_by=admin, total=2, done=2, status="completed")
    for finding in Finding.objects.order_by("pk")[:2]:
        actions.accept(finding, admin, apply_run=run)
    client.force_login(personas["auditor"])
    body = client.get("/t/acme/apply/").content.decode()
    row = re.search(rf'<tr><td><a href="/t/acme/apply/{run.pk}/">#{run.pk}</a>.*?</tr>', body, re.S)
    assert row and "<td>2 of 2</td><td>2</td>" in row.group(0)


def test_a_bulk_preview_of_nothing_goes_back_to_the_list_saying_why(client, personas, demo_forest):
    client.force_login(personas["admin"])
    response = client.post(
        "/t/acme/findings/bulk/preview/", {"action": "accept", "scope": "selected", "filter": "severity=blocking"}
    )
    assert response.status_code == 302 and response["Location"] == "/t/acme/findings/?severity=blocking"
    body = client.get(response["Location"]).content.decode()
    assert "Nothing to preview" in body


def test_a_write_that_fails_gives_the_actions_back(client, personas, demo_forest):
    # demo_forest here points at 127.0.0.11 with no DC of its own: nothing is sent (not AD refusing).
    finding = Finding.objects.filter(status="open").exclude(suggestion=None).exclude(suggestion="").first()
    client.force_login(personas["admin"])
    body = client.post(
        f"/t/acme/findings/{finding.pk}/edit/", {"value": finding.suggestion}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Back to the actions" in body and "not sent" in body and "Nothing was sent to AD" in body
    again = client.get(f"/t/acme/findings/{finding.pk}/actions/", HTTP_HX_REQUEST="true").content.decode()
    assert ">Fix</button>" in again
