"""The rollout pages and who may do what on them; sign-offs, applied fixes and scans recompute the
criteria; the readiness score and the burn-down."""

from datetime import timedelta

import pytest
from django.utils import timezone

from identityhub.remediation.models import Change
from identityhub.rollout import score
from identityhub.rollout.models import CriterionState, RolloutEvent, SignOff, TestGroupRoundTrip
from identityhub.scans.models import ScanRun

from .health_support import ad_user, scan

pytestmark = pytest.mark.django_db


def state(tenant, code):
    return CriterionState.objects.get(tenant=tenant, code=code)


def test_a_lead_signs_off_and_revokes_with_the_timeline_recording_both(client, personas, tenant):
    client.force_login(personas["lead"])
    response = client.post("/t/acme/rollout/sign-off/monitoring/", {"comment": "Connect Health agent on AADC01"})
    assert response.status_code == 302
    sign_off = SignOff.objects.get(tenant=tenant, code="monitoring")
    assert sign_off.user == personas["lead"] and sign_off.comment == "Connect Health agent on AADC01"
    assert state(tenant, "monitoring").state == "met"
    page = client.get("/t/acme/rollout/").content.decode()
    assert "Signed off by <strong>lead</strong>" in page and "Connect Health agent on AADC01" in page

    client.post("/t/acme/rollout/sign-off/monitoring/revoke/")
    sign_off.refresh_from_db()
    assert sign_off.revoked_by == personas["lead"] and sign_off.revoked_at
    assert state(tenant, "monitoring").state == "not_met"
    texts = list(RolloutEvent.objects.filter(tenant=tenant, kind="signoff").values_list("text", flat=True))
    assert any("signed off by lead" in t for t in texts) and any("revoked by lead" in t for t in texts)


def test_a_sign_off_needs_a_comment_and_a_sign_off_criterion(client, personas, tenant):
    client.force_login(personas["lead"])
    client.post("/t/acme/rollout/sign-off/auth-method/", {"comment": "  "})
    assert not SignOff.objects.exists()
    assert client.post("/t/acme/rollout/sign-off/no-blocking/", {"comment": "x"}).status_code == 404  # evidence only
    assert client.post("/t/acme/rollout/sign-off/nonsense/", {"comment": "x"}).status_code == 404


@pytest.mark.parametrize(("who", "status"), [("auditor", 403), ("admin", 403), ("outsider", 404), ("superuser", 302)])
def test_only_leads_sign_off(client, personas, tenant, who, status):
    client.force_login(personas[who])
    assert client.post("/t/acme/rollout/sign-off/auth-method/", {"comment": "PHS"}).status_code == status
    assert SignOff.objects.exists() == (status == 302)


def test_every_role_reads_the_page_and_sees_only_its_own_controls(client, personas, tenant, forest):
    for who, sign_off, trip, hooks in (
        ("lead", True, False, True),
        ("admin", False, True, True),
        ("auditor", False, False, False),
    ):
        client.force_login(personas[who])
        page = client.get("/t/acme/rollout/").content.decode()
        assert "Step 7: Synchronize identities" in page and "Step 8: Monitor synchronization health" in page
        assert "Pass-through authentication" in page and "Federation" in page  # the trade-offs
        assert ('action="/t/acme/rollout/sign-off/' in page) == sign_off, who
        assert ('id="start-round-trip"' in page) == trip, who
        assert ('id="webhooks"' in page) == hooks, who
    client.force_login(personas["outsider"])
    assert client.get("/t/acme/rollout/").status_code == 404


def test_an_admin_starts_one_round_trip_at_a_time(client, personas, tenant, forest):
    client.force_login(personas["lead"])
    assert client.post("/t/acme/rollout/test-group/", {"forest": forest.pk}).status_code == 403
    client.force_login(personas["admin"])
    client.post("/t/acme/rollout/test-group/", {"forest": forest.pk})
    trip = TestGroupRoundTrip.objects.get()
    assert trip.status == "requested" and trip.requested_by == personas["admin"]
    assert trip.container == "DC=corp,DC=acme,DC=example" and trip.name.startswith("IdentityHub sync test ")
    response = client.post("/t/acme/rollout/test-group/", {"forest": forest.pk}, follow=True)
    assert "already under way" in response.content.decode() and TestGroupRoundTrip.objects.count() == 1


@pytest.mark.parametrize(
    ("status", "seen", "removed", "badge", "criterion", "explained"),
    [
        ("removal_unknown", True, False, "amber", "met", "the answer to removing it was lost, AD is being read"),
        ("removal_unknown", False, False, "amber", "not_met", "was not seen in time"),
        ("removed", True, True, "green", "met", "then was removed"),
        ("cleanup_failed", True, False, "red", "met", "removing it failed, delete CN=T,DC=corp,DC=acme,DC=example"),
        ("expired", False, True, "red", "not_met", "not seen in time"),
    ],
)
def test_the_page_says_how_the_test_groups_removal_ended(
    client, personas, tenant, forest, status, seen, removed, badge, criterion, explained
):
    """Whatever became of the removal, the trip's row and the criterion say it, and no more."""
    from identityhub.rollout import progress

    now = timezone.now()
    trip = TestGroupRoundTrip.objects.create(
        tenant=tenant, forest=forest, requested_by=personas["admin"], name="IdentityHub sync test t",
        sam_account_name="idhub-test-t", container="DC=corp,DC=acme,DC=example", dn="CN=T,DC=corp,DC=acme,DC=example",
        status=status, created_at=now, seen_at=now if seen else None, removed_at=now if removed else None,
        error="" if seen else "Not seen in Entra ID within 2:00:00; is its OU in the sync scope?",
    )  # fmt: skip
    progress.recompute(tenant)
    explanation = state(tenant, "test-group")
    assert explanation.state == criterion and explained in explanation.explanation, explanation.explanation
    client.force_login(personas["auditor"])
    page = client.get("/t/acme/rollout/").content.decode()
    row = page.split('id="round-trip"')[1].split("</section>")[0]
    assert f'<span class="badge {badge}">{trip.get_status_display()}</span>' in row
    if status == "removal_unknown":
        assert "Removal answer lost, reading AD to confirm" in row


def test_thresholds_are_edited_by_admins(client, personas, tenant):
    client.force_login(personas["admin"])
    data = {
        "scan_max_age_hours": 24, "count_tolerance_percent": 5, "sync_cycle_minutes": 45,
        "password_sync_max_age_minutes": 120, "error_max_age_hours": 12, "pull_max_age_minutes": 60,
        "round_trip_timeout_minutes": 90, "test_group_container": "not a DN",
    }  # fmt: skip
    assert "Not a valid DN" in client.post("/t/acme/rollout/settings/", data).content.decode()
    data["test_group_container"] = "OU=Sync Test,DC=corp,DC=acme,DC=example"
    assert client.post("/t/acme/rollout/settings/", data).status_code == 302
    tenant.checkpoint.refresh_from_db()
    assert tenant.checkpoint.count_tolerance_percent == 5
    client.force_login(personas["lead"])
    assert client.get("/t/acme/rollout/settings/").status_code == 403


def test_the_portfolio_lists_the_users_tenants_coloured(client, personas, tenant, other_tenant, forest):
    scan(forest, [ad_user("Ann", upn="ann smith@acme.com")])  # a blocking finding: red
    client.force_login(personas["lead"])
    page = client.get("/rollout/").content.decode()
    assert 'id="tenant-acme"' in page and "globex" not in page
    assert 'class="state-red"' in page
    client.force_login(personas["outsider"])
    page = client.get("/rollout/").content.decode()
    assert 'id="tenant-globex"' in page and 'class="state-amber"' in page and "tenant-acme" not in page
    client.force_login(personas["superuser"])
    page = client.get("/rollout/").content.decode()
    assert "tenant-acme" in page and "tenant-globex" in page
    assert 'href="/rollout/"' in client.get("/").content.decode()  # in the top nav
    assert 'href="/t/acme/rollout/"' in client.get("/t/acme/").content.decode()  # in the tenant's subnav


def test_a_scan_and_an_applied_fix_reach_the_timeline(personas, tenant, forest):
    run = scan(forest, [ad_user("Ann", upn="ann smith@acme.com")])
    [event] = RolloutEvent.objects.filter(tenant=tenant, kind="scan")
    assert f"Scan #{run.pk}" in event.text and "1 new blocking" in event.text
    assert state(tenant, "no-blocking").state == "not_met"
    finding = run.forest.findings.get(severity="blocking")
    Change.objects.create(
        tenant=tenant, forest=forest, finding=finding, guid=finding.guid, dn=finding.dn,
        attribute=finding.attribute, old_values=[finding.value], new_values=["ann.smith@acme.com"],
        action="edit", requested_by=personas["admin"], result="applied", applied_at=timezone.now(),
    )  # fmt: skip
    [fix] = RolloutEvent.objects.filter(tenant=tenant, kind="fix")
    assert fix.text == f"Edit of userPrincipalName on {finding.dn} applied." and fix.user == personas["admin"]


def test_the_readiness_score_weighs_severity_and_scales_with_the_directory():
    assert score.readiness(1000, {}) == 100
    assert score.readiness(100, {"blocking": 10}) == 50  # penalty equal to the objects: half
    assert score.readiness(100, {"blocking": 1}) == 91
    assert score.readiness(100, {"degrading": 1}) == 97 and score.readiness(100, {"hygiene": 1}) == 99
    # The same share of broken objects scores the same in a small and a large directory.
    assert score.readiness(50, {"blocking": 5}) == score.readiness(50_000, {"blocking": 5_000})
    assert score.readiness(10, {"blocking": 1000}) == 0 and score.readiness(0, {"blocking": 1}) is None


def test_the_burn_down_sums_each_forests_latest_scan(tenant, forest):
    other = forest.__class__.objects.create(tenant=tenant, name="fabrikam", servers="x", base_dns="DC=f")
    start = timezone.now() - timedelta(days=3)
    for when, f, counts in (
        (start, forest, {"blocking": 10, "hygiene": 4}),
        (start + timedelta(hours=1), other, {"blocking": 5}),
        (start + timedelta(days=1), forest, {"blocking": 2, "degrading": 1}),
    ):
        ScanRun.objects.create(tenant=tenant, forest=f, status="completed", finished=when, severity_counts=counts)
    ScanRun.objects.create(tenant=tenant, forest=forest, status="failed", finished=timezone.now())
    data = score.burn_down(tenant)
    # Ending with the open findings now (none here: these scans stored counts, not findings).
    assert data["blocking"] == [10, 15, 7, 0] and data["degrading"] == [0, 0, 1, 0] and data["hygiene"] == [4, 4, 0, 0]
    assert len(data["labels"]) == 4 and data["labels"][-1] == "now"


def test_ou_and_forest_breakdowns(tenant, forest):
    scan(
        forest,
        [
            ad_user("Ann", upn="ann smith@acme.com"),
            ad_user("Bob", upn="bob@acme.com"),
            ad_user("Cy", upn="cy@acme.com"),
        ],
    )
    [row] = score.by_forest(tenant)
    assert row["objects"] == 3 and row["blocking"] >= 1 and row["score"] < 100
    [ou] = [r for r in score.by_ou(tenant) if r["name"] == "OU=Staff,DC=corp,DC=acme,DC=example"]
    assert ou["objects"] == 3 and ou["score"] == row["score"]
    assert any(r["severity"] == "blocking" for r in score.by_rule(tenant))
