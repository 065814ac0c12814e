"""Malformed uploads end their scan with the reader's message (never "Internal error"), change
nothing, and are logged as one WARNING line with a short excerpt, not an ERROR traceback."""

import logging

import pytest
from django.core.files.base import ContentFile

from identityhub.scans import pipeline
from identityhub.scans.models import Finding, ScanRun
from identityhub.scans.sources import entries_for

from .test_scan_pipeline import scan_with, user

pytestmark = pytest.mark.django_db

LONG = "x" * 5_000
BAD_UPLOADS = {
    "nul.ldf": (b"dn: CN=Ann,DC=corp\nobjectClass: user\ncn: A\x00nn\n", "line 3: NUL character"),
    "odd-hex.csv": (b"DN,objectClass,objectGUID\n\"CN=Ann,DC=corp\",user,X'abc'\n", "line 2: binary value"),
    "no-colon.ldf": (f"dn: CN=Ann,DC=corp\n{LONG}\n".encode(), "line 2: expected 'attribute: value'"),
    "bad-dn.ldf": (f'dn: CN=a{" " * 64_000}"x,DC=bad,DC=local\n'.encode(), "line 1: DN is not valid"),
    "utf16-nul.ldf": ("dn: CN=Ann,DC=corp\ncn: \x00\n".encode("utf-16"), "line 2: NUL character"),
}


def upload_scan(forest, name, data):
    scan = ScanRun.objects.create(tenant=forest.tenant, forest=forest, source=ScanRun.Source.UPLOAD)
    scan.upload.save(name, ContentFile(data))
    return pipeline.execute(scan.pk, entries_for)


@pytest.mark.parametrize("name", sorted(BAD_UPLOADS))
def test_a_malformed_upload_fails_with_the_readers_message(forest, settings, tmp_path, caplog, name):
    settings.MEDIA_ROOT = tmp_path
    good = scan_with(forest, [user("Bob", upn="bob smith@acme.com")])
    data, message = BAD_UPLOADS[name]
    with caplog.at_level(logging.INFO):
        failed = upload_scan(forest, name, data)
    assert failed.status == "failed" and failed.error.startswith(message), failed.error
    assert "Internal error" not in failed.error and len(failed.error) < 300
    good.refresh_from_db()
    assert good.is_current and Finding.objects.filter(status="open").exists()  # nothing changed
    # One line at WARNING naming the scan and the line, no traceback, no whole offending line.
    records = [r for r in caplog.records if r.name == "identityhub.scans.pipeline"]
    assert [r.levelno for r in records] == [logging.WARNING]
    assert records[0].exc_info is None and message in records[0].getMessage()
    assert len(records[0].getMessage()) < 400


def test_an_unexpected_failure_is_still_logged_with_its_traceback(forest, caplog):
    def broken(scan, prepare):
        raise RuntimeError("a bug")
        yield

    scan = ScanRun.objects.create(tenant=forest.tenant, forest=forest)
    with caplog.at_level(logging.INFO):
        failed = pipeline.execute(scan.pk, broken)
    assert failed.error == "Internal error (RuntimeError): a bug"
    [record] = [r for r in caplog.records if r.name == "identityhub.scans.pipeline"]
    assert record.levelno == logging.ERROR and record.exc_info
