"""Export benchmark (issue 7): the findings CSV export streams in constant memory.

    make bench                                   # runs scan_bench.py, then this: 20,000 vs 200,000 findings
    .venv/bin/python bench/export_bench.py --small 20000 --large 200000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/export_bench.py

One run:
1. A database of our own (scan_bench.py's helpers: a temporary SQLite file, or a fresh PostgreSQL
   database identityhub_bench_<pid> when DATABASE_URL names PostgreSQL; dropped at the end).
2. Two tenants, each with a forest, an auditor and SMALL resp. LARGE open findings, bulk-inserted
   (bulk_create, 5,000 rows a batch; values vary in rule, severity, DN and value).
3. For each tenant, the real view (reports.views.list_export("findings", "csv")) is called with a
   RequestFactory request of the auditor, and its StreamingHttpResponse is consumed chunk by chunk
   the way a WSGI server sends it, bytes counted and thrown away. tracemalloc records the peak of
   Python allocations during that export alone; ru_maxrss is printed after each export too.
4. Target (PASS/FAIL; exit status 0 either way unless something broke): the peak at LARGE is less
   than 2x the peak at SMALL (10x the rows), i.e. memory does not grow with the rows.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scan_bench import Bench, setup_database, setup_django  # noqa: E402 - after the path setup

BATCH = 5000
GROWTH_LIMIT = 2.0
RULES = [("upn.character", "blocking", "character"), ("mail.character", "degrading", "character"),
         ("displayname.length", "hygiene", "length"), ("proxy.smtp.format", "blocking", "format")]  # fmt: skip


def make_tenant(slug: str, count: int):
    from django.contrib.auth.models import User
    from django.utils import timezone

    from identityhub.scans.models import Finding
    from identityhub.tenants.models import Forest, Membership, Tenant

    tenant = Tenant.objects.create(name=slug.title(), slug=slug)
    forest = Forest.objects.create(
        tenant=tenant, name=f"corp.{slug}.example", servers="127.0.0.1", base_dns="DC=corp", bind_user="svc"
    )
    user = User.objects.create_user(f"auditor-{slug}")
    Membership.objects.create(user=user, tenant=tenant, role="auditor")
    now = timezone.now()
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        rows = []
        for n in range(start, min(start + BATCH, count)):
            rule, severity, error = RULES[n % len(RULES)]
            ou = f"OU=Dept{n % 50},OU=Staff,DC=corp,DC={slug},DC=example"
            rows.append(
                Finding(
                    tenant=tenant,
                    forest=forest,
                    key=f"{n:040x}",
                    guid=uuid.uuid4(),
                    dn=f"CN=User {n},{ou}",
                    object_class="user",
                    ou=ou,
                    rule=rule,
                    severity=severity,
                    error=error,
                    attribute="userPrincipalName",
                    value=f"user {n}@{slug}.example.com",
                    suggestion=f"user{n}@{slug}.example.com",
                    first_seen=now,
                    last_seen=now,
                )  # fmt: skip
            )
        Finding.objects.bulk_create(rows)
    return tenant, user, time.perf_counter() - started


def export(tenant, user, traced: bool = True) -> dict:
    from django.test import RequestFactory

    from identityhub.reports.views import list_export

    request = RequestFactory().get(f"/t/{tenant.slug}/findings/export.csv")
    request.user = user
    view = list_export("findings", "csv")
    if traced:
        tracemalloc.start()
        tracemalloc.reset_peak()
    started = time.perf_counter()
    response = view(request, slug=tenant.slug)
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    peak = 0
    if traced:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {"rows": lines - 1, "bytes": size, "seconds": seconds, "peak": peak, "maxrss": _maxrss_mb()}


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(args) -> int:
    bench = Bench()
    try:
        label = setup_database(bench)
        setup_django()
        print(f"Database: {label}")
        results = []
        for slug, count in (("small", args.small), ("large", args.large)):
            tenant, user, insert_s = make_tenant(slug, count)
            print(f"Inserted {count:,} findings in {insert_s:.1f} s")
            speed = export(tenant, user, traced=False)  # tracemalloc slows Python: time a run without it
            result = export(tenant, user)
            assert result["rows"] == count == speed["rows"], result
            results.append(result)
            rate = speed["rows"] / speed["seconds"]
            print(
                f"CSV export of {result['rows']:>9,} findings: {result['bytes'] / 1e6:6.1f} MB in "
                f"{speed['seconds']:5.1f} s ({rate:,.0f} rows/s); peak Python allocations "
                f"{result['peak'] / 1e6:5.2f} MB (tracemalloc), ru_maxrss {result['maxrss']:.0f} MB"
            )
        small, large = results
        growth = large["peak"] / small["peak"]
        ok = growth < GROWTH_LIMIT
        print(
            f"Peak memory at {large['rows']:,} rows / at {small['rows']:,} rows: {growth:.2f}x "
            f"(target < {GROWTH_LIMIT}x for 10x the rows): {'PASS' if ok else 'FAIL'}"
        )
        return 0
    finally:
        bench.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--large", type=int, default=200_000)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
