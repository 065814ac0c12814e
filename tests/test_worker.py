"""A real Celery worker on the real Redis broker runs a scan queued by the "Check export" upload."""

import os
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from identityhub.celery import app as celery_app
from identityhub.scans.models import Finding, ScanRun

from .services import require

pytestmark = pytest.mark.django_db(transaction=True)

LDIF = (
    b"dn: CN=Wes,OU=Sales,DC=corp,DC=acme,DC=com\nobjectClass: user\ncn: Wes\nsAMAccountName: wes\n"
    b"displayName: Wes\nuserPrincipalName: wes@acme.local\n\n"
)


@pytest.fixture
def redis_worker(settings):
    redis_url = os.environ.get("REDIS_URL", "")
    require(bool(redis_url), "REDIS_URL is not set: the worker test needs the Redis broker")
    # The worker thread and the test share the database: SQLite's in-memory test DB cannot.
    require(os.environ.get("DATABASE_URL", "").startswith("postgres"), "the worker test needs PostgreSQL")
    from celery.contrib.testing.worker import start_worker

    eager, broker = celery_app.conf.task_always_eager, celery_app.conf.broker_url
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = redis_url
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.broker_url = eager, broker


def test_an_uploaded_export_is_scanned_by_a_worker(client, personas, forest, settings, tmp_path, redis_worker):
    settings.MEDIA_ROOT = tmp_path
    settings.CELERY_TASK_ALWAYS_EAGER = False
    client.force_login(personas["admin"])
    client.post(f"/t/acme/forests/{forest.pk}/upload/", {"export": SimpleUploadedFile("x.ldf", LDIF)})
    scan = ScanRun.objects.get(forest=forest)
    deadline = time.monotonic() + 60
    while scan.is_active and time.monotonic() < deadline:
        time.sleep(0.2)
        scan.refresh_from_db()
    assert scan.status == "completed", scan.error
    assert Finding.objects.filter(value="wes@acme.local").exists()
