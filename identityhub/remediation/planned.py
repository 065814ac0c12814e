"""Planned changes: fixes for a forest IdentityHub cannot reach (Forest.export_only).

Such a forest is checked from ldifde/csvde exports. A Fix, Remove, bulk apply or undo there is
vetted exactly like a live one (actions.request_change), then, instead of an LDAP modify, the
change is *planned* (apply_change's hook calls plan()). All planned changes of a tenant export as
one LDIF that `ldifde -i` imports (each record deletes the exact old value and adds the new one,
so a value that moved on makes the record fail instead of overwriting it), and as a CSV to review.
The next export uploaded for the forest verifies each planned change: applied (AD now holds the
new value), not applied (still the old one) or changed (something else): closing the loop like a
live write.
"""

from __future__ import annotations

import csv
import io

from django.dispatch import receiver
from django.utils import timezone

from identityhub.scans.models import DirectoryObject, ScanRun
from identityhub.scans.signals import scan_completed

from . import exports
from .models import Change

CSV_HEADER = ["DN", "objectGUID", "attribute", "delete (old values)", "add (new values)", "change", "requested by"]


def applies_to(forest) -> bool:
    return bool(forest.export_only)


def plan(change: Change) -> Change:
    change.result, change.error = Change.Result.PLANNED, ""
    change.save(update_fields=["result", "error"])
    return change


def pending(tenant):
    return (
        Change.objects.filter(tenant=tenant, result=Change.Result.PLANNED)
        .select_related("forest", "requested_by")
        .order_by("forest__name", "created", "pk")
    )


def ldif_text(tenant, user) -> str:
    """Every planned change of the tenant as one LDIF for `ldifde -i` (CRLF, ASCII, folded)."""
    changes = list(pending(tenant))
    forests = sorted({c.forest.name for c in changes})
    header = "\n".join(
        [
            f"IdentityHub planned changes of {tenant.name}: {len(changes)} change(s)",
            f"Exported {timezone.now():%Y-%m-%d %H:%M} UTC by {user.get_username()}",
            f"Forests: {', '.join(forests) or '(none)'}; import into a DC of each",
            "Import: ldifde -i -f <this file> -s <dc> -k; then upload a fresh export to verify",
        ]
    )
    return "".join(exports.ldif((exports.modification_of(c) for c in changes), exports.FORWARD, header))


def csv_text(tenant) -> str:
    """The same changes, one row each, DN first as csvde writes it (csvde itself cannot modify
    existing objects: this file is for review, or for a script of the admin's choosing)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for c in pending(tenant):
        writer.writerow(
            [
                c.dn,
                str(c.guid),
                c.attribute,
                ";".join(c.old_values),
                ";".join(c.new_values),
                f"#{c.pk} {c.get_action_display()}",
                c.requested_by.get_username(),
            ]
        )
    return out.getvalue()


def verify(scan: ScanRun) -> dict[str, int]:
    """Close the forest's planned changes against the export this scan read."""
    outcome = {Change.Result.APPLIED: 0, Change.Result.NOT_APPLIED: 0, Change.Result.CONFLICT: 0}
    changes = Change.objects.filter(forest=scan.forest, result=Change.Result.PLANNED, created__lte=scan.created)
    for change in changes.order_by("pk"):
        snapshot = DirectoryObject.objects.filter(scan=scan, guid=change.guid).first()
        result, error, current = _compare(change, snapshot)
        change.result, change.error, change.current_values = result, error, current
        fields = ["result", "error", "current_values"]
        if result == Change.Result.APPLIED:
            change.applied_at = scan.finished or timezone.now()
            fields.append("applied_at")
        change.save(update_fields=fields)
        outcome[result] += 1
    return outcome


def _compare(change: Change, snapshot) -> tuple[str, str, list | None]:
    if snapshot is None:
        return Change.Result.NOT_APPLIED, "The object is not in the export.", None
    # Exact values, as the export shows what AD holds ("SMTP:" and "smtp:" differ: primary or not).
    held = _values(snapshot.attributes, change.attribute)
    old, new, present = set(change.old_values) - set(change.new_values), set(change.new_values), set(held)
    if new <= present and not (old & present):
        return Change.Result.APPLIED, "", None
    if old <= present and not (new - old) & present:
        return Change.Result.NOT_APPLIED, f"The export of scan #{snapshot.scan_id} still holds the old value.", held
    return Change.Result.CONFLICT, f"Changed since: the export of scan #{snapshot.scan_id} holds another value.", held


def _values(attributes: dict, name: str) -> list[str]:
    for key, values in attributes.items():
        if key.lower() == name.lower():
            return [str(v) for v in (values if isinstance(values, list) else [values])]
    return []


@receiver(scan_completed, dispatch_uid="remediation-verify-planned")
def on_scan_completed(sender, scan, **kwargs):
    if scan.source == ScanRun.Source.UPLOAD and applies_to(scan.forest):
        verify(scan)
