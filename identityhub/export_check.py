"""check_export: the scan's rules on ldifde, csvde or ldapsearch exports, offline, for consultants and pipelines.

Plain Python: no Django settings, no SECRET_KEY, no database, so it runs straight after install
(`python manage.py check_export FILE...` or `python -m identityhub.export_check FILE...`).

Each FILE is one forest of one tenant; duplicates are found across all of them. Exit status:
0 no blocking finding, 1 at least one blocking finding, 2 unreadable input or bad arguments (the
file and line named, nothing printed on stdout). The `error` of a row is IdFix's error type, the
`rule` our finer code.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import sqlite3
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from identityhub.lib import rules
from identityhub.lib.ldif import ExportFormatError, read_export
from identityhub.lib.rules.checks import check_in_scope
from identityhub.lib.rules.duplicates import value_keys

FIELDS = (
    "dn",
    "object_class",
    "attribute",
    "value",
    "rule",
    "error",
    "severity",
    "suggestion",
    "detail",
    "guid",
    "file",
)
# The spill's finding table (FindingSpill): a column per field, named as the field.
_COLUMNS = ", ".join(f'"{name}"' for name in FIELDS)
_INSERT = f"INSERT INTO finding VALUES (?{', ?' * len(FIELDS)})"  # noqa: S608 - seq, then one ? a field
_SELECT = f"SELECT {_COLUMNS} FROM finding"  # noqa: S608 - constant text, our own column names
EXIT_CLEAN, EXIT_BLOCKING, EXIT_UNREADABLE = 0, 1, 2
FORMATS = ("table", "json", "csv")
_SEVERITY_ORDER = {name: i for i, name in enumerate(rules.catalogue.SEVERITIES)}


class Unreadable(Exception):
    """An input file (or the domains file) cannot be read: exit status 2."""


class Report:
    """The counts of a check, and its findings in a spill on disk (FindingSpill), read back in order.

    Memory does not grow with the findings: counts are per rule, error type and severity.
    Close it (or use it as a context manager) to delete the spill.
    """

    def __init__(self):
        self.objects = 0
        self.excluded: Counter = Counter()
        self.skipped: Counter = Counter()  # ldapsearch references and trailers, per kind
        self.by_rule: Counter = Counter()  # in order of first appearance, as most_common() breaks ties
        self.by_error: Counter = Counter()
        self.by_severity: Counter = Counter()
        self.first: dict[str, tuple[str, str]] = {}  # rule -> (severity, error) of its first finding
        self.spill = FindingSpill()

    def add(self, finding: rules.Finding, object_class: str, claims: list[tuple[str, str, str]] = ()) -> None:
        self.by_rule[finding.rule] += 1
        self.by_error[finding.error] += 1
        self.by_severity[finding.severity] += 1
        self.first.setdefault(finding.rule, (finding.severity, finding.error))
        self.spill.add(finding, object_class, claims)

    def rows(self, rule: str | None = None) -> Iterator[dict]:
        """One dict per finding (of one rule), in the order found, made as it is written."""
        return self.spill.rows(rule)

    @property
    def count(self) -> int:
        return self.by_rule.total()

    @property
    def blocking(self) -> bool:
        return self.by_severity["blocking"] > 0

    def summary(self) -> dict:
        return {
            "objects": self.objects,
            "in_scope": self.objects - sum(self.excluded.values()),
            "excluded": dict(self.excluded.most_common()),
            "skipped_records": dict(sorted(self.skipped.items())),
            "findings": self.count,
            "by_rule": dict(self.by_rule.most_common()),
            "by_error": dict(self.by_error.most_common()),
            "by_severity": {s: n for s in rules.catalogue.SEVERITIES if (n := self.by_severity[s])},
        }

    def close(self) -> None:
        self.spill.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class FindingSpill:
    """Findings written to a temporary SQLite database as they are found, read back in order.

    A suggestion is only final once every finding is known: two objects whose suggestions take the
    same value get neither (the rule of duplicates.SuggestionClaims, which holds its claims in
    memory; the scans do it in SQL, pipeline.vet_suggestions). Here the claims go to the spill
    too, and withhold() applies the rule there, so memory stays bounded. SQLite's page cache is
    capped (CACHE_KIB); the rest lives in a file it deletes when closed.
    """

    BATCH = 1000  # findings written per transaction
    CACHE_KIB = 4096

    def __init__(self):
        self._db = sqlite3.connect("")  # "": a private temporary database on disk
        self._db.executescript(f"""
            PRAGMA cache_size = -{self.CACHE_KIB};
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE finding (seq INTEGER PRIMARY KEY, {_COLUMNS});
            CREATE TABLE claim (seq INTEGER, kind TEXT, normalized TEXT, owner TEXT);
        """)  # fmt: skip
        self._seq = 0
        self._findings: list[tuple] = []
        self._claims: list[tuple] = []

    def add(self, finding: rules.Finding, object_class: str, claims) -> None:
        self._seq += 1
        row = _row(finding, object_class)
        self._findings.append((self._seq, *(row[f] for f in FIELDS)))
        self._claims += [(self._seq, *claim) for claim in claims]
        if len(self._findings) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        with self._db:
            self._db.executemany(_INSERT, self._findings)
            if self._claims:  # none after withhold(), which drops the table
                self._db.executemany("INSERT INTO claim VALUES (?, ?, ?, ?)", self._claims)
        self._findings, self._claims = [], []

    def withhold(self) -> None:
        """Drop every suggestion that takes a value another object's suggestion takes too."""
        self._flush()
        with self._db:
            self._db.execute("""
                UPDATE finding SET suggestion = NULL WHERE seq IN (
                    SELECT claim.seq FROM claim JOIN (
                        SELECT kind, normalized FROM claim GROUP BY kind, normalized
                        HAVING COUNT(DISTINCT owner) > 1
                    ) AS contested USING (kind, normalized)
                )
            """)  # fmt: skip
            self._db.execute("DROP TABLE claim")
            self._db.execute("CREATE INDEX finding_rule ON finding (rule, seq)")  # the table format's order

    def rows(self, rule: str | None = None) -> Iterator[dict]:
        self._flush()
        if rule is None:
            cursor = self._db.execute(f"{_SELECT} ORDER BY seq")
        else:
            cursor = self._db.execute(f"{_SELECT} WHERE rule = ? ORDER BY seq", (rule,))
        for values in cursor:
            yield dict(zip(FIELDS, values, strict=True))

    def close(self) -> None:
        self._db.close()


DESCRIPTION = (
    "Check ldifde (LDIF), csvde (CSV) or ldapsearch exports for objects that would fail or misbehave in "
    "Entra sync. Exit 0: no blocking finding; 1: blocking findings; 2: unreadable input."
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="check_export", description=DESCRIPTION)
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--ruleset", choices=rules.model.RULESETS, default="multi-tenant")
    p.add_argument("--verified-domain", action="append", default=[], dest="verified_domains", metavar="DOMAIN",
                   help="a verified domain of the tenant; repeat for more (or separate them with commas)")  # fmt: skip
    p.add_argument("--verified-domains-file", metavar="PATH",
                   help="verified domains, one per line ('#' starts a comment)")  # fmt: skip
    p.add_argument("--format", choices=FORMATS, help="table on a terminal, json (one object per line) otherwise")
    p.add_argument("--json", action="store_const", const="json", dest="json_alias", help="same as --format json")
    p.add_argument("--summary", action="store_true", help="only counts per rule, error type and severity")


def main(argv: list[str] | None = None, stdout=None, stderr=None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage error (or --help)
        return EXIT_UNREADABLE if exc.code else EXIT_CLEAN
    return run(args, stdout or sys.stdout, stderr or sys.stderr)


def run(args: argparse.Namespace, stdout, stderr) -> int:
    """Check args.files and write the report; returns the exit status."""
    try:
        given = [d for value in args.verified_domains for d in value.replace(",", " ").split()]  # a,b also works
        domains = [*given, *_domains_file(args.verified_domains_file)]
        ctx = rules.Context(ruleset=args.ruleset, verified_domains=frozenset(d for d in domains if d.strip()))
        report = check([Path(f) for f in args.files], ctx)
    except Unreadable as exc:
        stderr.write(f"check_export: {exc}\n")
        return EXIT_UNREADABLE
    except sqlite3.OperationalError as exc:  # the spill's disk: "database or disk is full"
        stderr.write(f"check_export: the findings could not be kept in a temporary file in {tempfile.gettempdir()} "
                     f"({exc}): free space there or set TMPDIR to a larger disk\n")  # fmt: skip
        return EXIT_UNREADABLE
    with report:
        return _write(report, args, stdout, stderr)


def _write(report: Report, args: argparse.Namespace, stdout, stderr) -> int:
    for kind, n in report.skipped.items():
        if kind.startswith("incomplete"):
            stderr.write(f"check_export: warning: ldapsearch reported {kind.partition(': ')[2]} ({n}x): "
                         "the export is incomplete\n")  # fmt: skip
    fmt = args.format or args.json_alias or ("table" if _is_terminal(stdout) else "json")
    try:
        WRITERS[fmt](report, stdout, stderr, args.summary)
    except BrokenPipeError:  # `check_export ... | head`: the reader has seen enough
        _silence(stdout)
    return EXIT_BLOCKING if report.blocking else EXIT_CLEAN


def _silence(stream) -> None:
    """Point a closed pipe at /dev/null, so the interpreter's final flush does not fail again."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


def _is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _domains_file(path: str | None) -> list[str]:
    if not path:
        return []
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise Unreadable(f"{path}: cannot be read: {exc}") from None
    return [line.split("#", 1)[0].strip() for line in text.splitlines()]


def check(paths: list[Path], ctx: rules.Context) -> Report:
    """Every finding of every file; Unreadable before anything is returned when one is malformed.
    The caller closes the Report (it owns the spill)."""
    for path in paths:
        if not path.is_file():
            raise Unreadable(f"{path}: no such file")
    report = Report()
    try:
        _check(paths, ctx, report)
    except BaseException:
        report.close()  # and with it the spill's file
        raise
    return report


def _check(paths: list[Path], ctx: rules.Context, report: Report) -> None:
    # Pass 1 reads every file whole: a malformed file stops us before any output, and the
    # duplicate finder learns every value, so suggestions never propose a taken one.
    finder = rules.DuplicateFinder(ctx)
    for path in paths:
        before = report.objects
        for entry in _read(path, report.skipped):
            report.objects += 1
            finder.add(entry)
        if report.objects == before:  # an empty file must not pass a pipeline's gate as "clean"
            raise Unreadable(f"{path}: holds no directory objects (an empty export, or not an export at all)")
    for path in paths:
        for entry in _read(path, Counter()):  # counted in pass 1 already
            reason = rules.exclusion_reason(entry, ctx)
            if reason:
                report.excluded[reason] += 1
                continue
            for finding in check_in_scope(entry, ctx, is_taken=finder.is_taken):  # exclusion just asked
                report.add(finding, entry.object_class, _claims(entry, finding, ctx))
    report.spill.withhold()
    for finding, cls in finder.findings_with_class():  # duplicates suggest nothing
        report.add(finding, cls)


def _claims(entry, finding: rules.Finding, ctx: rules.Context) -> list[tuple[str, str, str]]:
    """(kind, normalized, owner) of each value the finding's suggestion would take (see FindingSpill)."""
    if not finding.suggestion:
        return []
    owner = f"{entry.source}\x1f{entry.dn}"  # one object, whatever its findings
    keys = value_keys(finding.attribute, finding.suggestion, entry, ctx)
    return [(kind, normalized, owner) for kind, normalized in keys]


def _read(path: Path, stats: Counter | None):
    try:
        yield from read_export(path, source=str(path), stats=stats)
    except ExportFormatError as exc:
        raise Unreadable(f"{path}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise Unreadable(f"{path}: cannot be read: {exc}") from None


def _row(finding: rules.Finding, object_class: str) -> dict:
    return {
        "dn": finding.dn,
        "object_class": object_class,
        "attribute": finding.attribute,
        "value": finding.value,
        "rule": finding.rule,
        "error": finding.error,
        "severity": finding.severity,
        "suggestion": finding.suggestion,
        "detail": finding.detail,
        "guid": finding.guid,
        "file": finding.source,
    }


# --- output -----------------------------------------------------------------------------------


def _write_json(report: Report, out, err, summary_only: bool) -> None:
    if summary_only:
        out.write(json.dumps(report.summary(), ensure_ascii=False) + "\n")
        return
    for row in report.rows():
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
    _summary_text(report, err)  # stdout stays machine-readable


def _write_csv(report: Report, out, err, summary_only: bool) -> None:
    writer = csv.writer(out, lineterminator="\n")
    if summary_only:
        writer.writerow(("count_of", "name", "count"))
        summary = report.summary()
        for column in ("by_rule", "by_error", "by_severity", "excluded", "skipped_records"):
            writer.writerows((column.removeprefix("by_"), name, n) for name, n in summary[column].items())
        return
    writer.writerow(FIELDS)
    writer.writerows([("" if row[f] is None else row[f]) for f in FIELDS] for row in report.rows())
    _summary_text(report, err)


def _write_table(report: Report, out, err, summary_only: bool) -> None:
    count = report.by_rule
    # Rules by the severity of their first finding, then most findings first, then first found first.
    order = sorted(count, key=lambda code: (_SEVERITY_ORDER[report.first[code][0]], -count[code]))
    width = max((len(code) for code in order), default=4)
    out.write(f"{'RULE':{width}}  {'SEVERITY':9}  {'ERROR':14}  {'COUNT':>6}  TITLE\n")
    for code in order:
        severity, error = report.first[code]
        out.write(f"{code:{width}}  {severity:9}  {error:14}  {count[code]:6}  {rules.RULES[code].title}\n")
    if not summary_only:
        for code in order:
            out.write(f"\n{code} ({count[code]}): {rules.RULES[code].title}\n")
            for row in report.rows(code):
                hint = f" -> {row['suggestion']}" if row["suggestion"] is not None else ""
                out.write(f"  {row['dn']}  [{row['attribute']}] {row['value']!r}{hint}\n")
                if row["detail"]:
                    out.write(f"      {row['detail']}\n")
    out.write("\n")
    _summary_text(report, out)


def _summary_text(report: Report, out) -> None:
    s = report.summary()
    severities = ", ".join(f"{n} {name}" for name, n in s["by_severity"].items()) or "none"
    out.write(f"{s['findings']} finding(s) ({severities}) in {s['in_scope']} object(s) in scope; "
              f"{sum(s['excluded'].values())} object(s) Entra Connect never syncs were skipped.\n")  # fmt: skip
    for title, counts in (("excluded", s["excluded"]), ("skipped records", s["skipped_records"])):
        if counts:
            out.write(f"  {title}: " + ", ".join(f"{name} {n}" for name, n in counts.items()) + "\n")
    if s["by_error"]:
        out.write("  by error type: " + ", ".join(f"{name} {n}" for name, n in s["by_error"].items()) + "\n")


WRITERS = {"json": _write_json, "csv": _write_csv, "table": _write_table}


if __name__ == "__main__":
    sys.exit(main())
