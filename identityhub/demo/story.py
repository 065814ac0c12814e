"""The demo tenant's month of rollout, told once: what a newcomer sees in two minutes.

Contoso's forest is known only from ldifde exports (no DC is reachable from IdentityHub), so it
is scanned from exports: four weekly exports in which the admins' fixes take effect (more broken
objects the further back), then the bundled export itself, today. On top of that: a change log
with applied, undone and planned changes (the forest has no reachable DC), exceptions and
accepted findings, and sync-health snapshots
labelled demo that the rollout criteria read. Everything goes through the apps' own functions
(pipeline, actions, health's store_report), so the demo shows what the code does, not a mock-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.core.files import File
from django.db import transaction
from django.db.models import Case, F, When
from django.utils import timezone

from identityhub.health.demo import bring_to_now, seed_demo
from identityhub.lib.entry import Entry
from identityhub.lib.ldif import read_export
from identityhub.remediation import actions
from identityhub.remediation.models import Change, RevertedFix, Waiver
from identityhub.rollout import progress
from identityhub.rollout.models import Checkpoint, CriterionState, RolloutEvent, ScanFigures, SignOff
from identityhub.scans import counts, pipeline
from identityhub.scans.models import Finding, ScanRun
from identityhub.scans.sources import entries_for
from identityhub.tenants.models import Forest, Membership, Role, Tenant

SLUG = "contoso-demo"
FOREST = "contoso.local (demo export)"
EXPORT = Path(__file__).resolve().parent / "data" / "contoso.ldif"
# Days ago of the earlier weekly exports, and how many more users were broken in each: the
# admins fixed them week by week, so the burn-down falls to today's export.
WEEKS = ((28, 150), (21, 100), (14, 55), (7, 20))
_PLAIN_UPN = re.compile(r"^[a-z]+\.[a-z]+@contoso\.com$")


@dataclass
class Told:
    scans: int = 0
    findings_open: int = 0
    changes: int = 0
    exceptions: int = 0
    snapshots: int = 0


def tenant() -> tuple[Tenant, bool]:
    return Tenant.objects.get_or_create(
        slug=SLUG,
        defaults={
            "name": "Contoso (demo)",
            "verified_domains": ["contoso.com", "contoso.onmicrosoft.com", "contoso.mail.onmicrosoft.com"],
            "auth_method": Tenant.AuthMethod.PHS,
        },
    )


def tell(admin) -> Told:
    """Seed the demo tenant's story once; a later call changes nothing."""
    demo, _ = tenant()
    Membership.objects.get_or_create(user=admin, tenant=demo, defaults={"role": Role.ADMIN})
    forest, _ = Forest.objects.get_or_create(
        tenant=demo,
        name=FOREST,
        defaults={
            "servers": "dc01.contoso.local",
            "base_dns": "DC=contoso,DC=local",
            "bind_user": "svc-identityhub@contoso.local",
            "scan_schedule": Forest.Schedule.MANUAL,
            "export_only": True,  # known from exports: fixes become planned changes (LDIF)
        },
    )
    told = Told()
    if ScanRun.objects.filter(forest=forest).exists():
        return told
    entries = list(read_export(EXPORT, source=forest.name))
    victims = _breakable(entries)
    now = timezone.now()
    for days, broken in WEEKS:
        when = now - timedelta(days=days)
        scan = _scan_entries(forest, admin, _broken(entries, victims[:broken]), when)
        told.scans += 1
        if days == WEEKS[-1][0]:
            told.changes += _fixes_since(scan, admin, victims[:broken], when + timedelta(days=3))
    _scan_export(forest, admin)
    told.scans += 1
    told.changes += _an_undone_change(forest, admin, entries, now - timedelta(days=2))
    told.exceptions = _decisions(demo, admin)
    told.changes += _planned_fixes(demo, admin)
    told.snapshots = seed_demo(demo)
    progress.recompute(demo)
    told.findings_open = Finding.objects.filter(tenant=demo).open().count()
    return told


def keep_current() -> bool:
    """Date the demo's story from now again (the beat task and every bootstrap_demo): its sync health
    (health.demo.bring_to_now, which says how far it moved), then every other date the story tells
    by the same shift, and its criteria recomputed; False when there is no demo tenant or nothing
    moved. So the latest scan stays as recent as the newest sync, and the month stays a month.

    Only dates up to the moment the story was last dated to (`now - shift`: the health's newest
    point at its age in the data) move: a row written since, by someone trying the demo, happened in
    real time, and moved by the shift it would be dated in the future."""
    demo = Tenant.objects.filter(slug=SLUG).first()
    if demo is None:
        return False
    now = timezone.now()
    with transaction.atomic():  # the health and the rest of the story move together, or neither
        shift = bring_to_now(demo, now=now)
        if not shift:
            return False
        _move_story(demo, now - shift, shift)
        # Dated `now`, the moment the story is now told up to: what the recompute writes (a state
        # changed, a line of the timeline) is the story's too, and moves with it next time.
        progress.recompute(demo, now=now)
    return True


def _story_dates(demo: Tenant) -> list[tuple]:
    """The demo's rows that the story dates, and their dates: (rows, field names). Left out: jobs
    and deliveries that run on real time (health pulls, apply runs, exports, webhooks, test-group
    round trips; a scan still queued or running), the times each recompute stamps (computed_at),
    and the tenant's and forest's own rows (the tenant's creation time keys the kept counts)."""
    return [
        (
            ScanRun.objects.filter(tenant=demo).exclude(status__in=ScanRun.ACTIVE),
            ("created", "started", "finished", "heartbeat", "refreshed", "reviewed_at"),
        ),
        # The picture's time the figures were counted at: moved with it, or the figures are counted again.
        (ScanFigures.objects.filter(scan__tenant=demo), ("as_of",)),
        (Finding.objects.filter(tenant=demo), ("first_seen", "last_seen", "resolved_at", "verified_at")),
        (Change.objects.filter(tenant=demo), ("created", "approved_at", "applied_at")),
        (Waiver.objects.filter(tenant=demo), ("created", "reopened_at", "revoked_at")),
        (RevertedFix.objects.filter(finding__tenant=demo), ("detected_at",)),
        (RolloutEvent.objects.filter(tenant=demo), ("at",)),
        (SignOff.objects.filter(tenant=demo), ("at", "revoked_at")),
        (CriterionState.objects.filter(tenant=demo), ("changed_at",)),
        (Checkpoint.objects.filter(tenant=demo), ("step7_done_at", "step8_done_at")),
    ]


def _move_story(demo: Tenant, told_until, shift) -> None:
    """Every date of the story up to `told_until` moved forward by `shift` (one UPDATE per table)."""
    _move_expiries(demo, told_until, shift)
    for rows, fields in _story_dates(demo):
        rows.update(
            **{
                name: Case(When(**{f"{name}__lte": told_until}, then=F(name) + shift), default=F(name))
                for name in fields
            }
        )
    # The kept counts and rows show dates too (the burn-down's labels, the findings' "seen").
    counts.changed(demo.pk)


def _move_expiries(demo: Tenant, told_until, shift) -> None:
    """An exception still ends as many days after it was granted as told: its expiry moves by the
    days its granting moves, not by the shift itself (a date plus a beat's five minutes is the same
    date: run after run, the exception would expire in real time), and no further (never endless)."""
    waivers = list(Waiver.objects.filter(tenant=demo, created__lte=told_until).only("created", "expires_on"))
    for waiver in waivers:
        waiver.expires_on += timezone.localdate(waiver.created + shift) - timezone.localdate(waiver.created)
    Waiver.objects.bulk_update(waivers, ["expires_on"])


def _breakable(entries: list[Entry]) -> list[Entry]:
    """Plain users (first.last@contoso.com) the earlier exports show broken, in a stable order."""
    users = [
        e
        for e in entries
        if "user" in [c.lower() for c in e.object_classes]
        and _PLAIN_UPN.match(str(e.first("userPrincipalName", "")))
        and len(e.values("mailNickname")) == 1
    ]
    return sorted(users, key=lambda e: e.dn.lower())


def _broken(entries: list[Entry], victims: list[Entry]) -> list[Entry]:
    """The export as it was: each victim with one more problem, in turn a mailNickname beginning
    with a period (blocking), a blank displayName (blocking), a UPN in the non-routable .local
    domain (degrading)."""
    how = {id(e): i for i, e in enumerate(victims)}
    out = []
    for entry in entries:
        i = how.get(id(entry))
        if i is None:
            out.append(entry)
            continue
        attributes = dict(entry.attributes)
        if i % 3 == 0:
            attributes["mailnickname"] = [f".{entry.first('mailNickname')}"]
        elif i % 3 == 1:
            attributes["displayname"] = [" "]
        else:
            upn = str(entry.first("userPrincipalName"))
            attributes["userprincipalname"] = [upn.replace("@contoso.com", "@contoso.local")]
        out.append(Entry(dn=entry.dn, attributes=attributes, source=entry.source))
    return out


def _scan_entries(forest, admin, entries: list[Entry], when) -> ScanRun:
    scan = ScanRun.objects.create(tenant=forest.tenant, forest=forest, source=ScanRun.Source.UPLOAD, triggered_by=admin)
    started = timezone.now()
    scan = pipeline.execute(scan.pk, lambda s, prepare: map(prepare, entries))
    _backdate(scan, started, when)
    return scan


def _scan_export(forest, admin) -> ScanRun:
    with EXPORT.open("rb") as handle:
        scan = ScanRun.objects.create(
            tenant=forest.tenant, forest=forest, source=ScanRun.Source.UPLOAD, triggered_by=admin
        )
        scan.upload.save(EXPORT.name, File(handle))
    return pipeline.execute(scan.pk, entries_for)


def _backdate(scan: ScanRun, started, when) -> None:
    """A scan run now, dated as the weekly export it stands for (its findings, its timeline entry)."""
    took = (scan.finished or started) - (scan.started or started)
    ScanRun.objects.filter(pk=scan.pk).update(
        created=when, started=when, finished=when + took, heartbeat=when + took, refreshed=when + took
    )
    Finding.objects.filter(first_scan=scan).update(first_seen=when)
    Finding.objects.filter(last_scan=scan).update(last_seen=when)
    Finding.objects.filter(forest=scan.forest, resolved_at__gte=started).update(resolved_at=when)
    RolloutEvent.objects.filter(tenant=scan.tenant, url=scan.get_absolute_url()).update(at=when)


def _fixes_since(scan: ScanRun, admin, victims: list[Entry], when) -> int:
    """The last week's fixes in the change log: one applied edit per value the admins corrected."""
    fixed = 0
    for entry in victims:
        # The picture's findings: one seen again unchanged keeps an older last_scan (not rewritten).
        for finding in Finding.objects.filter(forest=scan.forest, dn=entry.dn).unresolved().order_by("pk"):
            new = str(entry.first(finding.attribute))
            change = Change.objects.create(
                tenant=scan.tenant, forest=scan.forest, finding=finding, guid=finding.guid, dn=finding.dn,
                attribute=finding.attribute, old_values=[finding.value], new_values=[new],
                action=Change.Action.EDIT, requested_by=admin, result=Change.Result.APPLIED, applied_at=when,
            )  # fmt: skip
            Change.objects.filter(pk=change.pk).update(created=when)
            fixed += 1
    # The timeline notes each applied fix as it is saved: date those notes as the fixes.
    RolloutEvent.objects.filter(tenant=scan.tenant, kind=RolloutEvent.Kind.FIX).update(at=when)
    return fixed


def _an_undone_change(forest, admin, entries: list[Entry], when) -> int:
    """An edit an admin made and undid the next hour (the value is the export's again)."""
    entry = next(e for e in entries if e.first("displayName") and "user" in [c.lower() for c in e.object_classes])
    value = str(entry.first("displayName"))
    guid = pipeline.object_guid(entry)
    edit = Change.objects.create(
        tenant=forest.tenant, forest=forest, guid=guid, dn=entry.dn, attribute="displayName",
        old_values=[value], new_values=[value.upper()], action=Change.Action.EDIT, requested_by=admin,
        result=Change.Result.REVERTED, applied_at=when,
    )  # fmt: skip
    undo = Change.objects.create(
        tenant=forest.tenant, forest=forest, guid=guid, dn=entry.dn, attribute="displayName",
        old_values=[value.upper()], new_values=[value], action=Change.Action.UNDO, requested_by=admin,
        result=Change.Result.APPLIED, applied_at=when + timedelta(hours=1), reverts=edit,
    )  # fmt: skip
    Change.objects.filter(pk=edit.pk).update(created=when)
    Change.objects.filter(pk=undo.pk).update(created=when + timedelta(hours=1))
    RolloutEvent.objects.filter(tenant=forest.tenant, kind=RolloutEvent.Kind.FIX, at__gt=when).update(
        at=when + timedelta(hours=1)
    )
    return 2


def _planned_fixes(demo: Tenant, admin, count: int = 3) -> int:
    """Fixes an admin chose this week: the forest has no reachable DC, so they wait in the LDIF."""
    planned = 0
    fixable = Finding.objects.filter(tenant=demo, rule__in=("proxy.smtp.domainpart", "mailnickname.period"))
    for finding in fixable.open().exclude(suggestion=None).order_by("dn"):
        try:
            actions.request_change(finding, Change.Action.EDIT, admin, finding.suggestion)
        except actions.ActionRefused:
            continue  # the suggestion would clash now: the demo shows only clean plans
        planned += 1
        if planned == count:
            break
    return planned


def _decisions(demo: Tenant, admin) -> int:
    """Exceptions for the break-glass style service accounts, accepted hygiene findings."""
    made = 0
    open_findings = Finding.objects.filter(tenant=demo).open()
    for finding in open_findings.filter(rule="samaccountname.character").order_by("dn")[:2]:
        actions.waive(finding, admin, "Service account renamed with the ERP migration (change CHG-2291).",
                      timezone.localdate() + timedelta(days=60))  # fmt: skip
        made += 1
    for finding in open_findings.filter(severity="hygiene").order_by("dn")[:3]:
        actions.accept(finding, admin)
        made += 1
    return made
