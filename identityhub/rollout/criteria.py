"""The exit criteria of step 7 (synchronize identities) and step 8 (monitor sync health), as code.

Each criterion has a stable code, its step, a title, how it is proved (read from evidence, or a
lead's sign-off with a comment), whether it is required, and a plain function that turns the
tenant's Evidence into a Result: met / not met / unknown, a one-line explanation and a link to
the evidence. A step is done when all its required criteria are met. Sources: the Microsoft 365
deployment guide's steps 7 and 8 and their identity exit criteria (docs/architecture.md, Sources:
https://learn.microsoft.com/en-us/microsoft-365/enterprise/identity-exit-criteria, 2018-2019).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from django.urls import reverse
from django.utils import timezone

from identityhub.health.models import (
    GraphConnection,
    HealthPull,
    ProvisioningError,
    SyncEngine,
    SyncSnapshot,
    engine_of,
)
from identityhub.lib.cloudsync import PROVISIONING_JOB
from identityhub.scans import counts as finding_counts
from identityhub.scans.models import Finding, ScanRun, Severity

from .figures import of_scans
from .models import Checkpoint, SignOff, State, TestGroupRoundTrip

EVIDENCE = "evidence"
SIGN_OFF = "sign-off"
LICENSE = "license"  # the optional "Ready to license" checkpoint after step 7
USAGE_LOCATION_RULES = ("usagelocation.missing", "usagelocation.invalid")

# On-prem object classes per Graph kind, for comparing counts.
KIND_OF_CLASS = {"user": "users", "inetOrgPerson": "users", "group": "groups", "contact": "contacts"}

AUTH_TRADE_OFFS = [
    (
        "phs",
        "Password hash sync",
        "Recommended. A hash of the password hash syncs to Entra ID; sign-in keeps working when on-premises "
        "is down; needed for leaked-credential detection. Passwords are verified in the cloud.",
    ),
    (
        "pta",
        "Pass-through authentication",
        "Passwords stay on-premises: agents on your servers verify each sign-in. No cloud sign-in when "
        "every agent or DC is down; run at least three agents.",
    ),
    (
        "federated",
        "Federation (AD FS or third party)",
        "Sign-in is redirected to your federation servers: smart cards, third-party MFA, on-prem policies. "
        "The most infrastructure to run and keep available; Connect Health for AD FS monitors it.",
    ),
]


@dataclass(frozen=True)
class Result:
    state: str
    explanation: str
    evidence_url: str = ""


def met(text: str, url: str = "") -> Result:
    return Result(State.MET, text, url)


def not_met(text: str, url: str = "") -> Result:
    return Result(State.NOT_MET, text, url)


def unknown(text: str, url: str = "") -> Result:
    return Result(State.UNKNOWN, text, url)


def age_text(age: timedelta) -> str:
    minutes = max(int(age.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes // 1440} days"


class Evidence:
    """What the criteria read about one tenant, each piece loaded once, when first asked for."""

    def __init__(self, tenant, checkpoint: Checkpoint, now=None):
        self.tenant = tenant
        self.checkpoint = checkpoint
        self.now = now or timezone.now()

    def url(self, name: str, *args, query: str = "") -> str:
        return reverse(name, args=[self.tenant.slug, *args]) + (f"?{query}" if query else "")

    @cached_property
    def forests(self) -> list:
        return list(self.tenant.forests.all())

    @cached_property
    def current_scans(self) -> dict:
        scans = ScanRun.objects.filter(tenant=self.tenant, is_current=True).select_related("forest")
        return {scan.forest_id: scan for scan in scans}

    @cached_property
    def open_blocking(self) -> int:
        return finding_counts.open_by_severity(self.tenant).get(Severity.BLOCKING, 0)

    def _waived(self, name: str, **filters) -> list:
        """The first 50 excepted or accepted findings (by DN) matching `filters`. Sorting every waived
        finding by DN grows with the accepted ones: kept until the tenant's findings change."""
        waived = (Finding.Status.EXCEPTED, Finding.Status.ACCEPTED)
        rows = (
            Finding.objects.filter(tenant=self.tenant, status__in=waived, **filters)
            .select_related("tenant")  # each links to its object page
            .order_by("dn", "rule")
        )
        return finding_counts.cached(self.tenant, f"rollout:waived:{name}", lambda: list(rows[:50]))

    @cached_property
    def excepted_blocking(self) -> list:
        return self._waived("blocking", severity=Severity.BLOCKING)

    @cached_property
    def onprem_counts(self) -> dict[str, int]:
        # From the figures stored per scan (figures.py): not a GROUP BY over every object per change.
        counts: Counter = Counter()
        for scan_figures in of_scans(list(self.current_scans.values())):
            for object_class, n in scan_figures.objects_by_class.items():
                kind = KIND_OF_CLASS.get(object_class)
                if kind:
                    counts[kind] += n
        return dict(counts)

    @cached_property
    def connection(self):
        return GraphConnection.objects.filter(tenant=self.tenant).first()

    @cached_property
    def snapshot(self):
        """The latest pulled snapshot; without any, the latest demo one (the demo tenant's story),
        which pages label as demo (snapshot.is_demo), as the health page does."""
        # One query: pulled (is_demo false) before demo ones, the latest of those first.
        return SyncSnapshot.objects.filter(tenant=self.tenant).order_by("is_demo", "-taken").first()

    @cached_property
    def latest_pull(self):
        return HealthPull.objects.filter(tenant=self.tenant).exclude(status__in=HealthPull.ACTIVE).first()

    @cached_property
    def last_good_pull(self):
        return HealthPull.objects.filter(tenant=self.tenant, status=HealthPull.Status.COMPLETED).first()

    @cached_property
    def sign_offs(self) -> dict[str, SignOff]:
        """The standing (not revoked) sign-off of each code, the latest if several."""
        out: dict[str, SignOff] = {}
        for sign_off in SignOff.objects.filter(tenant=self.tenant, revoked_at__isnull=True).select_related("user"):
            out.setdefault(sign_off.code, sign_off)
        return out

    @cached_property
    def engine(self) -> str:
        return engine_of(self.connection, self.snapshot)

    @cached_property
    def excepted_usage_location(self) -> list:
        return self._waived("usage-location", rule__in=USAGE_LOCATION_RULES)

    @cached_property
    def round_trip(self):
        """The latest trip that proved something: seen in Entra ID; else the latest trip of any kind."""
        trips = TestGroupRoundTrip.objects.filter(tenant=self.tenant)
        return trips.filter(seen_at__isnull=False).first() or trips.first()


# -- step 7 --------------------------------------------------------------------------------------


def auth_method_chosen(ev: Evidence) -> Result:
    url = ev.url("rollout") + "#auth-methods"
    sign_off = ev.sign_offs.get("auth-method")
    method = ev.tenant.get_auth_method_display()
    if sign_off is None:
        return not_met(f"The tenant is set to {method}; a lead confirms the choice after weighing the trade-offs.", url)
    return met(f"{method}, confirmed by {sign_off.user.get_username()}: {sign_off.comment}", url)


def forests_scanned(ev: Evidence) -> Result:
    if not ev.forests:
        return not_met("No forest yet: add every forest that will sync.", ev.tenant.get_absolute_url())
    limit = timedelta(hours=ev.checkpoint.scan_max_age_hours)
    never = [f.name for f in ev.forests if f.pk not in ev.current_scans]
    if never:
        return not_met(f"Never scanned: {', '.join(never)}.", ev.tenant.get_absolute_url())
    stale = [s for s in ev.current_scans.values() if _scanned(s) is None or ev.now - _scanned(s) > limit]
    if stale:
        oldest = min(stale, key=lambda s: _scanned(s) or ev.now)
        names = ", ".join(s.forest.name for s in stale)
        return not_met(f"Scanned more than {age_text(limit)} ago: {names}.", oldest.get_absolute_url())
    oldest = min(ev.current_scans.values(), key=_scanned)
    return met(
        f"All {len(ev.forests)} forest(s) scanned; the oldest {age_text(ev.now - _scanned(oldest))} ago.",
        ev.url("scan-list"),
    )


def _scanned(scan):
    """When the forest's picture was last confirmed: a delta scan refreshes it as a full one does."""
    return scan.refreshed or scan.finished


def no_blocking_findings(ev: Evidence) -> Result:
    url = ev.url("finding-list", query="severity=blocking&status=open")
    if not ev.current_scans:
        return unknown("No scan yet.", ev.url("scan-list"))
    excepted = len(ev.excepted_blocking)
    waived = f" {excepted} blocking finding(s) excepted or accepted (listed below)." if excepted else ""
    if ev.open_blocking:
        return not_met(
            f"{ev.open_blocking} open blocking finding(s): these objects or values will not sync.{waived}", url
        )
    return met(f"No open blocking finding.{waived}", url)


def graph_connected(ev: Evidence) -> Result:
    url = ev.url("health")
    if ev.connection is None:
        return not_met("No Graph connection: an admin adds the app registration on the health page.", url)
    if ev.last_good_pull is None:
        if ev.latest_pull is not None:
            return not_met(f"No pull has succeeded yet: {ev.latest_pull.error}", url)
        return unknown("Connected; no pull has run yet.", url)
    return met(f"Connected; last successful pull {age_text(ev.now - ev.last_good_pull.finished)} ago.", url)


def sync_enabled(ev: Evidence) -> Result:
    url = ev.url("health")
    if ev.snapshot is None:
        return unknown("No health pull yet.", url)
    if ev.snapshot.sync_enabled:
        return met("Graph reports onPremisesSyncEnabled = true.", url)
    return not_met("Directory sync is not enabled in the tenant (onPremisesSyncEnabled).", url)


def first_sync_completed(ev: Evidence) -> Result:
    url = ev.url("health")
    if ev.snapshot is None:
        return unknown("No health pull yet.", url)
    if ev.snapshot.last_sync is None:
        return not_met("Entra ID reports no sync yet (onPremisesLastSyncDateTime is empty).", url)
    return met(f"First sync done; last sync at {timezone.localtime(ev.snapshot.last_sync):%d %b %Y %H:%M}.", url)


def counts_match(ev: Evidence) -> Result:
    url = ev.url("health")
    if ev.snapshot is None or not ev.current_scans:
        return unknown("Needs a scan of every forest and a health pull.", url)
    tolerance = ev.checkpoint.count_tolerance_percent
    parts, off = [], []
    for kind in ("users", "groups", "contacts"):
        onprem = ev.onprem_counts.get(kind, 0)
        synced = (ev.snapshot.counts.get(kind) or {}).get("synced", 0)
        parts.append(f"{kind} {synced}/{onprem}")
        if abs(synced - onprem) > onprem * tolerance / 100:
            off.append(kind)
    text = "Synced/in scope: " + ", ".join(parts)
    if off:
        return not_met(f"{text}; {', '.join(off)} off by more than {tolerance}%.", url)
    return met(f"{text}; within {tolerance}%.", url)


def test_group_round_trip(ev: Evidence) -> Result:
    url = ev.url("rollout") + "#round-trip"
    trip = ev.round_trip
    if trip is None:
        return not_met("Not run yet: an admin starts it (a test group created in AD must appear in Entra ID).", url)
    if trip.seen_at:
        took = age_text(trip.seen_at - (trip.created_at or trip.requested_at))
        text = f"Test group {trip.name} appeared in Entra ID {took} after it was created in {trip.forest.name}"
        if trip.status == TestGroupRoundTrip.Status.CLEANUP_FAILED:
            return met(f"{text}; removing it failed, delete {trip.dn} by hand.", url)
        if trip.status == TestGroupRoundTrip.Status.REMOVAL_UNKNOWN:
            return met(f"{text}; the answer to removing it was lost, AD is being read to confirm.", url)
        return met(f"{text}, then was removed.", url)
    if trip.is_active:
        return unknown(f"Test group {trip.name}: {trip.get_status_display().lower()}.", url)
    if trip.status == TestGroupRoundTrip.Status.REMOVAL_UNKNOWN:  # only an expired trip is removed unseen
        return not_met(f"The last test group was not seen in time: {trip.error}", url)
    return not_met(f"The last test group {trip.get_status_display().lower()}: {trip.error}", url)


def cloud_sync_healthy(ev: Evidence) -> Result:
    """Cloud Sync's jobs, read where the tenant syncs with Cloud Sync (Connect Sync is read by the
    criteria above and below, as before)."""
    url = ev.url("health") + "#cloud-sync"
    if ev.engine == SyncEngine.CONNECT:
        return met("Not used: the tenant syncs with Entra Connect Sync.", url)
    if ev.snapshot is None:
        return unknown("No health pull yet.", url)
    unread = [p for p in ev.snapshot.cloud_sync.get("problems", []) if p["part"] != "Provisioning logs"]
    if unread:
        problem = unread[0]
        how = f"grant {problem['permission']}" if problem["permission"] else problem["message"]
        return not_met(f"{problem['part']} cannot be read: {how}.", url)
    jobs = [j for j in ev.snapshot.cloud_sync_jobs if j["template"] == PROVISIONING_JOB]
    if not jobs:
        return not_met("No Cloud Sync provisioning job found (AD2AADProvisioning).", url)
    for job in jobs:
        if job["status"] == "Quarantine":
            q = job["quarantine"] or {}
            return not_met(
                f"{job['configuration']}: in quarantine since {(q.get('since') or '?')[:16]}: {q.get('reason')}.", url
            )
    inactive = [f"{j['configuration']} ({j['status']})" for j in jobs if j["status"] != "Active"]
    if inactive:
        return not_met(f"Not active: {', '.join(inactive)}.", url)
    limit = timedelta(hours=ev.checkpoint.escrow_max_age_hours)
    old = ProvisioningError.objects.filter(
        snapshot=ev.snapshot, source=ProvisioningError.Source.CLOUD_SYNC, occurred__lt=ev.now - limit
    ).count()
    if old:
        return not_met(f"{old} object(s) failing in the provisioning logs for over {age_text(limit)}.", url)
    escrows = sum(j["escrows"] for j in jobs)
    logs = "" if "Provisioning logs" not in {p["part"] for p in ev.snapshot.problems} else " (logs not readable)"
    return met(
        f"{len(jobs)} provisioning job(s) active; {escrows} escrowed, none older than {age_text(limit)}{logs}.", url
    )


# -- after step 7: ready to license ---------------------------------------------------------------


def usage_locations_set(ev: Evidence) -> Result:
    url = ev.url("finding-list", query="rule=usagelocation.missing&status=open")
    if not ev.current_scans:
        return unknown("No scan yet.", ev.url("scan-list"))
    open_ = sum(
        n for _forest, rule, _severity, n in finding_counts.open_counts(ev.tenant) if rule in USAGE_LOCATION_RULES
    )
    cloud = (
        ((ev.snapshot.licensing or {}).get("users_without_usage_location") or {}).get("synced", 0) if ev.snapshot else 0
    )
    excepted = len(ev.excepted_usage_location)
    waived = f" {excepted} excepted or accepted (listed below)." if excepted else ""
    if open_ or cloud:
        return not_met(
            f"{open_} in-scope user(s) without a valid country (c) on-prem; {cloud} synced user(s) without a "
            f"usage location in Entra ID.{waived}",
            url,
        )
    return met(f"Every in-scope user has a usage location.{waived}", url)


def no_licence_errors(ev: Evidence) -> Result:
    url = ev.url("health") + "#licensing"
    if ev.snapshot is None or not ev.snapshot.licensing:
        return unknown("No health pull with licensing data yet.", url)
    licensing = ev.snapshot.licensing
    if any(p["part"] == "Subscribed SKUs" for p in licensing.get("problems", [])):
        return unknown("Subscribed SKUs cannot be read: grant LicenseAssignment.Read.All.", url)
    codes = licensing.get("errors_by_code") or {}
    if codes:
        parts = ", ".join(f"{n} {code}" for code, n in codes.items())
        return not_met(f"{licensing.get('users_in_error', 0)} user(s) with licence assignment errors: {parts}.", url)
    return met("No licence assignment error.", url)


# -- step 8 --------------------------------------------------------------------------------------


def last_sync_fresh(ev: Evidence) -> Result:
    url = ev.url("health")
    limit = timedelta(minutes=ev.checkpoint.sync_cycle_minutes)
    if ev.snapshot is None or ev.snapshot.last_sync is None:
        return unknown("No sync seen yet.", url)
    age = ev.now - ev.snapshot.last_sync
    if age < limit:
        return met(f"Last sync {age_text(age)} ago (threshold {age_text(limit)}).", url)
    return not_met(f"Last sync {age_text(age)} ago, over the {age_text(limit)} threshold.", url)


def no_old_provisioning_errors(ev: Evidence) -> Result:
    """An error without an occurredDateTime cannot be aged, so it does not count as old (Graph
    nearly always dates them)."""
    url = ev.url("health")
    if ev.snapshot is None:
        return unknown("No health pull yet.", url)
    limit = timedelta(hours=ev.checkpoint.error_max_age_hours)
    old = ProvisioningError.objects.filter(snapshot=ev.snapshot, occurred__lt=ev.now - limit).count()
    if old:
        return not_met(f"{old} provisioning error(s) older than {age_text(limit)}.", url)
    return met(f"No provisioning error older than {age_text(limit)} ({ev.snapshot.error_count} in all).", url)


def password_sync_fresh(ev: Evidence) -> Result:
    url = ev.url("health")
    if ev.tenant.auth_method != "phs":
        return met(f"Not needed: the tenant uses {ev.tenant.get_auth_method_display()}.", url)
    if ev.snapshot is None:
        return unknown("No health pull yet.", url)
    limit = timedelta(minutes=ev.checkpoint.password_sync_max_age_minutes)
    if ev.snapshot.last_password_sync is None:
        return not_met("Password hash sync has never run (onPremisesLastPasswordSyncDateTime is empty).", url)
    age = ev.now - ev.snapshot.last_password_sync
    if age < limit:
        return met(f"Password hashes synced {age_text(age)} ago.", url)
    return not_met(f"Password hashes last synced {age_text(age)} ago, over {age_text(limit)}.", url)


def pulls_succeeding(ev: Evidence) -> Result:
    url = ev.url("health")
    if ev.latest_pull is None:
        return unknown("No health pull has run yet.", url)
    if ev.latest_pull.status == HealthPull.Status.FAILED:
        return not_met(f"The last pull failed: {ev.latest_pull.error}", url)
    limit = timedelta(minutes=ev.checkpoint.pull_max_age_minutes)
    age = ev.now - ev.last_good_pull.finished
    if age > limit:
        return not_met(f"The last successful pull was {age_text(age)} ago: is the worker running?", url)
    return met(f"The last pull succeeded {age_text(age)} ago.", url)


def monitoring_signed_off(ev: Evidence) -> Result:
    url = ev.url("rollout") + "#crit-monitoring"
    sign_off = ev.sign_offs.get("monitoring")
    if sign_off is None:
        if ev.engine == SyncEngine.CLOUD:
            return not_met(
                "A lead confirms the Cloud Sync provisioning agents are monitored (agent status and "
                "provisioning logs in the Entra admin center).",
                url,
            )
        return not_met(
            "A lead confirms that a Connect Health agent runs on each identity server and the portal shows them.", url
        )
    return met(f"Confirmed by {sign_off.user.get_username()}: {sign_off.comment}", url)


@dataclass(frozen=True)
class Criterion:
    code: str
    step: int
    title: str
    proof: str  # EVIDENCE or SIGN_OFF
    how: str
    compute: Callable[[Evidence], Result]
    required: bool = True
    checkpoint: str = ""  # an optional checkpoint after the step (OPTIONAL_CHECKPOINTS), not the step itself

    @property
    def needs_sign_off(self) -> bool:
        return self.proof == SIGN_OFF


CRITERIA = [
    Criterion("auth-method", 7, "Authentication method chosen", SIGN_OFF,
              "A lead confirms PHS, PTA or federation, with a comment.", auth_method_chosen),
    Criterion("forests-scanned", 7, "Every forest scanned recently", EVIDENCE,
              "Each forest's current scan finished within the configured age.", forests_scanned),
    Criterion("no-blocking", 7, "No open blocking finding", EVIDENCE,
              "No open finding of severity blocking; excepted ones are listed.", no_blocking_findings),
    Criterion("graph-connected", 7, "Connected to Microsoft Graph", EVIDENCE,
              "A Graph connection with at least one successful pull.", graph_connected),
    Criterion("sync-enabled", 7, "Directory sync enabled in the tenant", EVIDENCE,
              "The latest pull shows onPremisesSyncEnabled.", sync_enabled),
    Criterion("first-sync", 7, "First sync completed", EVIDENCE,
              "The latest pull shows an onPremisesLastSyncDateTime.", first_sync_completed),
    Criterion("counts-match", 7, "Synced counts match the on-premises scope", EVIDENCE,
              "Synced users, groups and contacts within the tolerance of the scanned in-scope objects.", counts_match),
    Criterion("test-group", 7, "Test group round trip", EVIDENCE,
              "A test group created in AD over LDAP appears in Entra ID at a later pull, then is removed.",
              test_group_round_trip),
    Criterion("cloud-sync", 7, "Cloud Sync jobs healthy", EVIDENCE,
              "With Cloud Sync: the provisioning job is active, not in quarantine, and no object fails longer "
              "than the escrow threshold.", cloud_sync_healthy),
    Criterion("usage-location", 7, "No in-scope user without a usage location", EVIDENCE,
              "No open finding on users' country (c), and Graph shows no synced user without usageLocation.",
              usage_locations_set, required=False, checkpoint=LICENSE),
    Criterion("licence-errors", 7, "No licence assignment error", EVIDENCE,
              "Graph shows no user whose licence assignment is in error (group-based licensing).",
              no_licence_errors, required=False, checkpoint=LICENSE),
    Criterion("sync-fresh", 8, "Last sync within the cycle", EVIDENCE,
              "The last sync is younger than the cycle threshold.", last_sync_fresh),
    Criterion("no-old-errors", 8, "No lingering provisioning error", EVIDENCE,
              "No provisioning error older than the configured age.", no_old_provisioning_errors),
    Criterion("password-sync", 8, "Password sync fresh (PHS)", EVIDENCE,
              "With PHS, the last password sync is recent.", password_sync_fresh),
    Criterion("pulls-ok", 8, "Health pulls succeeding", EVIDENCE,
              "The last pull succeeded, recently.", pulls_succeeding),
    Criterion("monitoring", 8, "Sync health monitored (Connect Health)", SIGN_OFF,
              "A lead confirms Connect Health agents on each identity server.", monitoring_signed_off),
]  # fmt: skip
BY_CODE = {c.code: c for c in CRITERIA}
STEPS = {7: "Synchronize identities", 8: "Monitor synchronization health"}
# Optional checkpoints: key -> (the step they follow, title); shown when the tenant tracks them.
OPTIONAL_CHECKPOINTS = {LICENSE: (7, "Ready to license")}
SIGN_OFF_CODES = {c.code for c in CRITERIA if c.needs_sign_off}


def evaluate(ev: Evidence) -> dict[str, Result]:
    return {criterion.code: criterion.compute(ev) for criterion in CRITERIA}


def step_done(results: dict[str, Result], step: int) -> bool:
    """All required criteria of the step hold; the steps are sequential, so step 8 also needs step 7."""
    if step > 7 and not step_done(results, step - 1):
        return False
    return all(
        results[c.code].state == State.MET for c in CRITERIA if c.step == step and c.required and not c.checkpoint
    )


def checkpoint_done(results: dict[str, Result], key: str) -> bool:
    return all(results[c.code].state == State.MET for c in CRITERIA if c.checkpoint == key)


def progress(results: dict[str, Result]) -> tuple[int, int]:
    """(current step, percentage of required criteria met): 9 once both steps are done."""
    required = [c for c in CRITERIA if c.required]
    percent = round(100 * sum(results[c.code].state == State.MET for c in required) / len(required))
    for step in (7, 8):
        if not step_done(results, step):
            return step, percent
    return 9, percent
