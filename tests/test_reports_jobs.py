"""Background exports: the findings workbook and the evidence pack (PDF + ZIP with a SHA-256 manifest)."""

import csv
import hashlib
import io
import shutil
import subprocess
import zipfile

import openpyxl
import pytest
from pypdf import PdfReader

from identityhub.reports import evidence, jobs
from identityhub.reports.models import ExportJob

from .reports_support import BIND_PASSWORD, make_report_data, other_tenant_data


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def data(forest, personas):
    return make_report_data(forest, personas["admin"])


def start(client, django_capture_on_commit_callbacks, **post):
    # CELERY_TASK_ALWAYS_EAGER (pyproject): the task runs when the request's transaction commits.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/t/acme/reports/start/", post)
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert response["Location"] == job.get_absolute_url()
    return job


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_workbook_has_summary_metadata_and_a_sheet_per_rule(client, personas, data, django_capture_on_commit_callbacks):
    client.force_login(personas["lead"])
    job = start(client, django_capture_on_commit_callbacks, kind="workbook", filter="status=")  # every status
    job.refresh_from_db()
    assert (job.status, job.progress, job.error) == ("completed", 100, "")
    book = openpyxl.load_workbook(io.BytesIO(body(client.get(f"/t/acme/reports/{job.pk}/download/"))))
    assert book.sheetnames == ["Summary", "Scan metadata", "upn.character", "mail.character", "displayname.length"]
    summary = {row[0]: row[1:] for row in book["Summary"].iter_rows(values_only=True) if row and row[0]}
    assert summary["Findings"][0] == 6
    assert summary["Blocking"][0] == 3 and summary["Degrading"][0] == 2 and summary["Hygiene"][0] == 1
    assert summary["upn.character"][:2] == ("blocking", 3)
    assert summary["corp.acme.example"][0] == 6
    assert "Readiness score" in summary
    meta = list(book["Scan metadata"].iter_rows(values_only=True))
    row = dict(zip(meta[0], meta[1], strict=True))
    assert row["catalogue version"] == "1" and row["servers"] == "127.0.0.11" and row["objects excluded"] == 2
    assert row["exclusions by reason"] == "critical system object: 2"
    upn = list(book["upn.character"].iter_rows(values_only=True))
    assert len(upn) == 4 and {r[2] for r in upn[1:]} == {"upn.character"}


def test_workbook_takes_the_findings_filter(client, personas, data, django_capture_on_commit_callbacks):
    client.force_login(personas["auditor"])
    job = start(client, django_capture_on_commit_callbacks, kind="workbook", filter="severity=blocking")
    book = openpyxl.load_workbook(io.BytesIO(body(client.get(f"/t/acme/reports/{job.pk}/download/"))))
    assert book.sheetnames == ["Summary", "Scan metadata", "upn.character"]
    assert len(list(book["upn.character"].iter_rows())) == 3  # the resolved one is not unresolved


def test_evidence_pack(client, personas, data, django_capture_on_commit_callbacks, other_tenant):
    other_tenant_data(other_tenant, personas["outsider"])
    client.force_login(personas["auditor"])
    job = start(client, django_capture_on_commit_callbacks, kind="evidence")
    job.refresh_from_db()
    assert job.status == "completed", job.error
    archive = zipfile.ZipFile(io.BytesIO(body(client.get(f"/t/acme/reports/{job.pk}/download/"))))
    names = set(archive.namelist())
    assert {"settings.csv", "forests.csv", "scans.csv", "findings-open.csv", "exceptions.csv", "changes.csv",
            "changes.ldf", "provisioning-errors.csv", "health-snapshot.csv", "score-trend.csv",
            "manifest.sha256"} <= names  # fmt: skip

    # The manifest lists every other file of the ZIP with its SHA-256, in sha256sum format.
    manifest = archive.read("manifest.sha256").decode()
    listed = evidence.parse_manifest(manifest)
    assert set(listed) == names - {"manifest.sha256"}
    for name, digest in listed.items():
        assert hashlib.sha256(archive.read(name)).hexdigest() == digest, name
    assert job.manifest_sha256 == hashlib.sha256(manifest.encode()).hexdigest()

    def table(name):
        return list(csv.DictReader(io.StringIO(archive.read(name).decode())))

    settings_rows = {r["setting"]: r["value"] for r in table("settings.csv")}
    assert settings_rows["tenant"] == "Acme" and settings_rows["rule catalogue version"]
    forest = table("forests.csv")[0]
    assert forest["bind user"] == "svc-idhub@corp.acme.example" and forest["servers"] == "127.0.0.11"
    assert [int(r["scan"]) for r in table("scans.csv")] == [data["old_scan"].pk, data["scan"].pk]
    assert len(table("findings-open.csv")) == 4  # open: not resolved, accepted or excepted
    waiver = table("exceptions.csv")[0]
    assert (waiver["justification"], waiver["approved by"]) == ("Legacy mailbox, retired in Q3", "admin")
    assert waiver["expires on"] == data["waiver"].expires_on.isoformat()
    assert {int(r["id"]) for r in table("changes.csv")} == set(
        data["change"].tenant.changes.values_list("pk", flat=True)
    )
    ldif = archive.read("changes.ldf").decode("ascii")
    assert ldif.count("changetype: modify") == 1 and "userPrincipalName: user5@acme.com" in ldif
    assert [r["cloud object ID"] for r in table("provisioning-errors.csv")] == ["obj-1", "obj-2"]
    health = {r["field"]: r["value"] for r in table("health-snapshot.csv")}
    assert health["directory sync enabled"] == "yes" and health["users synced"] == "9"
    trend = table("score-trend.csv")
    assert [r["open blocking"] for r in trend] == ["5", "2"]

    for content in [archive.read(n) for n in names]:
        assert BIND_PASSWORD.encode() not in content and b"globex" not in content.lower()

    pdf = client.get(f"/t/acme/reports/{job.pk}/download/pdf/")
    assert pdf["Content-Type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body(pdf))).pages)
    flat = " ".join(text.split())
    assert job.manifest_sha256 in "".join(text.split())
    headings = [
        "Scope and settings",
        "Scan history and score trend",
        "Open findings by severity",
        "Exceptions",
        "Change log",
        "Rollout criteria and sign-offs",
        "Latest sync health snapshot",
    ]
    for heading in headings:
        assert heading in flat, heading
    squashed = "".join(text.split())  # table cells wrap long words across lines
    assert "Legacymailbox,retiredinQ3" in squashed and "svc-idhub@corp.acme.example" in squashed
    assert data["change"].dn.replace(" ", "") in squashed
    assert BIND_PASSWORD not in text


def test_manifest_checks_with_sha256sum(tmp_path, forest, personas, data):
    if not shutil.which("sha256sum"):
        pytest.skip("no sha256sum")
    pack = evidence.build(forest.tenant, personas["auditor"], tmp_path)
    result = subprocess.run(["sha256sum", "-c", "manifest.sha256"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == len(pack.files) - 1


def test_progress_polls_until_done(client, personas, data, django_capture_on_commit_callbacks):
    client.force_login(personas["admin"])
    job = ExportJob.objects.create(tenant=data["scan"].tenant, kind="workbook", created_by=personas["admin"])
    poll = client.get(job.get_absolute_url(), headers={"HX-Request": "true"})
    assert 'hx-trigger="every 2s"' in poll.content.decode() and "<html" not in poll.content.decode()
    jobs.execute(job.pk)
    poll = client.get(job.get_absolute_url(), headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in poll and f"/t/acme/reports/{job.pk}/download/" in poll
    assert jobs.execute(job.pk) is None  # a rerun (acks_late redelivery) does nothing


def test_a_failing_job_records_why(client, personas, data, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(jobs, "build_workbook", broken)
    job = ExportJob.objects.create(tenant=data["scan"].tenant, kind="workbook", created_by=personas["admin"])
    jobs.execute(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "disk full" in job.error
    client.force_login(personas["admin"])
    assert client.get(f"/t/acme/reports/{job.pk}/download/").status_code == 404


def test_download_checks_tenant_and_role_again(
    client, personas, data, other_tenant, django_capture_on_commit_callbacks
):
    client.force_login(personas["auditor"])
    job = start(client, django_capture_on_commit_callbacks, kind="workbook")
    other = ExportJob.objects.create(tenant=other_tenant, kind="workbook", created_by=personas["outsider"])
    url = f"/t/acme/reports/{job.pk}/download/"
    assert client.get(url).status_code == 200
    assert client.get(f"/t/acme/reports/{other.pk}/download/").status_code == 404  # not this tenant's job
    client.force_login(personas["outsider"])
    assert client.get(url).status_code == 404
    assert client.get(f"/t/globex/reports/{job.pk}/download/").status_code == 404
    client.logout()
    assert client.get(url).status_code == 302


def test_reports_page_lists_jobs(client, personas, data, django_capture_on_commit_callbacks):
    client.force_login(personas["lead"])
    job = start(client, django_capture_on_commit_callbacks, kind="workbook")
    page = client.get("/t/acme/reports/").content.decode()
    assert f"/t/acme/reports/{job.pk}/download/" in page and "Build evidence pack" in page


def test_export_files_are_removed_after_the_retention_period(client, personas, data, settings):
    from datetime import timedelta
    from pathlib import Path

    from django.utils import timezone

    from identityhub.reports.tasks import remove_expired_exports

    settings.EXPORT_RETENTION_DAYS = 30
    tenant = data["scan"].tenant
    old, recent = (
        ExportJob.objects.create(tenant=tenant, kind="evidence", created_by=personas["admin"]) for _ in range(2)
    )
    for job in (old, recent):
        jobs.execute(job.pk)
    old.refresh_from_db()
    files = [Path(old.file.path), Path(old.pdf.path)]
    assert all(f.exists() for f in files)
    ExportJob.objects.filter(pk=old.pk).update(finished=timezone.now() - timedelta(days=31))

    assert remove_expired_exports.delay().get() == 1
    assert remove_expired_exports.delay().get() == 0  # idempotent
    old.refresh_from_db()
    recent.refresh_from_db()
    assert not any(f.exists() for f in files) and not old.file and not old.pdf and old.files_removed
    assert old.manifest_sha256 and old.status == "completed"  # the record stays
    assert recent.file and Path(recent.file.path).exists() and not recent.files_removed
    client.force_login(personas["auditor"])
    assert client.get(f"/t/acme/reports/{old.pk}/download/").status_code == 404
    page = client.get(old.get_absolute_url()).content.decode()
    assert "after the retention period of 30 days" in page and "/download/" not in page
    assert settings.CELERY_BEAT_SCHEDULE["remove-expired-exports"]["task"] == remove_expired_exports.name
