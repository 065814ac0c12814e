"""Scan benchmark (issue 3): raw LDAP read rate against the full scan rate, memory, and scaling.

    make bench                                    # N = 100,000 on a temporary SQLite file
    make bench BENCH_ARGS="--count 20000"
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres make bench

One run:
1. bench/generate.py writes N and N/10 objects (slapadd format, known defect rate) in a child
   process; each set is bulk-loaded into its own private slapd on 127.0.0.1 (tests/lab/slapd.py).
2. Raw read: a plain ldap3 paged search (page size 1000) of the N-object slapd for exactly the
   attributes and filter a scan reads, over the connection lib/directory.py opens; every entry is
   decoded by ldap3 and counted, nothing else. Run twice, the faster run counts (warm slapd), so
   the ratio below is never flattered by a cold first read. The same read with the scan reader's
   lean decoding (raw values only) is printed too: the scan decodes less than ldap3 does by
   default, and its rate against that read shows what checking and storing cost on top.
3. Full scan: a real Tenant + Forest pointing at the slapd, a ScanRun, and
   pipeline.execute(scan.pk, sources.entries_for): read + rules + staging + merge, as a worker
   does it. N/10 first, then N, in this process; ru_maxrss is recorded after each. The scan reads
   LDAP in a forked reader process (lib/directory.py, read-ahead) that also runs the rules and
   builds the rows, while this process stores them (a thread writes each batch while the next
   arrives), so it uses two cores where the raw read uses one: both CPU times are printed.
4. Targets (PASS/FAIL; the exit status is 0 either way unless something broke): full scan rate
   >= 0.7 x raw read rate; the peak RSS after N not ~10x the one after N/10 (we require < 2x);
   N objects in at most 11x the time of N/10.

Database: with DATABASE_URL naming PostgreSQL, a fresh database identityhub_bench_<pid> is created
on that server, migrated, and dropped at the end; otherwise a temporary SQLite file. Everything
started here (slapd by PID, temporary directories, the bench database) is stopped or removed on
exit, also on Ctrl-C/SIGTERM. All traffic goes to 127.0.0.1 (slapd) and the DATABASE_URL server.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: identityhub/ and tests/lab/ import

SUFFIX = "DC=corp,DC=example,DC=test"
MAIL_DOMAIN = "example.com"
PAGE_SIZE = 1000
# A tenant whose verified domains are what the generator writes: its routable mail domain and the
# tenant's initial domains (every generated user has a <tenant>.mail.onmicrosoft.com proxy).
VERIFIED_DOMAINS = [MAIL_DOMAIN, "example.onmicrosoft.com", "example.mail.onmicrosoft.com"]

RATIO_TARGET = 0.7
SCALING_TARGET = 11.0
MEMORY_GROWTH_LIMIT = 2.0  # "not growing with N": 10x the objects may not even double the peak


class Bench:
    """What one run started, so that stop() can undo all of it whatever happened."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="identityhub-bench-"))
        self.slapds: list = []
        self.pg_admin: dict | None = None  # connection parameters of the server holding our database
        self.pg_database = ""

    def stop(self) -> None:
        for handle in self.slapds:
            handle.stop()  # by its Popen PID
        self.slapds = []
        if self.pg_database:
            _drop_database(self.pg_admin, self.pg_database)
            self.pg_database = ""
        shutil.rmtree(self.workdir, ignore_errors=True)


# --------------------------------------------------------------------------- database


def _postgres_params(url: str) -> dict | None:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql", "postgis"):
        return None
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": parts.username or "postgres",
        "password": parts.password or None,
        "dbname": parts.path.lstrip("/") or "postgres",
    }


def setup_database(bench: Bench) -> str:
    """Point DATABASE_URL at a database of our own; returns a label for the report."""
    url = os.environ.get("DATABASE_URL", "")
    params = _postgres_params(url) if url else None
    if params is None:
        path = bench.workdir / "bench.sqlite3"
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
        return f"SQLite ({path})"
    import psycopg
    from psycopg import sql

    name = f"identityhub_bench_{os.getpid()}"
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    bench.pg_admin, bench.pg_database = params, name
    parts = urlsplit(url)
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
    version = _server_version(params)
    return f"PostgreSQL {version} on {params['host']}:{params['port']}, database {name}"


def _server_version(params: dict) -> str:
    import psycopg

    with psycopg.connect(**params, autocommit=True) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def _drop_database(params: dict, name: str) -> None:
    import psycopg
    from psycopg import sql

    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: BLE001, S110 - Django may not be set up yet; the drop forces anyway
        pass
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "identityhub.settings"
    os.environ["DEBUG"] = "true"
    os.environ["SECRET_KEY"] = "bench-only-" + os.urandom(16).hex()
    from cryptography.fernet import Fernet

    os.environ["FIELD_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    # DEBUG only stands in for the real keys above. A production worker runs with DEBUG off, and
    # with it on Django keeps the text of every query (up to 9000: each bulk INSERT of 1000 rows
    # at full length), which would be measured as the scan's memory and time. Off, as in production.
    settings.DEBUG = False


# --------------------------------------------------------------------------- directory


# The scan's filter holds (!(objectClass=computer)), as AD needs. The lab schema defines no
# 'computer' class, and in slapd a filter on an undefined class is Undefined, so NOT of it never
# matches: every user would be missed. AD's computer class (a subclass of user) is added to a
# copy of the lab schema here; no generated entry uses it.
COMPUTER_CLASS = "objectclass ( 1.2.840.113556.1.3.30 NAME 'computer' SUP user STRUCTURAL )\n"


def _use_schema_with_computer(workdir: Path) -> None:
    from tests.lab import slapd

    if "NAME 'computer'" in slapd.SCHEMA.read_text():
        return  # the lab schema has it now
    schema = workdir / "ad-lab-with-computer.schema"
    schema.write_text(slapd.SCHEMA.read_text() + "\n" + COMPUTER_CLASS)
    slapd.SCHEMA = schema  # read by write_config() when each slapd starts


def generate_and_load(bench: Bench, count: int, seed: int, defect_rate: float, label: str):
    """bench/generate.py in a child process (its memory is not ours), then slapadd + slapd."""
    from tests.lab.slapd import start_slapd, tools_missing

    missing = tools_missing()
    if missing:
        raise SystemExit(f"scan_bench: {missing}")
    _use_schema_with_computer(bench.workdir)
    ldif = bench.workdir / f"{label}.ldif"
    started = time.perf_counter()
    command = [sys.executable, str(ROOT / "bench" / "generate.py"), "--count", str(count), "--seed", str(seed),
               "--format", "slapadd", "--out", str(ldif), "--suffix", SUFFIX, "--mail-domain", MAIL_DOMAIN,
               "--defect-rate", str(defect_rate)]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, check=True)
    summary = json.loads(proc.stdout)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    handle = start_slapd(bench.workdir / f"slapd-{label}", SUFFIX, ldif, host="127.0.0.1")
    bench.slapds.append(handle)
    loaded = time.perf_counter() - started
    ldif.unlink()  # slapd holds the data now; the LDIF is ~1 kB an object
    print(f"  {label}: {count:,} objects generated in {generated:.1f} s, slapadd + slapd start in {loaded:.1f} s, "
          f"slapd PID {handle.process.pid} on {handle.host}:{handle.port}; "
          f"{summary['defects_total']:,} planted defects, excluded {summary['excluded']}, "
          f"in scope though IdFix skips them {summary['idfix_skips']}")  # fmt: skip
    return handle, summary


def _directory_settings(handle):
    from identityhub.lib import directory

    return directory.DirectorySettings(
        servers=[f"{handle.host}:{handle.port}"],
        bind_user=handle.bind_dn,
        bind_password=handle.password,
        base_dns=[handle.suffix],
        port=389,
    )


def raw_read(handle, lean: bool = False) -> tuple[int, float]:
    """A plain paged search of what a scan reads; returns (entries, seconds).

    lean=True decodes entries as the scan's reader process does (raw values only, see
    directory._lean_entries): printed beside the target's figure, so it is plain how much of the
    scan's rate comes from decoding less rather than from checking and storing fast.
    """
    import ldap3

    from identityhub.lib import directory
    from identityhub.scans.sources import RULE_ATTRIBUTES

    attributes = sorted({*RULE_ATTRIBUTES, *directory.ALWAYS_READ}, key=str.lower)
    conn = directory.connect(_directory_settings(handle))  # the very connection a scan opens
    if lean:
        directory._lean_entries(conn)
    try:
        entries, cookie = 0, None
        started = time.perf_counter()
        while True:
            conn.search(handle.suffix, directory.SYNC_SCOPE_FILTER, ldap3.SUBTREE, attributes=attributes,
                        paged_size=PAGE_SIZE, paged_criticality=True, paged_cookie=cookie)  # fmt: skip
            if conn.result.get("description") != "success":
                raise RuntimeError(f"raw read failed: {conn.result}")
            entries += sum(1 for item in conn.response if item.get("type") == "searchResEntry")
            cookie = conn.result.get("controls", {}).get(directory.PAGED_RESULTS_OID, {}).get("value", {}).get("cookie")
            if not cookie:
                return entries, time.perf_counter() - started
    finally:
        conn.unbind()


# --------------------------------------------------------------------------- scanning


def full_scan(handle, label: str):
    """A real tenant, forest and ScanRun, scanned by the pipeline as a worker would; (scan, seconds)."""
    from identityhub.lib import rules
    from identityhub.scans import pipeline
    from identityhub.scans.models import ScanRun
    from identityhub.scans.sources import entries_for
    from identityhub.tenants.models import Forest, Tenant

    tenant = Tenant.objects.create(name=f"Bench {label}", slug=f"bench-{label}", verified_domains=VERIFIED_DOMAINS)
    forest = Forest.objects.create(
        tenant=tenant,
        name="corp.example.test",
        servers=f"{handle.host}:{handle.port}",
        port=389,
        base_dns=handle.suffix,
        bind_user=handle.bind_dn,
        bind_password=handle.password,
        scan_schedule=Forest.Schedule.MANUAL,
    )
    scan = ScanRun.objects.create(
        tenant=tenant,
        forest=forest,
        source=ScanRun.Source.LDAP,
        catalogue_version=rules.CATALOGUE_VERSION,
        ruleset=tenant.ruleset,
    )
    cpu = _cpu_seconds()
    started = time.perf_counter()
    scan = pipeline.execute(scan.pk, entries_for)
    seconds = time.perf_counter() - started
    self_cpu, reader_cpu = (after - before for after, before in zip(_cpu_seconds(), cpu, strict=True))
    return scan, seconds, (self_cpu, reader_cpu)


def check_scan(scan, summary: dict, count: int) -> list[str]:
    """Why the scan's counts are implausible for what was generated; [] when they are fine."""
    problems = []
    if scan is None or scan.status != "completed":
        return [f"scan did not complete: {getattr(scan, 'status', None)} {getattr(scan, 'error', '')}"]
    if scan.objects_read != count:
        problems.append(f"read {scan.objects_read:,} objects, generated {count:,}")
    if scan.objects_in_scope + scan.objects_excluded != scan.objects_read:
        problems.append("in scope + excluded != read")
    # Exactly the generator's Entra exclusions are out of scope; its health mailboxes (which
    # IdFix skips, Entra Connect syncs) are in.
    expected = count - sum(summary["excluded"].values())
    if scan.objects_in_scope != expected:
        problems.append(f"{scan.objects_in_scope:,} objects in scope, expected {expected:,}")
    if scan.findings_count <= 0:
        problems.append("no findings, though defects were planted")
    return problems


def _cpu_seconds() -> tuple[float, float]:
    """CPU time (user + system) of this process, and of its finished children (the scan's reader)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def run(args) -> int:
    bench = Bench()
    try:
        database = setup_database(bench)
        print(f"IdentityHub scan benchmark: N = {args.count:,}, seed {args.seed}, defect rate {args.defect_rate}")
        print(f"  database: {database}; load average {_load()} on {os.cpu_count()} CPUs")
        setup_django()
        small_count = max(1, args.count // 10)
        small, small_summary = generate_and_load(bench, small_count, args.seed, args.defect_rate, "small")
        large, large_summary = generate_and_load(bench, args.count, args.seed, args.defect_rate, "large")

        cpu = _cpu_seconds()[0]
        reads = [raw_read(large) for _ in range(2)]
        raw_cpu = (_cpu_seconds()[0] - cpu) / 2
        raw_entries, raw_seconds = min(reads, key=lambda r: r[1])
        if raw_entries != args.count:
            raise RuntimeError(f"raw read returned {raw_entries:,} entries, generated {args.count:,}")
        raw_rate = raw_entries / raw_seconds
        lean_entries, lean_seconds = min((raw_read(large, lean=True) for _ in range(2)), key=lambda r: r[1])
        lean_rate = lean_entries / lean_seconds

        small_scan, small_seconds, _ = full_scan(small, "small")
        small_rss = _maxrss_mb()
        large_scan, large_seconds, (scan_cpu, reader_cpu) = full_scan(large, "large")
        large_rss = _maxrss_mb()
        problems = check_scan(small_scan, small_summary, small_count)
        problems += check_scan(large_scan, large_summary, args.count)
        scan_rate = args.count / large_seconds
        ratio = scan_rate / raw_rate
        scaling = large_seconds / small_seconds
        growth = large_rss / small_rss

        print()
        for name, scan, seconds in (("N/10", small_scan, small_seconds), ("N", large_scan, large_seconds)):
            if scan is not None:
                print(f"  scan {name}: {scan.status}, read {scan.objects_read:,}, in scope {scan.objects_in_scope:,}, "
                      f"excluded {scan.objects_excluded:,} {scan.exclusion_counts}, findings {scan.findings_count:,}, "
                      f"{seconds:.2f} s, pipeline timings {scan.timings}")  # fmt: skip
        if problems:  # no rates or verdicts from scans that did not do the work
            print("BROKEN: " + "; ".join(problems))
            return 1
        print()
        print(f"raw read rate:        {raw_rate:10,.0f} entries/s  ({raw_entries:,} in {raw_seconds:.2f} s, "
              f"best of {', '.join(f'{s:.2f}' for _, s in reads)} s)")  # fmt: skip
        print(f"  lean decoding:      {lean_rate:10,.0f} entries/s  (the same read, entries decoded as the scan's "
              f"reader does; scan / lean read {scan_rate / lean_rate:.2f})")  # fmt: skip
        print(f"full scan rate:       {scan_rate:10,.0f} entries/s  ({args.count:,} in {large_seconds:.2f} s)")
        print(f"CPU time:             raw read {raw_cpu:.2f} s (one process); full scan {scan_cpu:.2f} s scanning "
              f"+ {reader_cpu:.2f} s in its LDAP reader process")  # fmt: skip
        print(f"scan / raw ratio:     {ratio:10.2f}         target >= {RATIO_TARGET}: "
              f"{_verdict(ratio >= RATIO_TARGET)}")  # fmt: skip
        print(f"peak RSS after N/10:  {small_rss:10.1f} MB")
        print(f"peak RSS after N:     {large_rss:10.1f} MB      x{growth:.2f} of N/10 (limit x{MEMORY_GROWTH_LIMIT}): "
              f"{_verdict(growth < MEMORY_GROWTH_LIMIT)}")  # fmt: skip
        print(f"time N / time N/10:   {scaling:10.2f}         ({large_seconds:.2f} s / {small_seconds:.2f} s) "
              f"target <= {SCALING_TARGET:g}: {_verdict(scaling <= SCALING_TARGET)}")  # fmt: skip
        print(f"load average now:     {_load()} (other work on this machine slows the two-process scan first)")
        return 0
    finally:
        bench.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="objects in the large directory (N)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--defect-rate", type=float, default=0.05)
    args = parser.parse_args(argv)
    if args.count < 10:
        parser.error("--count must be at least 10")
    # SIGTERM unwinds like Ctrl-C, so the finally in run() stops slapd and drops the database.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
