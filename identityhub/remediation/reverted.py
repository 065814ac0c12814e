"""Reverted fixes: a later scan sees a value we changed back again."""

from django.dispatch import receiver

from identityhub.scans.models import Finding
from identityhub.scans.pipeline import CLOUD_RULE_PREFIX
from identityhub.scans.signals import scan_completed

from .models import Change, RevertedFix


@receiver(scan_completed, dispatch_uid="remediation-reverted-fixes")
def on_scan_completed(sender, scan, **kwargs):
    flag_reverted_fixes(scan)


def flag_reverted_fixes(scan) -> int:
    """Flag every open finding of this scan whose value one of our applied changes had removed."""
    changes = Change.objects.filter(
        forest=scan.forest_id,
        result=Change.Result.APPLIED,
        action__in=(Change.Action.EDIT, Change.Action.REMOVE, Change.Action.UNDO),
        applied_at__lt=scan.started,
    )
    by_object: dict = {}
    for change in changes.only("pk", "guid", "attribute", "old_values", "new_values"):
        gone = set(change.old_values) - set(change.new_values)
        for value in gone:
            by_object.setdefault((change.guid, change.attribute.lower(), value.lower()), change)
    if not by_object:
        return 0
    # The forest's unresolved findings are those its picture holds now, this scan's included: a
    # finding seen again unchanged is not rewritten (its last_scan is older), and the objects we
    # changed were read again by this scan, full or delta (their uSNChanged moved).
    findings = (
        Finding.objects.filter(forest=scan.forest_id, guid__in={guid for guid, _, _ in by_object})
        .unresolved()
        .exclude(rule__startswith=CLOUD_RULE_PREFIX)
    )
    flagged = 0
    for finding in findings:
        change = by_object.get((finding.guid, finding.attribute.lower(), finding.value.lower()))
        if change is not None:
            _, created = RevertedFix.objects.get_or_create(finding=finding, change=change, defaults={"scan": scan})
            flagged += created
    return flagged
