"""Every Celery task has a soft and a hard time limit; a job stopped by its soft limit says so (issue #12, point 2)."""

import pytest
from billiard.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from identityhub.celery import app
from identityhub.health import pulls
from identityhub.health.models import HealthPull
from identityhub.reports import evidence, jobs
from identityhub.reports.models import ExportJob


def project_tasks():
    app.loader.import_default_modules()
    app.finalize()
    return {name: task for name, task in app.tasks.items() if name.startswith("identityhub.")}


def test_every_task_has_a_soft_and_a_hard_time_limit():
    tasks = project_tasks()
    assert len(tasks) >= 12, sorted(tasks)
    for name, task in tasks.items():
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        hard = task.time_limit or app.conf.task_time_limit
        assert soft and hard and 0 < soft < hard, (name, soft, hard)
    assert tasks["identityhub.scans.tasks.scan_forest"].soft_time_limit == settings.SCAN_SOFT_TIME_LIMIT
    assert tasks["identityhub.reports.tasks.run_export"].soft_time_limit == settings.EXPORT_SOFT_TIME_LIMIT
    assert tasks["identityhub.rollout.tasks.deliver_webhook"].time_limit <= 120


def _stopped(*args, **kwargs):
    raise SoftTimeLimitExceeded()  # what Celery raises inside the task when the soft limit fires


def test_an_export_stopped_by_its_time_limit_says_so(forest, personas, monkeypatch, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(evidence, "build", _stopped)
    job = ExportJob.objects.create(tenant=forest.tenant, kind="evidence", created_by=personas["auditor"])
    job = jobs.execute(job.pk)
    assert job.status == ExportJob.Status.FAILED and job.finished is not None
    assert job.error == "Stopped: it ran longer than its time limit of 30 minutes."
    assert not job.file and not job.pdf


def test_a_health_pull_stopped_by_its_time_limit_fails_with_a_clear_reason(tenant, monkeypatch):
    monkeypatch.setattr(pulls, "client_for", _stopped)
    with pytest.raises(SoftTimeLimitExceeded):
        pulls.pull(tenant)
    pull = HealthPull.objects.get(tenant=tenant)
    assert pull.status == HealthPull.Status.FAILED and "time limit of 30 minutes" in pull.error


def test_an_export_past_its_hard_limit_is_marked_failed_when_its_page_is_seen(client, forest, personas, settings):
    from django.utils import timezone

    long_ago = timezone.now() - timezone.timedelta(seconds=settings.EXPORT_SOFT_TIME_LIMIT + 600)
    stuck = ExportJob.objects.create(
        tenant=forest.tenant, kind="evidence", created_by=personas["auditor"], status="running", started=long_ago
    )
    recent = ExportJob.objects.create(
        tenant=forest.tenant, kind="evidence", created_by=personas["auditor"], status="running",
        started=timezone.now(),
    )  # fmt: skip
    client.force_login(personas["auditor"])
    page = client.get(stuck.get_absolute_url(), HTTP_HX_REQUEST="true").content.decode()
    stuck.refresh_from_db()
    recent.refresh_from_db()
    assert stuck.status == "failed" and "time limit of 30 minutes" in stuck.error and stuck.finished
    assert "hx-trigger" not in page  # the page stops polling
    assert recent.status == "running"
