"""check_export's memory is bounded whatever the number of findings: findings are written as they
are found (to a spill on disk, read back for output), and only what duplicate detection needs (the
DuplicateFinder's compact keys) is held in memory."""

import importlib.util
import io
import sys
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest

from identityhub import export_check
from identityhub.lib import rules
from identityhub.lib.ldif import read_export

ROOT = Path(__file__).resolve().parent.parent


def load_generator():
    path = ROOT / "bench" / "generate.py"
    spec = importlib.util.spec_from_file_location("bench_generate", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


class Sink(io.TextIOBase):
    """stdout of the run: counts what is written and keeps none of it."""

    def __init__(self):
        self.lines = 0

    def write(self, text):
        self.lines += text.count("\n")
        return len(text)


def export(tmp_path, name, count):
    path = tmp_path / name
    with path.open("w", encoding="utf-8", newline="") as out:
        load_generator().generate(out, count, 1, defect_rate=0.3)
    return path


def traced_peak(run) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def finder_peak(path) -> int:
    """What duplicate detection alone holds for this file: the part allowed to grow with the input."""
    ctx = rules.Context(verified_domains=frozenset({"example.com"}))

    def run():
        finder = rules.DuplicateFinder(ctx)
        for entry in read_export(path, source=str(path), stats=Counter()):
            finder.add(entry)

    return traced_peak(run)


def check_peak(path, fmt) -> tuple[int, int]:
    out = Sink()
    args = [str(path), "--verified-domain", "example.com", "--format", fmt]
    status = []
    peak = traced_peak(lambda: status.append(export_check.main(args, stdout=out, stderr=io.StringIO())))
    assert status[0] in (export_check.EXIT_CLEAN, export_check.EXIT_BLOCKING)
    return peak, out.lines


@pytest.mark.parametrize("fmt", ["csv", "table"])
def test_memory_beyond_duplicate_detection_does_not_grow_with_the_findings(tmp_path, fmt):
    small, large = export(tmp_path, "small.ldf", 1_000), export(tmp_path, "large.ldf", 10_000)
    small_peak, small_lines = check_peak(small, fmt)
    large_peak, large_lines = check_peak(large, fmt)
    assert large_lines > 9 * small_lines > 9_000  # many findings, and ten times as many in the large file
    beyond_small = small_peak - finder_peak(small)
    beyond_large = large_peak - finder_peak(large)
    # Held per finding, the large run would need ~10x the small run's memory above the finder's.
    assert beyond_large < 1.5 * beyond_small + 1_000_000, (beyond_small, beyond_large)


def test_a_full_temporary_disk_is_a_clear_error_not_a_traceback(tmp_path, monkeypatch):
    """The spill lives in the temporary directory: when that fills up, SQLite says "database or disk
    is full". The run ends with exit status 2 and one line that says where the space ran out."""
    import sqlite3

    connect = sqlite3.connect

    def small_disk(*args, **kwargs):
        db = connect(*args, **kwargs)
        db.execute("PRAGMA max_page_count = 8")  # SQLITE_FULL after 32 kB, as a full disk answers
        return db

    monkeypatch.setattr(export_check.sqlite3, "connect", small_disk)
    path = export(tmp_path, "big.ldf", 2000)
    out, err = io.StringIO(), io.StringIO()
    status = export_check.main([str(path), "--format", "csv"], stdout=out, stderr=err)
    assert status == export_check.EXIT_UNREADABLE
    message = err.getvalue()
    assert message.startswith("check_export: ") and message.count("\n") == 1, message
    assert "temporary" in message and "TMPDIR" in message and "Traceback" not in message
    assert out.getvalue() == ""  # nothing half-written
