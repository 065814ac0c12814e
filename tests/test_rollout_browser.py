"""The portfolio and the rollout page in a real Chromium: colours, checklists, the burn-down chart,
a lead's sign-off through the form; screenshots for the eye."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from identityhub.health.models import GraphConnection, HealthPull, SyncSnapshot
from identityhub.rollout import progress
from identityhub.rollout.models import SignOff, TestGroupRoundTrip
from identityhub.tenants.models import Forest

from .browser import log_in, screenshot
from .health_support import ad_group, ad_user, scan

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def snapshot(tenant, *, last_sync_minutes, errors=0, synced=(3, 1, 0)):
    now = timezone.now()
    pull = HealthPull.objects.create(tenant=tenant, status="completed", started=now, finished=now)
    counts = {k: {"synced": n, "cloud_only": 0} for k, n in zip(("users", "groups", "contacts"), synced, strict=True)}
    return SyncSnapshot.objects.create(
        tenant=tenant, pull=pull, taken=now, sync_enabled=True, last_sync=now - timedelta(minutes=last_sync_minutes),
        last_password_sync=now - timedelta(minutes=2), counts=counts, error_count=errors,
    )  # fmt: skip


def test_a_lead_reads_the_portfolio_and_signs_off_on_the_rollout_page(live_server, page, personas, tenant, forest):
    people = [ad_user("Ann", upn="ann smith@acme.com", mail="ann@acme.com"), ad_user("Bob", upn="bob@acme.com")]
    cy, sales = uuid.uuid4(), uuid.uuid4()  # the same objects in both scans (new GUIDs: a held scan)
    scan(
        forest,
        [*people, ad_user("Cy", upn="cy@@acme.com", guid=cy), ad_group("Sales", mail="sales@acme.com", guid=sales)],
    )
    scan(
        forest,
        [*people, ad_user("Cy", upn="cy@acme.com", guid=cy), ad_group("Sales", mail="sales@acme.com", guid=sales)],
    )  # Cy fixed
    snapshot(tenant, last_sync_minutes=12, errors=1)
    GraphConnection.objects.create(tenant=tenant, client_id=uuid.uuid4(), client_secret="x")
    SignOff.objects.create(tenant=tenant, code="auth-method", user=personas["lead"], comment="PHS: design review 3 Nov")
    now = timezone.now()
    TestGroupRoundTrip.objects.create(
        tenant=tenant, forest=forest, requested_by=personas["admin"], name="IdentityHub sync test 1a2b3c4d",
        sam_account_name="idhub-test-1a2b3c4d", container="OU=Staff,DC=corp,DC=acme,DC=example",
        dn="CN=IdentityHub sync test 1a2b3c4d,OU=Staff,DC=corp,DC=acme,DC=example", status="removed",
        created_at=now - timedelta(minutes=35), seen_at=now - timedelta(minutes=4), removed_at=now,
    )  # fmt: skip
    progress.recompute(tenant)
    # A second tenant the lead also leads, further along: nothing blocking, sync fresh.
    other = personas["outsider"].memberships.get().tenant
    other.memberships.create(user=personas["lead"], role="lead")
    globex = Forest.objects.create(tenant=other, name="globex.example", servers="x", base_dns="DC=globex")
    scan(globex, [ad_user("Dan", upn="dan@globex.com")])
    other.verified_domains = ["globex.com"]
    other.save()
    scan(globex, [ad_user("Dan", upn="dan@globex.com")])
    snapshot(other, last_sync_minutes=8, synced=(1, 0, 0))
    progress.recompute(other)

    log_in(page, live_server, "lead", "pw-lead")
    page.goto(f"{live_server.url}/rollout/")
    page.wait_for_selector("#portfolio")
    assert page.get_attribute("#tenant-acme", "data-colour") == "red"  # open blocking findings
    assert page.get_attribute("#tenant-globex", "data-colour") == "amber"
    assert "Step 7" in page.inner_text("#tenant-acme")
    screenshot(page, "rollout-portfolio")

    page.click("#tenant-acme a")
    page.wait_for_selector("#step-7")
    assert page.get_attribute("#crit-test-group", "data-state") == "met"
    assert page.get_attribute("#crit-no-blocking", "data-state") == "not_met"
    assert page.get_attribute("#crit-forests-scanned", "data-state") == "met"
    page.wait_for_function("() => window.Chart && Chart.getChart('burn-down-chart')")  # the script has run
    # Each scan, then the open findings now.
    assert page.evaluate("() => Chart.getChart('burn-down-chart').data.datasets[0].data") == [2, 1, 1]
    assert "PHS: design review 3 Nov" in page.inner_text("#crit-auth-method")

    page.click("#crit-monitoring summary")
    page.fill("#comment-monitoring", "Connect Health agent installed on AADC01 and AADC02; portal shows both.")
    page.click("#crit-monitoring button.primary")
    page.wait_for_selector("#crit-monitoring[data-state=met]")
    assert "Signed off by lead" in page.inner_text("#crit-monitoring")
    assert "signed off by lead" in page.inner_text("#timeline")
    assert "done" not in page.inner_text("#step-8 .section-head")  # step 8 waits for step 7
    screenshot(page, "rollout-page")
