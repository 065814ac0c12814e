"""A scan that would drop a large share of its forest's objects waits for an admin's confirmation.

Like Entra Connect's accidental-deletion guard: a truncated export, a file of comments only or a
DC answering with a partial tree must not resolve the forest's findings by itself.
"""

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from identityhub.rollout.models import RolloutEvent
from identityhub.scans import pipeline
from identityhub.scans.models import DirectoryObject, Finding, ScanRun, StagedFinding
from identityhub.scans.sources import entries_for

from .test_scan_pipeline import scan_with, user

pytestmark = pytest.mark.django_db


def staff(count):
    # Every user has a finding of its own (a space in the UPN).
    return [user(f"User{n}", upn=f"user{n} x@acme.com", guid=GUIDS[n]) for n in range(count)]


GUIDS = [__import__("uuid").UUID(int=n + 1) for n in range(40)]


@pytest.fixture
def scanned(forest):
    first = scan_with(forest, staff(20))
    assert first.status == "completed"
    return first


def open_findings(forest):
    return Finding.objects.filter(forest=forest, rule="upn.character", status="open").count()


def test_a_scan_dropping_more_than_the_share_is_held_with_its_numbers(forest, scanned):
    held = scan_with(forest, staff(17))  # 3 of 20 gone: 15 % > 10 %
    assert held.status == ScanRun.Status.HELD and not held.is_current
    assert (held.objects_before, held.objects_in_scope, held.objects_dropped) == (20, 17, 3)
    assert held.drop_percent == 15
    scanned.refresh_from_db()
    assert scanned.is_current
    assert open_findings(forest) == 20  # nothing resolved
    # Its staging is kept until someone decides.
    assert DirectoryObject.objects.filter(scan=held).count() == 17
    assert StagedFinding.objects.filter(scan=held).count() == 17


def test_a_drop_within_the_share_completes(forest, scanned):
    done = scan_with(forest, staff(19))  # 5 %
    assert done.status == "completed" and done.is_current
    assert open_findings(forest) == 19


def test_objects_replaced_by_others_count_as_dropped(forest, scanned):
    # The same number of objects, but 5 of them others: the picture would lose 5 of 20.
    others = staff(15) + [user(f"New{n}", guid=GUIDS[30 + n]) for n in range(5)]
    held = scan_with(forest, others)
    assert held.status == "held" and held.objects_dropped == 5


def test_the_share_comes_from_the_settings(forest, scanned, settings):
    settings.SCAN_CONFIRM_DROP_SHARE = 0.5
    assert scan_with(forest, staff(17)).status == "completed"


def test_an_empty_scan_of_a_forest_with_objects_is_always_held(forest, scanned, settings):
    settings.SCAN_CONFIRM_DROP_SHARE = 1.0
    held = scan_with(forest, [])
    assert held.status == "held" and (held.objects_before, held.objects_dropped) == (20, 20)
    assert open_findings(forest) == 20


def test_a_first_empty_scan_completes(forest):
    assert scan_with(forest, []).status == "completed"


def test_an_upload_of_comments_and_blank_lines_resolves_nothing(forest, scanned, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    scan = ScanRun.objects.create(tenant=forest.tenant, forest=forest, source=ScanRun.Source.UPLOAD)
    scan.upload.save("empty.ldf", ContentFile(b"# exported by ldifde\r\n\r\n\r\n# nothing else\r\n\r\n"))
    held = pipeline.execute(scan.pk, entries_for)
    assert held.status == "held" and held.objects_in_scope == 0
    assert open_findings(forest) == 20


def test_confirming_makes_it_the_current_picture(forest, scanned, personas, client, django_capture_on_commit_callbacks):
    held = scan_with(forest, staff(17))
    client.force_login(personas["admin"])
    with django_capture_on_commit_callbacks(execute=True):  # the worker's task, run eagerly
        response = client.post(reverse("scan-confirm", args=[forest.tenant.slug, held.pk]))
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.status == "completed" and held.is_current
    assert held.reviewed_by == personas["admin"] and held.reviewed_at
    assert open_findings(forest) == 17
    assert Finding.objects.filter(forest=forest, status="resolved").count() == 3
    assert not StagedFinding.objects.filter(scan=held).exists()
    texts = list(RolloutEvent.objects.filter(tenant=forest.tenant).values_list("text", flat=True))
    assert any("needs confirmation" in t and "3 of 20" in t for t in texts), texts
    assert any(t.startswith(f"Scan #{held.pk} ") and "confirmed" in t for t in texts), texts


def test_rejecting_discards_it_and_keeps_the_picture(
    forest, scanned, personas, client, django_capture_on_commit_callbacks
):
    held = scan_with(forest, staff(17))
    client.force_login(personas["admin"])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("scan-reject", args=[forest.tenant.slug, held.pk]))
    held.refresh_from_db()
    assert held.status == "rejected" and not held.is_current and "admin" in held.error
    assert not DirectoryObject.objects.filter(scan=held).exists()
    assert not StagedFinding.objects.filter(scan=held).exists()
    scanned.refresh_from_db()
    assert scanned.is_current and open_findings(forest) == 20
    # Confirming afterwards changes nothing.
    client.post(reverse("scan-confirm", args=[forest.tenant.slug, held.pk]))
    held.refresh_from_db()
    assert held.status == "rejected"


def test_only_admins_may_decide(forest, scanned, personas, client):
    held = scan_with(forest, staff(17))
    for who in ("lead", "auditor"):
        client.force_login(personas[who])
        page = client.get(held.get_absolute_url()).content.decode()
        assert "Needs confirmation" in page and "Confirm" not in page
        for name in ("scan-confirm", "scan-reject"):
            assert client.post(reverse(name, args=[forest.tenant.slug, held.pk])).status_code == 403
    held.refresh_from_db()
    assert held.status == "held"
    client.force_login(personas["admin"])
    page = client.get(held.get_absolute_url()).content.decode()
    for text in ("Needs confirmation", "20", "17", "3 (15%)", "Confirm", "Reject"):
        assert text in page, text
    listing = client.get(reverse("scan-list", args=[forest.tenant.slug])).content.decode()
    assert "Needs confirmation" in listing


def test_a_later_scan_supersedes_a_held_one(forest, scanned):
    held = scan_with(forest, staff(17))
    done = scan_with(forest, staff(20))
    held.refresh_from_db()
    assert done.status == "completed" and held.status == "rejected" and "Superseded" in held.error
    assert not DirectoryObject.objects.filter(scan=held).exists()


def test_the_api_shows_the_numbers(forest, scanned, personas, client):
    held = scan_with(forest, staff(17))
    client.force_login(personas["auditor"])
    data = client.get(f"/api/tenants/{forest.tenant.slug}/scans/{held.pk}/").json()
    assert data["status"] == "held"
    assert (data["objects_before"], data["objects_in_scope"], data["objects_dropped"]) == (20, 17, 3)
    assert data["drop_percent"] == 15


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_admin_confirms_a_held_scan_in_the_browser(live_server, page, personas, forest):
    from .browser import log_in, screenshot

    scan_with(forest, staff(20))
    held = scan_with(forest, staff(4))
    log_in(page, live_server, "admin", "pw-admin")
    page.goto(f"{live_server.url}{held.get_absolute_url()}")
    progress = page.locator("#scan-progress")
    assert "Needs confirmation" in progress.inner_text() and "16 of 20" in progress.inner_text()
    for width in (1440, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(page, f"scan-held-{width}")
    page.get_by_role("button", name="Confirm: make it the current picture").click()
    page.wait_for_selector("#scan-progress .status-completed")
    assert open_findings(forest) == 4
    page.goto(f"{live_server.url}/t/{forest.tenant.slug}/scans/")
    screenshot(page, "scan-list-after-confirm")
