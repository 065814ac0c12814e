"""Scale benchmark (issue 18): a large forest scanned twice, then its pages served under load.

    make bench-scale                                        # N = 100,000 on PostgreSQL
    make bench-scale BENCH_SCALE_ARGS="--count 1000000"     # the largest customers
    make bench-scale BENCH_SCALE_ARGS="--count 5000 --requests 4"   # a quick look

One run:
1. bench/generate.py writes an ldifde export of N objects with a high defect rate (default 45%, as
   a neglected directory has) in a child process.
2. The export is scanned twice through the upload path into PostgreSQL (a real ScanRun and
   pipeline.execute, as a worker runs it): the first scan of a forest, then a rescan of the same
   data. Each prints its read time and finalize's time per step.
3. The app is served by gunicorn as production serves it (DEBUG off, 3 sync workers, the request
   marked as coming through a TLS proxy) on 127.0.0.1, and a bounded load of signed-in clients is
   driven at it with plain threads: 1, 10 and 50 clients, each page in turn, a fixed number of
   requests per client, every request with a timeout. It prints p50 / p95 / p99, requests/s and
   errors per page, and the SQL queries one request of that page runs (counted in this process).
   Then the overview, the findings list and the rollout page once more, 50 clients at once right
   after a change of the findings (as an admin's fix makes): their counts are computed again.
4. Exports: the findings CSV (time to first byte, total, the workers' memory before and after) and
   the findings XLSX, which must never be built inside a request (a background job instead).

Verdicts (PASS/FAIL; exit status 1 when one fails): both scans complete and each finalize takes
no longer than its read; every page p95 < 150 ms at 1 client and < 1 s at 50 clients (also right
after a change), with no errors; CSV first byte < 1 s and worker memory flat; XLSX not built in a request.

Everything started here (gunicorn by PID, the temporary directory, the bench database) is stopped
or removed at the end, also on Ctrl-C/SIGTERM. All traffic goes to 127.0.0.1 and the DATABASE_URL
server (default: PostgreSQL on 127.0.0.1).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scan_bench import VERIFIED_DOMAINS, Bench, setup_database  # noqa: E402 - after the path is set

PAGE_P95_ONE_CLIENT = 0.150
PAGE_P95_FIFTY_CLIENTS = 1.0
CSV_FIRST_BYTE = 1.0
WORKER_MEMORY_GROWTH_MB = 64  # "flat": a streamed export may not hold its rows
REQUEST_TIMEOUT = 60.0
CLIENT_LEVELS = (1, 10, 50)
FINALIZE_STEPS = ("publish_keys", "_refresh_statistics", "vet_suggestions", "merge_findings", "recompute_duplicates")


# --------------------------------------------------------------------------- scanning


@dataclass
class StepTimer:
    """Wall time per finalize step, measured by wrapping the pipeline's own functions."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def installed(self):
        from identityhub.scans import pipeline

        originals = {
            name: getattr(pipeline, name)
            for name in (*FINALIZE_STEPS, "finalize", "prune_snapshots", "vacuum_findings")
        }

        def timed(name, function):
            def wrapper(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

            return wrapper

        for name, function in originals.items():
            setattr(pipeline, name, timed(name, function))
        try:
            yield self
        finally:
            for name, function in originals.items():
                setattr(pipeline, name, function)


def generate_export(bench: Bench, count: int, seed: int, defect_rate: float) -> tuple[Path, dict]:
    path = bench.workdir / "forest.ldf"
    started = time.perf_counter()
    command = [sys.executable, str(ROOT / "bench" / "generate.py"), "--count", str(count), "--seed", str(seed),
               "--format", "ldif", "--out", str(path), "--defect-rate", str(defect_rate)]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, check=True)
    summary = json.loads(proc.stdout)
    print(f"  export: {count:,} objects, {path.stat().st_size / 1e6:,.0f} MB, {summary['defects_total']:,} planted "
          f"defects, generated in {time.perf_counter() - started:.1f} s")  # fmt: skip
    return path, summary


def make_tenant():
    from django.contrib.auth import get_user_model

    from identityhub.tenants.models import Forest, Membership, Role, Tenant

    tenant = Tenant.objects.create(name="Scale", slug="scale", verified_domains=VERIFIED_DOMAINS)
    forest = Forest.objects.create(
        tenant=tenant,
        name="corp.example.test",
        servers="dc01.corp.example.test",
        port=636,
        base_dns="DC=corp,DC=example,DC=test",
        bind_user="svc-scan@corp.example.test",
        bind_password="unused-" + os.urandom(8).hex(),
        scan_schedule=Forest.Schedule.MANUAL,
    )
    user = get_user_model().objects.create_user("scale-admin", password=os.urandom(16).hex())
    Membership.objects.create(user=user, tenant=tenant, role=Role.ADMIN)
    return tenant, forest, user


def upload_scan(forest, user, export: Path, label: str):
    from django.conf import settings

    from identityhub.lib import rules
    from identityhub.scans import pipeline
    from identityhub.scans.models import ScanRun
    from identityhub.scans.sources import entries_for

    settings.MEDIA_ROOT = str(export.parent)  # the upload is read where it was generated, not copied
    scan = ScanRun.objects.create(
        tenant=forest.tenant,
        forest=forest,
        source=ScanRun.Source.UPLOAD,
        upload=export.name,
        triggered_by=user,
        catalogue_version=rules.CATALOGUE_VERSION,
        ruleset=forest.tenant.ruleset,
    )
    timer = StepTimer()
    started = time.perf_counter()
    with timer.installed():
        scan = pipeline.execute(scan.pk, entries_for)
    seconds = time.perf_counter() - started
    timings = (scan.timings or {}) if scan else {}
    read = float(timings.get("read_and_check", 0.0))
    finalize = timer.seconds.get("finalize", 0.0)
    steps = ", ".join(f"{name.lstrip('_')} {timer.seconds.get(name, 0.0):.1f} s" for name in FINALIZE_STEPS)
    status = getattr(scan, "status", "missing")
    print(f"  {label}: {status} in {seconds:.1f} s; read and check {read:.1f} s, finalize {finalize:.1f} s "
          f"({steps}); prune {timer.seconds.get('prune_snapshots', 0.0):.1f} s; "
          f"vacuum of the findings after the commit {timer.seconds.get('vacuum_findings', 0.0):.1f} s; "
          f"{getattr(scan, 'findings_count', 0):,} open findings; {findings_written(scan)}")  # fmt: skip
    ok = status == "completed" and finalize <= read
    return scan, ok, {"seconds": seconds, "read": read, "finalize": finalize}


def findings_written(scan) -> str:
    """What the scan wrote to the findings table: a finding it opens or changes gets its last_scan
    (one seen again unchanged is not rewritten), and the table's size on disk."""
    from django.db import connection

    from identityhub.scans.models import Finding

    if scan is None:
        return "no findings written"
    written = Finding.objects.filter(last_scan=scan)
    new = written.filter(first_scan=scan).count()
    changed = written.exclude(first_scan=scan).count()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size(%s)", [Finding._meta.db_table])
        size = cursor.fetchone()[0]
    return f"findings written: {new:,} new, {changed:,} changed or reopened; findings table {size / 1e6:,.0f} MB"


# --------------------------------------------------------------------------- serving


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(bench: Bench, workers: int) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    # As production: REDIS_URL (cache shared by the workers, Celery broker) when given; otherwise the
    # filesystem broker, whose folders bin/run makes (a large XLSX export queues a job).
    for folder in ("broker", "broker-done"):
        (ROOT / "var" / folder).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DEBUG="false", ALLOWED_HOSTS="127.0.0.1", SECURE_SSL_REDIRECT="false")
    log = (bench.workdir / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "identityhub.wsgi",
            "--config",  # production's settings (timeout, ...); the address, workers and log are the bench's
            str(ROOT / "gunicorn.conf.py"),
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            str(bench.workdir / "access.log"),
            "--chdir",
            str(ROOT),
        ],  # fmt: skip
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    bench.stoppers.append(lambda: _stop_process_group(process))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: see {bench.workdir / 'gunicorn.log'}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start listening within 60 s")


def _stop_process_group(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def worker_rss_mb(master: subprocess.Popen) -> float:
    """Resident memory of gunicorn's workers (children of the master), in MB."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == str(master.pid):
            total += int(fields.get("VmRSS", "0 kB").split()[0])
    return total / 1024


def session_cookie(user) -> str:
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def get(port: int, path: str, cookie: str, first_byte_only: bool = False) -> tuple[int, float, float, int, str]:
    """(status, seconds to first byte, seconds in all, bytes, content type) of one GET; status 0 on a network error."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request("GET", path, headers={"Cookie": cookie, "X-Forwarded-Proto": "https", "Host": "127.0.0.1"})
        response = conn.getresponse()
        first = time.perf_counter() - started
        size = 0
        while chunk := response.read(65536):
            size += len(chunk)
            if first_byte_only:
                break
        content_type = response.getheader("Content-Type", "")
        return response.status, first, time.perf_counter() - started, size, content_type
    except (OSError, http.client.HTTPException):
        return 0, REQUEST_TIMEOUT, time.perf_counter() - started, 0, ""
    finally:
        conn.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def drive(port: int, path: str, cookie: str, clients: int, per_client: int) -> dict:
    """`clients` threads, each sending `per_client` GETs of `path` one after the other."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def client() -> None:
        nonlocal errors
        for _ in range(per_client):
            status, _first, seconds, _size, _type = get(port, path, cookie)
            with lock:
                latencies.append(seconds)
                errors += status != 200

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(REQUEST_TIMEOUT * per_client + 5)
    elapsed = time.perf_counter() - started
    return {
        "p50": percentile(latencies, 0.50),
        "p95": percentile(latencies, 0.95),
        "p99": percentile(latencies, 0.99),
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "errors": errors + (clients * per_client - len(latencies)),
    }


def signed_in_client(user):
    from django.test import Client

    client = Client(HTTP_X_FORWARDED_PROTO="https")
    client.force_login(user)
    return client


def count_queries(client, path: str) -> tuple[int, int]:
    """(status, SQL queries) of one request of `path`, made in this process."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    return response.status_code, len(queries.captured_queries)


def pages_under_test(tenant, forest) -> dict[str, str]:
    from identityhub.scans.models import DirectoryObject, Finding

    top_rule = (
        Finding.objects.filter(tenant=tenant, resolved_at__isnull=True)
        .values_list("rule", flat=True)
        .order_by("rule")
        .first()
    )
    some_object = DirectoryObject.objects.filter(scan__forest=forest, scan__is_current=True).first()
    findings = f"/t/{tenant.slug}/findings/"
    pages = {
        "tenant overview": f"/t/{tenant.slug}/",
        "findings (default)": findings,
        "findings page 2": findings + "?page=2",
        "findings sorted by value": findings + "?sort=value",
        "findings page 500": findings + "?page=500",
        "findings last page": findings + "?sort=value&page=999999",  # past the end: the last page
        "findings by rule": findings + f"?rule={top_rule}",
        "findings by severity": findings + "?severity=blocking",
        "findings search": findings + "?q=smith",
        "tenant rollout": f"/t/{tenant.slug}/rollout/",
        "health": f"/t/{tenant.slug}/health/",
        "changes": f"/t/{tenant.slug}/changes/",
        "API findings": f"/api/tenants/{tenant.slug}/findings/",
        "portfolio": "/rollout/",
    }
    if some_object is not None:
        pages["object page"] = f"/t/{tenant.slug}/forests/{forest.pk}/objects/{some_object.guid}/"
    return pages


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def serve_and_measure(bench: Bench, tenant, forest, user, args) -> bool:
    master, port = start_gunicorn(bench, args.workers)
    cookie = session_cookie(user)
    pages = pages_under_test(tenant, forest)
    if args.pages:
        pages = {name: path for name, path in pages.items() if any(part in name for part in args.pages.split(","))}
    all_ok = True
    print(f"\nPages under load: gunicorn, {args.workers} sync workers, DEBUG off, 127.0.0.1:{port}; "
          f"{args.requests} requests per client per page, after {args.workers} warm-up requests")  # fmt: skip
    header = f"  {'page':26} {'SQL':>4}  " + "  ".join(f"{f'{n} client(s) p50/p95/p99 ms, req/s, err':>44}"
                                                       for n in CLIENT_LEVELS)  # fmt: skip
    print(header)
    in_process = signed_in_client(user)
    for name, path in pages.items():
        status, queries = count_queries(in_process, path)
        # Warm-up, not counted: each worker's first request of a page loads its templates, and the
        # first after a change computes the counts the others read (the steady state is measured).
        drive(port, path, cookie, args.workers, 1)
        cells, ok = [], status == 200
        for clients in CLIENT_LEVELS:
            per_client = max(1, args.requests // clients) if clients > 1 else args.requests
            figures = drive(port, path, cookie, clients, per_client)
            limit = PAGE_P95_ONE_CLIENT if clients == 1 else PAGE_P95_FIFTY_CLIENTS if clients == 50 else None
            ok &= figures["errors"] == 0 and (limit is None or figures["p95"] < limit)
            cells.append(f"{figures['p50'] * 1000:7.0f}/{figures['p95'] * 1000:7.0f}/{figures['p99'] * 1000:7.0f}, "
                         f"{figures['rps']:6.1f}, {figures['errors']:3d}")  # fmt: skip
        all_ok &= ok
        print(f"  {name:26} {queries:4d}  " + "  ".join(f"{cell:>44}" for cell in cells) + f"  {_verdict(ok)}")

    all_ok &= after_a_change(port, cookie, tenant, pages)

    slug = tenant.slug
    before = worker_rss_mb(master)
    status, first, total, size, _type = get(port, f"/t/{slug}/findings/export.csv?status=all", cookie)
    after = worker_rss_mb(master)
    csv_ok = status == 200 and first < CSV_FIRST_BYTE and after - before < WORKER_MEMORY_GROWTH_MB
    print(f"\n  findings CSV: HTTP {status}, first byte {first:.2f} s, done {total:.1f} s, {size / 1e6:.1f} MB; "
          f"workers' RSS {before:.0f} -> {after:.0f} MB: {_verdict(csv_ok)}")  # fmt: skip
    status, first, _total, _size, content_type = get(
        port, f"/t/{slug}/findings/export.xlsx?status=all", cookie, first_byte_only=True
    )
    # A workbook built in the request answers with the spreadsheet itself; a background export
    # answers at once with a redirect or a page that says the file is being prepared.
    built_in_request = "spreadsheet" in content_type
    xlsx_ok = status in (200, 202, 302, 303) and not built_in_request and first < CSV_FIRST_BYTE
    print(f"  findings XLSX: HTTP {status} ({content_type or 'no content type'}), first byte {first:.2f} s, "
          f"{'built inside the request' if built_in_request else 'handed to a background job'}: "
          f"{_verdict(xlsx_ok)}")  # fmt: skip
    return all_ok and csv_ok and xlsx_ok


def after_a_change(port: int, cookie: str, tenant, pages: dict[str, str]) -> bool:
    """50 clients at once on a page whose counts a change has just made old (an admin's fix): one
    of them counts again (a GROUP BY of every open finding), the others wait for it, not count too."""
    from identityhub.scans import counts

    ok = True
    print(f"\n  first views after a change of the findings, {CLIENT_LEVELS[-1]} clients at once:")
    for name in ("tenant overview", "findings (default)", "tenant rollout"):
        if name not in pages:
            continue
        counts.changed(tenant.pk)
        figures = drive(port, pages[name], cookie, CLIENT_LEVELS[-1], 1)
        page_ok = figures["errors"] == 0 and figures["p95"] < PAGE_P95_FIFTY_CLIENTS
        ok &= page_ok
        print(f"  {name:26}       p50/p95/p99 {figures['p50'] * 1000:5.0f}/{figures['p95'] * 1000:5.0f}/"
              f"{figures['p99'] * 1000:5.0f} ms, {figures['errors']} err  {_verdict(page_ok)}")  # fmt: skip
    return ok


# --------------------------------------------------------------------------- run


def setup_django_for_serving() -> None:
    """Django in this process with the keys gunicorn's workers will get too (the session must verify)."""
    from cryptography.fernet import Fernet

    os.environ["DJANGO_SETTINGS_MODULE"] = "identityhub.settings"
    os.environ["DEBUG"] = "false"
    os.environ["SECRET_KEY"] = "bench-only-" + os.urandom(24).hex()
    os.environ["FIELD_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    os.environ.setdefault("STATIC_MANIFEST", "false")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["*"]  # the in-process query count uses the test client's host
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)  # no collectstatic here
    call_command("migrate", verbosity=0, interactive=False)


def run(args) -> int:
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    bench = Bench()
    bench.stoppers = []
    try:
        # --reuse: pages only, against a database an earlier `--keep` run left (no generation, no scans).
        database = reuse_database(args.reuse) if args.reuse else setup_database(bench)
        if "PostgreSQL" not in database:
            raise SystemExit("scale_bench: needs DATABASE_URL naming a PostgreSQL server")
        size = "pages of a kept database" if args.reuse else f"N = {args.count:,}, defect rate {args.defect_rate}"
        print(f"IdentityHub scale benchmark: {size}, {database}")
        setup_django_for_serving()
        if args.reuse:
            tenant, forest, user = existing_tenant()
            scans_ok = True
        else:
            export, _summary = generate_export(bench, args.count, args.seed, args.defect_rate)
            tenant, forest, user = make_tenant()
            print("\nScans (upload path, as a worker runs them):")
            first, first_ok, _ = upload_scan(forest, user, export, "first scan")
            second, second_ok, _ = upload_scan(forest, user, export, "rescan")
            scans_ok = first_ok and second_ok
            print(f"  both scans complete, finalize <= read: {_verdict(scans_ok)}")
            if first is None or second is None or second.status != "completed":
                print("BROKEN: the scans did not complete; no page figures")
                return 1
        if args.keep:
            print(f"  keeping database {bench.pg_database}: rerun the pages with --reuse {bench.pg_database}")
            bench.pg_database = ""  # stop() leaves it; drop it yourself when done
        pages_ok = serve_and_measure(bench, tenant, forest, user, args)
        scans = "not run (a reused database)" if args.reuse else _verdict(scans_ok)
        print(f"\nverdict: scans {scans}, pages and exports {_verdict(pages_ok)}")
        return 0 if scans_ok and pages_ok else 1  # make bench-scale fails when a target is missed
    finally:
        for stop in reversed(bench.stoppers):
            stop()
        bench.stop()


def reuse_database(name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    from scan_bench import _postgres_params, _server_version

    url = os.environ["DATABASE_URL"]
    params = _postgres_params(url)
    if params is None:
        return "not PostgreSQL"
    os.environ["DATABASE_URL"] = urlunsplit(urlsplit(url)._replace(path="/" + name))
    return f"PostgreSQL {_server_version(params)} on {params['host']}:{params['port']}, database {name} (reused)"


def existing_tenant():
    from identityhub.tenants.models import Tenant

    tenant = Tenant.objects.get(slug="scale")
    # This run has a new FIELD_ENCRYPTION_KEY: the kept bind password is stored again under it.
    tenant.forests.update(bind_password="unused-" + os.urandom(8).hex())
    return tenant, tenant.forests.get(), tenant.memberships.get().user


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="objects in the generated forest")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--defect-rate", type=float, default=0.45)
    parser.add_argument("--requests", type=int, default=20, help="requests per page at 1 client (fewer each at more)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers")
    parser.add_argument("--pages", help="only the pages whose names contain one of these comma-separated words")
    parser.add_argument("--keep", action="store_true", help="keep the bench database (its name is printed)")
    parser.add_argument("--reuse", metavar="DATABASE", help="measure the pages only, on a database kept by --keep")
    args = parser.parse_args(argv)
    if args.count < 100:
        parser.error("--count must be at least 100")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
