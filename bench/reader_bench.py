"""Reader benchmark (issue 12): the export readers are linear in their input, in time and memory.

    make bench-reader                  # also part of `make bench`
    .venv/bin/python bench/reader_bench.py --sizes 10 100 --hostile 10

One run:
1. Files in a temporary directory: realistic ldifde exports of about 10 MB and 100 MB
   (bench/generate.py: users, contacts, groups, CRLF, folded and base64 values), the 10 MB one
   also as UTF-16 (ldifde -u), and hostile 10 MB files: one DN of 10 MB (`CN=a<spaces>"x,...`,
   which the old DN parser took quadratic time over) in UTF-8 and UTF-16.
2. Each file is read by identityhub.lib.ldif.read_export in a fresh Python process, with the
   default Limits, every entry consumed and counted (a malformed file ends with its error).
   The child prints CPU seconds, the peak of Python allocations (tracemalloc, a second pass) and
   its peak RSS above its RSS before reading (VmHWM - VmRSS).
3. parse_dn on the hostile DN itself, without the reader's limits, at 1 MB and 10 MB.
4. Printed: MB/s per file and the ratios large/small. Linear means time x10 for 10x the input
   and a peak memory that does not grow with the file (one record at a time).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

MB = 1_000_000


def _status_kb(field: str) -> int:
    # VmHWM is this process's own peak: ru_maxrss would also count the parent's, carried over the exec.
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def _peak_mb_since(baseline_kb: int) -> float:
    return (_status_kb("VmHWM") - baseline_kb) / 1000


def measure_file(path: str) -> dict:
    """Child process: read one file, report what it cost (time without tracemalloc, which slows
    reading down, then the peak of Python allocations in a second pass with it)."""
    import identityhub.lib.ldif  # noqa: F401 - imported before the baseline is taken

    baseline = _status_kb("VmRSS")
    started, cpu = time.perf_counter(), time.process_time()
    entries, error = _read_all(path)
    result = {"entries": entries, "error": error, "seconds": time.perf_counter() - started}
    result["cpu"], result["rss_mb"] = time.process_time() - cpu, _peak_mb_since(baseline)
    tracemalloc.start()
    _read_all(path)
    result["peak_mb"] = tracemalloc.get_traced_memory()[1] / MB
    tracemalloc.stop()
    return result


def _read_all(path: str) -> tuple[int, str]:
    from identityhub.lib.ldif import ExportFormatError, read_export

    entries, error = 0, ""
    try:
        for _ in read_export(path, source="bench"):
            entries += 1
    except ExportFormatError as exc:
        error = str(exc)[:100]
    return entries, error


def measure_parse_dn(size: int, hostile: bool) -> dict:
    from identityhub.lib.ldif import parse_dn

    if hostile:
        dn = "CN=a" + " " * size + '"x,DC=bad,DC=local'
    else:  # a valid DN of as many characters: RDNs with escapes, all unescaped and kept
        dn = ",".join(f"OU=Dept\\, {n:07d}" for n in range(size // 18))
    cpu = time.process_time()
    with contextlib.suppress(ValueError):
        parse_dn(dn)
    cpu = time.process_time() - cpu
    tracemalloc.start()
    with contextlib.suppress(ValueError):
        parse_dn(dn)
    peak = tracemalloc.get_traced_memory()[1] / MB
    tracemalloc.stop()
    return {"cpu": cpu, "peak_mb": peak}


def in_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def realistic(directory: Path, megabytes: int) -> Path:
    import generate

    path = directory / f"forest-{megabytes}mb.ldf"
    with open(path, "w", encoding="utf-8", newline="") as out:
        sample = directory / "sample.ldf"
        with open(sample, "w", encoding="utf-8", newline="") as small:
            generate.generate(small, 2_000, seed=1)
        per_object = sample.stat().st_size / 2_000
        generate.generate(out, int(megabytes * MB / per_object), seed=1)
    return path


def utf16_copy(path: Path) -> Path:
    copy = path.with_name(path.stem + "-utf16.ldf")
    copy.write_text(path.read_text(encoding="utf-8"), encoding="utf-16")
    return copy


def hostile(directory: Path, megabytes: int) -> Path:
    path = directory / f"hostile-dn-{megabytes}mb.ldf"
    path.write_bytes(b"dn: CN=a" + b" " * (megabytes * MB) + b'"x,DC=bad,DC=local\r\ncn: a\r\n')
    return path


def row(name: str, path: Path, result: dict) -> None:
    size = path.stat().st_size / MB
    rate = size / result["cpu"] if result["cpu"] else float("inf")
    outcome = f"{result['entries']} entries" + (f"; {result['error']}" if result["error"] else "")
    print(
        f"{name:<28} {size:8.1f} MB {result['cpu']:8.2f} s {rate:8.1f} MB/s {result['peak_mb']:8.2f} MB "
        f"{result['rss_mb']:8.1f} MB  {outcome}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[10, 100], metavar=("SMALL", "LARGE"), help="MB")
    parser.add_argument("--hostile", type=int, default=10, help="MB of the one-DN file")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, value = args.child
        print(json.dumps(measure_file(value) if kind == "file" else measure_parse_dn(int(value), kind == "dn")))
        return
    small_mb, large_mb = args.sizes
    with tempfile.TemporaryDirectory(prefix="reader-bench-") as tmp:
        directory = Path(tmp)
        print("Generating files...", flush=True)
        small, large = realistic(directory, small_mb), realistic(directory, large_mb)
        bad = hostile(directory, args.hostile)
        files = [
            (f"ldifde {small_mb} MB", small),
            (f"ldifde {large_mb} MB", large),
            (f"ldifde -u {small_mb} MB (UTF-16)", utf16_copy(small)),
            (f"hostile DN {args.hostile} MB", bad),
            (f"hostile DN {args.hostile} MB UTF-16", utf16_copy(bad)),
        ]
        print(f"{'file':<28} {'size':>11} {'CPU':>10} {'rate':>13} {'peak heap':>11} {'peak RSS+':>11}  result")
        results = {}
        for name, path in files:
            results[name] = in_child("--child", "file", str(path))
            row(name, path, results[name])
        time_ratio = results[files[1][0]]["cpu"] / results[files[0][0]]["cpu"]
        memory_ratio = results[files[1][0]]["peak_mb"] / max(results[files[0][0]]["peak_mb"], 0.01)
        input_ratio = large.stat().st_size / small.stat().st_size
        print(
            f"\n{large_mb} MB vs {small_mb} MB: input x{input_ratio:.1f}, time x{time_ratio:.1f} "
            f"(linear: x{input_ratio:.1f}), peak memory x{memory_ratio:.1f} (flat: x1)"
        )
    print("\nparse_dn alone (no reader limits): the hostile DN, and a valid DN of as many characters")
    for kind in ("dn", "valid-dn"):
        parsed = {}
        for megabytes in (1, args.hostile):
            parsed[megabytes] = result = in_child("--child", kind, str(megabytes * MB))
            print(f"  {kind:<8} {megabytes:>3} MB: {result['cpu']:.3f} s, peak heap {result['peak_mb']:.2f} MB")
        ratio = parsed[args.hostile]["cpu"] / max(parsed[1]["cpu"], 1e-6)
        linear, quadratic = args.hostile, args.hostile**2
        print(f"  {kind:<8} {args.hostile} MB vs 1 MB: time x{ratio:.1f} (linear: x{linear}; quadratic: x{quadratic})")


if __name__ == "__main__":
    main()
