"""check_export benchmark (issue 14): objects per second and peak memory of the offline check.

    .venv/bin/python bench/check_export_bench.py --count 20000
    .venv/bin/python bench/check_export_bench.py --count 100000 --defect-rate 0.05

Writes a generated ldifde export (bench/generate.py, planted defects) to a temporary file, then
runs identityhub.export_check.check() on it, which reads the file twice (duplicates first, then
the rules) and writes each finding to a spill on disk as it is found (export_check.FindingSpill),
then reads every finding back, as an output format would. Prints wall and CPU time (the machine may be shared:
CPU time is the comparable figure), findings, and the tracemalloc peak of a second, traced run.
No target: the figures are for the note and for comparing changes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from generate import generate  # noqa: E402 - after the path setup

from identityhub.export_check import check  # noqa: E402
from identityhub.lib.rules import Context  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--defect-rate", type=float, default=0.05)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corp.ldf"
        with path.open("w", encoding="utf-8", newline="") as out:
            planted = generate(out, args.count, args.seed, defect_rate=args.defect_rate)
        ctx = Context(verified_domains=frozenset({"example.com"}))
        started, cpu = time.perf_counter(), time.process_time()
        with check([path], ctx) as report:
            rows = sum(1 for _ in report.rows())
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        tracemalloc.start()  # a second run: tracing slows Python down several times
        with check([path], ctx) as traced:
            assert sum(1 for _ in traced.rows()) == rows
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result = {
            "objects": report.objects,
            "file_mb": round(path.stat().st_size / 1e6, 1),
            "planted_defects": planted["defects_total"],
            "findings": report.count,
            "excluded": dict(report.excluded),
            "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu, 2),
            "objects_per_cpu_second": round(report.objects / cpu),
            "peak_mb": round(peak / 1e6, 1),
        }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
