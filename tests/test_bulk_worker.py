"""A bulk run survives its worker: a real Celery worker process on Redis is SIGKILLed mid-run of 50
rows, another worker takes the run over, and every row is written to AD exactly once."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from identityhub.celery import app as celery_app
from identityhub.remediation import bulk
from identityhub.remediation.models import ApplyRun, Change

from . import ldap_proxy
from .ldap_proxy import LdapProxy
from .remediation_support import finding_on, forest_of_sandbox, scan
from .services import require

pytestmark = [pytest.mark.samba, pytest.mark.django_db(transaction=True)]

ROWS = 50
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def broker():
    """The test process sends tasks to the real Redis broker instead of running them eagerly."""
    redis_url = os.environ.get("REDIS_URL", "")
    require(bool(redis_url), "REDIS_URL is not set: the worker test needs the Redis broker")
    require(connection.vendor == "postgresql", "the worker test needs PostgreSQL")
    eager, url = celery_app.conf.task_always_eager, celery_app.conf.broker_url
    celery_app.conf.task_always_eager, celery_app.conf.broker_url = False, redis_url
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")  # nothing left over from another run
    try:
        yield redis_url
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.broker_url = eager, url


def start_worker(redis_url: str, name: str) -> subprocess.Popen:
    """`celery worker` in a process of its own, on the test database (its own session: killpg)."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "BULK_STALE_SECONDS": "2",
    }
    if db.get("PASSWORD"):
        env["DATABASE_URL"] = env["DATABASE_URL"].replace(db["USER"], f"{db['USER']}:{db['PASSWORD']}", 1)
    command = [sys.executable, "-m", "celery", "-A", "identityhub", "worker", "-P", "solo", "-n", f"{name}@%h"]
    command += ["--without-gossip", "--without-mingle", "--loglevel=WARNING"]
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdin=subprocess.DEVNULL)


def stop(worker: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, sig)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def test_a_worker_killed_mid_run_is_replaced_and_every_row_is_applied_once(
    client, personas, fix_tenant, corp_forest, sandbox, broker, settings
):
    settings.BULK_STALE_SECONDS = 2
    with LdapProxy((corp_forest.host, 389), delay=0.15) as proxy:
        forest = forest_of_sandbox(fix_tenant, corp_forest, sandbox, proxy.address)
        dns = [sandbox.user(f"Row {i:02d}", userPrincipalName=f"row {i:02d}@corp.example.com") for i in range(ROWS)]
        scan(forest)
        ids = [finding_on(dn, "userPrincipalName").pk for dn in dns]
        # Every write answered 0.15 s late (well inside the client's time-out): the run takes seconds.
        proxy.fault(ldap_proxy.DELAY_REPLY, times=10_000)
        writes_before = proxy.writes_seen

        first = start_worker(broker, "first")
        try:
            client.force_login(personas["admin"])
            client.post("/t/acme/findings/bulk/apply/", {"action": "suggestion", "ids": ",".join(map(str, ids))})
            run = ApplyRun.objects.get()
            wait_for(
                lambda: Change.objects.filter(apply_run=run).count() >= 15, 120, "15 rows done by the first worker"
            )
        finally:
            stop(first, signal.SIGKILL)  # no warm shutdown: the worker is gone mid-row
        run.refresh_from_db()
        assert run.status == "running" and run.done < ROWS

        # Once its heartbeat is stale the run is listed as stalled, its rows not attempted with a Retry.
        time.sleep(2.5)
        page = client.get(run.get_absolute_url()).content.decode()
        assert "The worker running this job stopped" in page and "Not attempted" in page and ">Retry<" in page

        second = start_worker(broker, "second")
        try:
            bulk.resume_stalled_runs.delay()  # what beat does every two minutes
            wait_for(lambda: ApplyRun.objects.get(pk=run.pk).status == "completed", 180, "the second worker")
        finally:
            stop(second)

    changes = Change.objects.filter(apply_run=run)
    assert changes.count() == ROWS
    assert sorted(changes.values_list("finding_id", flat=True)) == sorted(ids)  # one change per row
    assert set(changes.values_list("result", flat=True)) == {"applied"}
    # Exactly once: one modify per row went through the relay, and AD holds every fixed value.
    assert proxy.writes_seen - writes_before == ROWS
    for i, dn in enumerate(dns):
        assert sandbox.value(dn, "userPrincipalName") == [f"row{i:02d}@corp.example.com"]
    page = client.get(run.get_absolute_url()).content.decode()
    assert "applied 50" in page and "not attempted 0" in page
