"""The evidence pack of a tenant: a ZIP of CSVs with a SHA-256 manifest, and a PDF that quotes it.

ZIP: settings.csv, forests.csv, scans.csv, findings-open.csv, exceptions.csv, changes.csv,
changes.ldf (applied changes as LDIF, remediation/exports.py), provisioning-errors.csv,
health-snapshot.csv, score-trend.csv, rollout-criteria.csv and rollout-sign-offs.csv (with the
rollout app), and manifest.sha256 listing every
other file in `sha256sum` format (`sha256sum -c manifest.sha256` checks an unpacked pack).
PDF: the same facts for reading, with the manifest's own SHA-256 and every file's digest.

No secret is ever read: the forest columns are named here one by one, and the bind password, the
CA certificate's text and the Graph client secret or key are not among them.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.db.models import Count, F
from django.template.loader import render_to_string
from django.utils import timezone

from identityhub.health.models import GraphConnection, ProvisioningError
from identityhub.lib import rules
from identityhub.remediation import exports as change_exports
from identityhub.remediation.models import Change
from identityhub.scans.models import Finding, ScanRun, Severity
from identityhub.tenants.models import Forest

from . import datasets, rollout_hook
from .tabular import text, write_csv

PDF_ROWS = 200  # rows of a long list printed in the PDF; the CSV in the ZIP has them all
MANIFEST = "manifest.sha256"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_text(digests: dict[str, str]) -> str:
    """`sha256sum` format: the hex digest, two spaces, the file name; one file per line, sorted."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items()))


def parse_manifest(content: str) -> dict[str, str]:
    out = {}
    for line in content.splitlines():
        digest, name = line.split("  ", 1)
        out[name] = digest
    return out


@dataclass
class Pack:
    tenant: object
    user: object
    generated: object = field(default_factory=timezone.now)
    files: dict[str, Path] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    context: dict = field(default_factory=dict)
    manifest_sha256: str = ""


# ------------------------------------------------------------------------------ the facts

SETTINGS_HEADER = ["setting", "value"]
FOREST_HEADER = [
    "forest",
    "servers",
    "port",
    "StartTLS",
    "own CA certificate",
    "base DNs",
    "bind user",
    "include OUs",
    "exclude OUs",
    "extra LDAP filter",
    "scan schedule",
    "updated",
]
SCAN_HEADER = [
    "scan",
    "forest",
    "status",
    "source",
    "current",
    "catalogue version",
    "rule set",
    "started",
    "finished",
    "objects read",
    "objects in scope",
    "objects excluded",
    "findings",
    *Severity.values,  # most severe first, as every page lists them
    "error",
]
SNAPSHOT_HEADER = ["field", "value"]
ROLLOUT_KEYS = [
    "code",
    "step",
    "name",
    "proof",
    "state",
    "evidence",
    "evidence_url",
    "computed_at",
    "signed_off_by",
    "signed_off_at",
    "sign_off_comment",
]
ROLLOUT_HEADER = [
    "criterion",
    "step",
    "title",
    "proof",
    "state",
    "evidence",
    "evidence link",
    "computed at",
    "signed off by",
    "signed off at",
    "sign-off comment",
]
SIGN_OFF_KEYS = ["code", "user", "comment", "at", "revoked_at", "revoked_by"]
SIGN_OFF_HEADER = ["criterion", "signed off by", "comment", "at", "revoked at", "revoked by"]
TREND_HEADER = ["scan", "forest", "finished", *(f"open {s}" for s in Severity.values), "readiness score"]


def tenant_settings(tenant) -> list[list]:
    connection = GraphConnection.objects.filter(tenant=tenant).first()
    rows = [
        ["tenant", tenant.name],
        ["slug", tenant.slug],
        ["Entra tenant ID", tenant.entra_tenant_id],
        ["authentication method", tenant.get_auth_method_display()],
        ["rule set", tenant.get_ruleset_display()],
        ["four-eyes approval", "yes" if tenant.require_approval else "no"],
        ["verified domains", tenant.verified_domains],
        ["rule catalogue version", rules.CATALOGUE_VERSION],
    ]
    if connection:
        rows += [
            ["Graph application (client) ID", connection.client_id],
            [
                "Graph credential",
                "certificate " + connection.certificate_thumbprint
                if connection.uses_certificate
                else "client secret (not shown)",
            ],
        ]
    return rows


def forest_rows(forests) -> list[list]:
    return [
        [
            f.name,
            f.server_list,
            f.port,
            "yes" if f.use_starttls else "no",
            "yes" if f.ca_certificate.strip() else "no (system CAs)",
            f.base_dn_list,
            f.bind_user,
            f.include_ou_list,
            f.exclude_ou_list,
            f.extra_filter,
            f.get_scan_schedule_display(),
            f.updated,
        ]
        for f in forests
    ]


def scan_rows(scans) -> list[list]:
    return [
        [
            s.pk,
            s.forest.name,
            s.status,
            s.source,
            "yes" if s.is_current else "",
            s.catalogue_version,
            s.ruleset,
            s.started,
            s.finished,
            s.objects_read,
            s.objects_in_scope,
            s.objects_excluded,
            s.findings_count,
            *(n for _severity, n in Severity.split(s.severity_counts)),
            s.error,
        ]
        for s in scans
    ]


def snapshot_rows(snapshot) -> list[list]:
    if snapshot is None:
        return []
    rows = [
        ["taken", snapshot.taken],
        ["demo data", "yes" if snapshot.is_demo else "no"],
        ["directory sync enabled", "yes" if snapshot.sync_enabled else "no"],
        ["last sync", snapshot.last_sync],
        ["last password hash sync", snapshot.last_password_sync],
        ["verified domains", snapshot.verified_domains],
        ["provisioning errors", snapshot.error_count],
    ]
    for kind, numbers in sorted((snapshot.counts or {}).items()):
        for name, n in sorted((numbers or {}).items()):
            rows.append([f"{kind} {name}".replace("_", " "), n])
    return rows


class JobRequest:
    """What datasets.py reads of a request (user, GET) when a worker, not a browser, asks."""

    def __init__(self, user, querystring: str = ""):
        from django.http import QueryDict

        self.user = user
        self.GET = QueryDict(querystring)


# ------------------------------------------------------------------------------ building


def build(tenant, user, workdir: Path, progress: Callable[[int, str], None] = lambda p, s: None) -> Pack:
    """Write every CSV and the manifest into `workdir`, then the PDF; returns what was made."""
    pack = Pack(tenant, user)
    request = JobRequest(user, "status=open")
    forests = Forest.objects.for_user(user).filter(tenant=tenant)
    scans = ScanRun.objects.for_user(user).filter(tenant=tenant).select_related("forest").order_by("created", "pk")
    snapshot = datasets.latest_snapshot(request, tenant)
    open_findings = Finding.objects.for_user(user).filter(tenant=tenant).open().order_by("-severity", "rule", "dn")
    changes = (
        Change.objects.for_user(user)
        .filter(tenant=tenant)
        .select_related("forest", "requested_by", "approved_by")
        .order_by("created", "pk")
    )
    rollout = rollout_hook.rollout_state(tenant)

    def add_csv(name: str, header: list[str], rows) -> int:
        path = workdir / name
        with path.open("w", newline="", encoding="utf-8") as handle:
            count = write_csv(handle, header, rows)
        pack.files[name] = path
        return count

    progress(5, "settings and scope")
    add_csv("settings.csv", SETTINGS_HEADER, tenant_settings(tenant))
    add_csv("forests.csv", FOREST_HEADER, forest_rows(forests))
    add_csv("scans.csv", SCAN_HEADER, scan_rows(scans))
    progress(20, "open findings")
    add_csv("findings-open.csv", datasets.FINDING_HEADER, datasets.finding_rows(open_findings, tenant))
    progress(50, "exceptions and changes")
    waivers = datasets.waivers_queryset(request, tenant, data={})
    add_csv("exceptions.csv", datasets.WAIVER_HEADER, datasets.waiver_rows(waivers))
    add_csv("changes.csv", change_exports.CSV_HEADER, datasets.change_rows(changes))
    # As the change log's LDIF export has them: written to AD (still in force or undone since), oldest first.
    applied = (
        changes.filter(result__in=[Change.Result.APPLIED, Change.Result.REVERTED])
        .exclude(action=Change.Action.ACCEPT)
        .order_by(F("applied_at").asc(nulls_first=True), "pk")
    )
    ldif_path = workdir / "changes.ldf"
    with ldif_path.open("w", newline="", encoding="ascii") as handle:
        header = f"IdentityHub change log of {tenant.slug}: applied changes, oldest first"
        for chunk in change_exports.ldif(
            (change_exports.modification_of(c) for c in applied.iterator(chunk_size=500)), header=header
        ):
            handle.write(chunk)
    pack.files["changes.ldf"] = ldif_path
    progress(70, "sync health")
    errors = ProvisioningError.objects.for_user(user).filter(snapshot=snapshot).order_by("-occurred", "pk")
    add_csv("provisioning-errors.csv", datasets.ERROR_HEADER, datasets.error_rows(errors))
    add_csv("health-snapshot.csv", SNAPSHOT_HEADER, snapshot_rows(snapshot))
    if rollout is not None:
        add_csv("rollout-criteria.csv", ROLLOUT_HEADER, ([c[k] for k in ROLLOUT_KEYS] for c in rollout["criteria"]))
        add_csv("rollout-sign-offs.csv", SIGN_OFF_HEADER, ([s[k] for k in SIGN_OFF_KEYS] for s in rollout["sign_offs"]))
    add_csv(
        "score-trend.csv",
        TREND_HEADER,
        (
            [
                t["scan"].pk,
                t["scan"].forest.name,
                t["scan"].finished,
                *(t[severity] for severity in Severity.values),
                t["score"],
            ]
            for t in score_trend(scans)
        ),
    )

    progress(80, "manifest")
    pack.digests = {name: sha256_file(path) for name, path in pack.files.items()}
    manifest_path = workdir / MANIFEST
    manifest_path.write_text(manifest_text(pack.digests), encoding="utf-8")
    pack.manifest_sha256 = sha256_file(manifest_path)
    pack.files[MANIFEST] = manifest_path

    progress(85, "PDF")
    severity_counts = dict(open_findings.order_by().values_list("severity").annotate(n=Count("id")))
    pack.context = {
        "tenant": tenant,
        "user": user,
        "generated": pack.generated,
        "catalogue_version": rules.CATALOGUE_VERSION,
        "settings": [[k, text(v)] for k, v in tenant_settings(tenant)],
        "forests": forests,
        "scans": list(scans)[-PDF_ROWS:],
        "trend": score_trend(scans),
        "score": rollout_hook.readiness_score(tenant),
        "severity_counts": severity_counts,
        "rule_counts": list(
            open_findings.order_by().values("rule", "severity").annotate(n=Count("id")).order_by("-n", "rule")
        ),
        "open_total": sum(severity_counts.values()),
        "waivers": list(waivers[:PDF_ROWS]),
        "waiver_total": waivers.count(),
        "changes": list(changes.order_by("-created", "-pk")[:PDF_ROWS]),
        "change_total": changes.count(),
        "rollout": rollout,
        "snapshot": snapshot,
        "snapshot_rows": [[k, text(v)] for k, v in snapshot_rows(snapshot)],
        "error_total": errors.count(),
        "digests": sorted(pack.digests.items()),
        "manifest_sha256": pack.manifest_sha256,
        "zip_name": zip_name(tenant, pack.generated),
        "pdf_rows": PDF_ROWS,
    }
    return pack


def score_trend(scans) -> list[dict]:
    """After each completed scan: open findings by severity over every forest (each at its latest scan
    then), and the readiness score of that picture by the rollout app's formula (None without it)."""
    latest: dict[int, tuple[int, dict]] = {}
    trend = []
    for scan in sorted(
        (s for s in scans if s.status == ScanRun.Status.COMPLETED), key=lambda s: (s.finished or s.created, s.pk)
    ):
        latest[scan.forest_id] = (scan.objects_in_scope, scan.severity_counts or {})
        objects = sum(n for n, _ in latest.values())
        counts = {sev: sum(c.get(sev, 0) for _, c in latest.values()) for sev in Severity.values}
        trend.append({"scan": scan, **counts, "score": rollout_hook.score_of(objects, counts)})
    return trend


def zip_name(tenant, when) -> str:
    return f"evidence-{tenant.slug}-{when:%Y%m%d-%H%M%S}.zip"


def write_zip(pack: Pack, path: Path) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, file_path in sorted(pack.files.items()):
            archive.write(file_path, arcname=name)


def render_pdf(pack: Pack) -> bytes:
    import weasyprint  # heavy: only the worker building a pack loads it

    html = render_to_string("reports/evidence_pdf.html", pack.context)
    return weasyprint.HTML(string=html, base_url=None).write_pdf()
