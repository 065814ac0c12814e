"""Check ldifde/csvde exports offline, without a database or a DC: the scan's rules on files.

Each FILE is one forest of one tenant; duplicates are found across all of them. Exit status 2
with the line named when a file is malformed; nothing is printed before every file has parsed.
"""

import json
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand

from identityhub.lib import rules
from identityhub.lib.ldif import ExportFormatError, read_export


class Command(BaseCommand):
    help = "Check ldifde (LDIF) or csvde (CSV) exports for objects that would fail or misbehave in Entra sync."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument("--ruleset", choices=rules.model.RULESETS, default="multi-tenant")
        parser.add_argument("--verified-domain", action="append", default=[], dest="verified_domains", metavar="D")
        parser.add_argument("--json", action="store_true", help="one JSON object per line and finding")

    def handle(self, *args, files, ruleset, verified_domains, **options):
        as_json = options["json"]
        ctx = rules.Context(ruleset=ruleset, verified_domains=frozenset(verified_domains))
        paths = [Path(f) for f in files]
        for path in paths:
            if not path.is_file():
                self._fail(f"{path}: no such file")
        # Pass 1 reads every file whole: a malformed file stops us before any output, and the
        # duplicate finder learns every value, so suggestions never propose a taken one.
        finder = rules.DuplicateFinder(ctx)
        for path in paths:
            for entry in self._read(path):
                finder.add(entry)
        counts: Counter = Counter()
        excluded: Counter = Counter()
        for path in paths:
            for entry in self._read(path):
                reason = rules.exclusion_reason(entry, ctx)
                if reason:
                    excluded[reason] += 1
                    continue
                for finding in rules.check_entry(entry, ctx, is_taken=finder.is_taken):
                    counts[finding.rule] += 1
                    self._emit(finding, entry.object_class, as_json)
        for finding in finder.findings():
            counts[finding.rule] += 1
            self._emit(finding, "", as_json)
        if not as_json:
            self._summary(counts, excluded)

    def _read(self, path):
        try:
            yield from read_export(path, source=str(path))
        except ExportFormatError as exc:
            self._fail(f"{path}: {exc}")
        except (OSError, UnicodeDecodeError) as exc:
            self._fail(f"{path}: cannot be read: {exc}")

    def _fail(self, message):
        self.stderr.write(f"check_export: {message}")
        raise SystemExit(2)

    def _emit(self, finding, object_class, as_json):
        row = {
            "dn": finding.dn,
            "object_class": object_class,
            "attribute": finding.attribute,
            "value": finding.value,
            "rule": finding.rule,
            "error": finding.error,
            "severity": finding.severity,
            "suggestion": finding.suggestion,
            "guid": finding.guid,
            "file": finding.source,
        }
        if as_json:
            self.stdout.write(json.dumps(row, ensure_ascii=False))
        else:
            hint = f" -> {finding.suggestion}" if finding.suggestion is not None else ""
            self.stdout.write(
                f"{finding.severity:9} {finding.rule:32} {finding.dn} [{finding.attribute}] {finding.value!r}{hint}"
            )

    def _summary(self, counts, excluded):
        total = sum(counts.values())
        self.stdout.write(
            f"\n{total} finding(s); {sum(excluded.values())} object(s) Entra Connect never syncs were skipped."
        )
        for rule, n in counts.most_common():
            self.stdout.write(f"  {n:6}  {rule}")
