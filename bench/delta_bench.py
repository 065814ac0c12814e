"""Delta scan benchmark (issue 15): a full scan against a delta after 100 changes, at growing N.

    make bench-delta                                       # N = 2,000, 10,000, 40,000 on SQLite
    make bench-delta DELTA_BENCH_ARGS="--sizes 10000,100000"
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres make bench-delta

The directory is a real Samba AD DC (tests/lab/samba.py) on a free 127.0.0.x address: slapd keeps
no uSNChanged, highestCommittedUSN, invocationId or tombstones, so a delta against it would
measure something else than AD's change tracking. Samba adds objects at about 100-180 a second
over LDAP, which bounds N: the default sizes load in a few minutes on two cores.

For each N (the directory grows from one size to the next): load users up to N under OU=Bench,
run a full scan (pipeline.execute, as a worker does: read + rules + staging + merge), a delta
with no change (its fixed cost; it also warms every cache, so the first N is not charged with
first-use costs), make 100
changes (60 modified, 20 added, 10 deleted, 10 moved out of the scope), run a delta and check that
it ran as a delta and saw them. Printed per N: both times and the delta's share of the full scan.
Targets (PASS/FAIL; the exit status is 0 either way unless something broke): delta <= 2% of the
full scan at the largest N, and delta time at the largest N <= 1.5x the delta time at the
smallest when the largest is at least 10x the smallest.

The database is a fresh one as in bench/scan_bench.py (a PostgreSQL database of our own, dropped at
the end, or a temporary SQLite file). The Samba DC is stopped by its PID and its directory removed
on exit, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scan_bench import Bench, setup_database, setup_django  # noqa: E402 - after the path is set

CHANGES = 100
SHARE_TARGET = 0.02
SCALING_TARGET = 1.5
WORKERS = 2  # Samba holds one write lock: more connections add little (directory lab report)


def start_dc(bench: Bench):
    from tests.lab import samba

    missing = samba.tools_missing()
    if missing:
        raise SystemExit(f"delta_bench: {missing}")
    dc = samba.lab_forests(bench.workdir / "samba")[0]
    bench.samba = dc
    samba.bring_up([dc], seed=False)
    conn = dc.connection()
    for ou in ("Bench", "Elsewhere"):
        conn.add(f"OU={ou},{dc.base_dn}", ["top", "organizationalUnit"])
    conn.unbind()
    return dc


def load(dc, start: int, stop: int) -> float:
    """Users start..stop-1 under OU=Bench, on WORKERS connections; returns seconds."""

    def add(numbers: range) -> None:
        conn = dc.connection()
        try:
            for n in numbers:
                name = f"bench{n:07d}"
                attributes = {
                    "sAMAccountName": name,
                    "userPrincipalName": f"{name}@{dc.upn_suffix}",
                    "mail": f"{name}@{dc.upn_suffix}",
                    "displayName": f"Bench User {n}",
                    "proxyAddresses": [f"SMTP:{name}@{dc.upn_suffix}"],
                }
                if n % 50 == 0:  # a finding every fifty objects: a space in the UPN
                    attributes["userPrincipalName"] = f"bench user{n}@{dc.upn_suffix}"
                conn.add(f"CN={name},OU=Bench,{dc.base_dn}", ["top", "user"], attributes)
        finally:
            conn.unbind()

    began = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(add, [range(start + i, stop, WORKERS) for i in range(WORKERS)]))
    return time.perf_counter() - began


def change(dc, first: int, stop: int, round_: int) -> dict:
    """CHANGES changes spread over users first..stop-1 (loaded this round, untouched so far)."""
    from ldap3 import MODIFY_REPLACE

    conn = dc.connection()
    step = max(1, (stop - first) // 80)
    picks = [first + i * step for i in range(80)]
    mix = {"modified": 0, "added": 0, "deleted": 0, "moved out": 0}
    try:
        for i, n in enumerate(picks):
            dn = f"CN=bench{n:07d},OU=Bench,{dc.base_dn}"
            if i < 60:
                conn.modify(dn, {"displayName": [(MODIFY_REPLACE, [f"Changed {round_}-{i}"])]})
                mix["modified"] += 1
            elif i < 70:
                conn.delete(dn)
                mix["deleted"] += 1
            else:
                conn.modify_dn(dn, f"CN=bench{n:07d}", new_superior=f"OU=Elsewhere,{dc.base_dn}")
                mix["moved out"] += 1
        for i in range(20):
            name = f"added{round_:02d}x{i:03d}"
            conn.add(
                f"CN={name},OU=Bench,{dc.base_dn}",
                ["top", "user"],
                {"sAMAccountName": name, "userPrincipalName": f"{name}@{dc.upn_suffix}"},
            )
            mix["added"] += 1
    finally:
        conn.unbind()
    return mix


def run_scan(forest, kind: str):
    from identityhub.scans import pipeline
    from identityhub.scans.models import ScanRun
    from identityhub.scans.sources import changes_for, entries_for

    scan = ScanRun.objects.create(tenant=forest.tenant, forest=forest, kind=kind)
    began = time.perf_counter()
    scan = pipeline.execute(scan.pk, entries_for, changes_for)
    seconds = time.perf_counter() - began
    if scan.status != "completed" or scan.kind != kind:
        why = scan.error or scan.full_reason
        raise SystemExit(f"delta_bench: the {kind} scan ended {scan.status} as {scan.kind}: {why}")
    return scan, seconds


def run(args) -> int:
    bench = Bench()
    bench.samba = None
    original_stop = bench.stop

    def stop() -> None:
        if bench.samba is not None:
            bench.samba.stop()
            bench.samba = None
        original_stop()

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        database = setup_database(bench)
        setup_django()
        from identityhub.celery import load_reference_data
        from identityhub.tenants.models import Forest, Tenant

        load_reference_data()  # as a worker process does when it starts

        print(f"delta_bench: database {database}")
        began = time.perf_counter()
        dc = start_dc(bench)
        print(f"  Samba AD DC {dc.host} ready in {time.perf_counter() - began:.1f} s")
        tenant = Tenant.objects.create(name="Bench", slug="bench", verified_domains=[dc.upn_suffix])
        forest = Forest.objects.create(
            tenant=tenant, name=dc.realm.lower(), servers=dc.host, port=389, base_dns=dc.base_dn,
            include_ous=f"OU=Bench,{dc.base_dn}", bind_user=dc.bind_user, bind_password=dc.password,
        )  # fmt: skip
        results = []
        loaded = 0
        for round_, size in enumerate(sorted(args.sizes)):
            added, seconds = size - loaded, load(dc, loaded, size)
            print(f"  loaded {added:,} users in {seconds:.1f} s ({added / seconds:.0f}/s)")
            loaded = size
            full, full_seconds = run_scan(forest, "full")
            # A delta with nothing to read first: its fixed cost (bind, the DC's watermark, the
            # Deleted Objects check, three indexed searches, one transaction), and everything warm,
            # so that the first size's delta is not charged with first-use costs the others skip.
            _, idle_seconds = run_scan(forest, "delta")
            mix = change(dc, size - added, size, round_)
            delta, delta_seconds = run_scan(forest, "delta")
            if delta.objects_changed < 80 or delta.objects_deleted < 20:
                raise SystemExit(f"delta_bench: the delta missed changes: {delta.objects_changed} changed, "
                                 f"{delta.objects_deleted} left")  # fmt: skip
            results.append((size, full.objects_in_scope, full_seconds, delta_seconds, delta))
            print(f"  N={size:>7,}: full scan {full_seconds:7.2f} s ({full.objects_read:,} read) | "
                  f"{sum(mix.values())} changes ({', '.join(f'{n} {k}' for k, n in mix.items())}) | "
                  f"delta {delta_seconds:6.3f} s ({delta.objects_read} read, {delta.objects_changed} changed, "
                  f"{delta.objects_deleted} left) | delta/full {delta_seconds / full_seconds:.2%} | "
                  f"no-change delta {idle_seconds:.3f} s")  # fmt: skip
        return report(results)
    finally:
        stop()


def report(results) -> int:
    small, large = results[0], results[-1]
    share = large[3] / large[2]
    print()
    verdict = _verdict(share <= SHARE_TARGET)
    print(f"delta/full at N={large[0]:,}: {share:.2%} (target <= {SHARE_TARGET:.0%}): {verdict}")
    if large[0] >= 10 * small[0]:
        growth = large[3] / small[3]
        print(f"delta at N={large[0]:,} / delta at N={small[0]:,}: {growth:.2f}x "
              f"(target <= {SCALING_TARGET}x): {_verdict(growth <= SCALING_TARGET)}")  # fmt: skip
    else:
        print("delta scaling: not measured (the largest N is not 10x the smallest)")
    for size, _, _, _, delta in results:
        print(f"  N={size:,} delta timings: {delta.timings}")
    return 0


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[2_000, 10_000, 40_000],
        help="directory sizes, comma-separated (default 2000,10000,40000)",
    )
    args = parser.parse_args(argv)
    sizes = sorted(args.sizes)
    if sizes[0] < 200 or any(b - a < 200 for a, b in zip(sizes, sizes[1:], strict=False)):
        parser.error("sizes must be at least 200 and 200 apart (the changes pick among the users each adds)")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
