"""Forest schedules: a full scan at the set time (or interval), a delta every N minutes between;
Scan now offers both kinds; the scan list, API and freshness criteria know the kind."""

import datetime

import pytest
from django.utils import timezone

from identityhub.scans import pipeline
from identityhub.scans.models import Finding, ScanRun

pytestmark = pytest.mark.django_db


def _scan(forest, when, kind="full", **fields):
    scan = ScanRun.objects.create(tenant=forest.tenant, forest=forest, kind=kind, status="completed", **fields)
    ScanRun.objects.filter(pk=scan.pk).update(created=when)
    return scan


def _at(hour, minute=0, day=10):
    return timezone.make_aware(datetime.datetime(2026, 11, day, hour, minute))


def test_a_nightly_full_scan_at_the_set_time_and_deltas_between(forest):
    forest.scan_schedule, forest.full_scan_time, forest.delta_minutes = "daily", datetime.time(2, 0), 15
    forest.save()
    assert pipeline.due_kind(forest, _at(9)) == "full"  # never scanned
    _scan(forest, _at(2, 1))
    assert pipeline.due_kind(forest, _at(2, 10)) is None
    assert pipeline.due_kind(forest, _at(2, 16)) == "delta"
    _scan(forest, _at(2, 16), kind="delta")
    assert pipeline.due_kind(forest, _at(2, 20)) is None
    assert pipeline.due_kind(forest, _at(23, 59)) == "delta"
    assert pipeline.due_kind(forest, _at(2, 0, day=11)) == "full"  # the next night


def test_a_weekly_full_scan_waits_a_week_and_no_deltas_when_zero(forest):
    forest.scan_schedule, forest.full_scan_time, forest.delta_minutes = "weekly", datetime.time(3, 30), 0
    forest.save()
    _scan(forest, _at(3, 31, day=2))
    assert pipeline.due_kind(forest, _at(12, day=8)) is None
    assert pipeline.due_kind(forest, _at(3, 30, day=9)) == "full"


def test_manual_forests_are_never_queued(forest):
    forest.scan_schedule = "manual"
    forest.save()
    assert pipeline.queue_due_scans(timezone.now()) == []


def test_scan_now_offers_full_and_delta_and_refuses_other_kinds(
    client, personas, forest, django_capture_on_commit_callbacks
):
    client.force_login(personas["admin"])
    page = client.get("/t/acme/").content.decode()
    assert 'value="full"' in page and 'value="delta"' in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/t/acme/forests/{forest.pk}/scan/", {"kind": "delta"})
    # The eager worker ran it: no watermark and no picture, so a full scan ran and says why.
    scan = ScanRun.objects.get(forest=forest)
    assert scan.kind == "full" and "no completed scan" in scan.full_reason
    response = client.post(f"/t/acme/forests/{forest.pk}/scan/", {"kind": "weekly"}, follow=True)
    assert "Choose a full or a delta scan." in response.content.decode()
    assert ScanRun.objects.filter(forest=forest).count() == 1


def test_an_upload_is_always_a_full_scan(forest):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("corp.ldf", b"dn: CN=x,DC=corp,DC=acme,DC=example\nobjectClass: contact\n")
    scan = pipeline.queue_scan(forest, upload=upload, kind=ScanRun.Kind.DELTA)
    assert scan.kind == "full"


def test_the_scan_list_and_api_carry_the_kind_and_counts(client, personas, forest):
    _scan(forest, timezone.now(), kind="delta", objects_read=7, objects_changed=5, objects_deleted=2)
    _scan(forest, timezone.now(), full_reason="The DC's invocationId changed")
    client.force_login(personas["auditor"])
    page = client.get("/t/acme/scans/").content.decode()
    assert "Delta" in page and "The DC&#x27;s invocationId changed" in page
    rows = client.get("/api/tenants/acme/scans/").json()["results"]
    delta = next(r for r in rows if r["kind"] == "delta")
    assert (delta["objects_read"], delta["objects_changed"], delta["objects_deleted"]) == (7, 5, 2)
    assert any(r["full_reason"] == "The DC's invocationId changed" for r in rows)


def test_a_delta_counts_as_fresh_for_last_seen_and_forest_scanned(client, personas, forest):
    long_ago = timezone.now() - datetime.timedelta(days=20)
    picture = _scan(forest, long_ago, is_current=True)
    ScanRun.objects.filter(pk=picture.pk).update(finished=long_ago, refreshed=timezone.now())
    finding = Finding.objects.create(
        tenant=forest.tenant, forest=forest, key="k", guid="6f0f7a52-4a36-4c5e-9d0e-8f3c1e6b2a11", dn="CN=x",
        object_class="user", ou="", rule="upn.character", severity="blocking", error="character",
        attribute="userPrincipalName", value="a b", first_seen=long_ago, last_seen=long_ago,
    )  # fmt: skip
    seen = Finding.objects.with_seen().get(pk=finding.pk).seen_at
    assert timezone.now() - seen < datetime.timedelta(minutes=1)
    client.force_login(personas["auditor"])
    api = client.get(f"/api/tenants/acme/findings/{finding.pk}/").json()
    assert api["last_seen"][:10] == timezone.now().date().isoformat()

    from identityhub.rollout.criteria import forests_scanned

    class Ev:
        forests = [forest]
        current_scans = {forest.pk: ScanRun.objects.get(pk=picture.pk)}
        now = timezone.now()
        tenant = forest.tenant

        class checkpoint:  # noqa: N801 - stands in for the Checkpoint row
            scan_max_age_hours = 24

        def url(self, *args, **kwargs):
            return "/"

    assert forests_scanned(Ev()).state == "met"
