"""Fixing findings in AD for real (Samba): edit, remove, accept, conflict, refusal, undo, approval, bulk."""

import uuid

import pytest

from identityhub.remediation import actions
from identityhub.remediation.models import ApplyRun, Change
from identityhub.scans.models import Finding
from identityhub.tenants.models import Membership, Role

from .remediation_support import finding_on, scan

pytestmark = [pytest.mark.samba, pytest.mark.django_db(transaction=True)]


def test_an_admin_fixes_a_upn_inline_and_the_finding_resolves_at_once(client, personas, sandbox_forest, sandbox):
    dn = sandbox.user("Bob Bad", userPrincipalName="bob bad@corp.example.com")
    scan(sandbox_forest)
    finding = finding_on(dn, "userPrincipalName")
    assert finding.status == "open" and finding.suggestion == "bobbad@corp.example.com"
    client.force_login(personas["admin"])
    response = client.post(
        f"/t/acme/findings/{finding.pk}/edit/", {"value": finding.suggestion}, HTTP_HX_REQUEST="true"
    )
    assert "Edit applied" in response.content.decode()
    assert sandbox.value(dn, "userPrincipalName") == ["bobbad@corp.example.com"]
    finding.refresh_from_db()
    assert finding.status == "resolved"  # re-checked from AD, no scan needed
    change = Change.objects.get(finding=finding)
    assert (change.old_values, change.new_values) == (["bob bad@corp.example.com"], ["bobbad@corp.example.com"])
    assert change.requested_by == personas["admin"] and change.result == "applied"


def test_a_missing_upn_is_fixed_by_adding_one(personas, sandbox_forest, sandbox):
    # No userPrincipalName: the finding holds no value (what AD has), and the fix adds the UPN.
    dn = sandbox.user("Nora Noupn")
    scan(sandbox_forest)
    finding = Finding.objects.filter(dn__iexact=dn, attribute="userPrincipalName", value="").first()
    assert finding is not None and finding.status == "open"
    upn = f"nora.{uuid.uuid4().hex[:6]}@corp.example.com"
    change = actions.request_change(finding, Change.Action.EDIT, personas["admin"], upn)
    assert (change.result, change.old_values, change.new_values) == ("applied", [], [upn])
    assert sandbox.value(dn, "userPrincipalName") == [upn]
    # Someone sets a UPN by hand between the scan and the fix: a conflict, and theirs stays.
    other = sandbox.user("Olga Noupn")
    scan(sandbox_forest)
    finding = Finding.objects.filter(dn__iexact=other, attribute="userPrincipalName", value="").first()
    sandbox.set(other, "userPrincipalName", ["olga.by.hand@corp.example.com"])
    change = actions.request_change(finding, Change.Action.EDIT, personas["admin"], "olga.app@corp.example.com")
    assert change.result == "conflict" and "olga.by.hand@corp.example.com" in change.error
    assert sandbox.value(other, "userPrincipalName") == ["olga.by.hand@corp.example.com"]


def test_a_value_that_would_itself_be_a_finding_is_refused(client, personas, sandbox_forest, sandbox):
    dn = sandbox.user("Cy Bad", userPrincipalName="cy bad@corp.example.com")
    scan(sandbox_forest)
    finding = finding_on(dn, "userPrincipalName")
    client.force_login(personas["admin"])
    body = client.post(f"/t/acme/findings/{finding.pk}/edit/", {"value": "cy@corp.local"}, HTTP_HX_REQUEST="true")
    assert "upn.topleveldomain" in body.content.decode()
    assert sandbox.value(dn, "userPrincipalName") == ["cy bad@corp.example.com"]
    assert not Change.objects.exists()


def test_remove_deletes_one_proxy_address(sandbox_forest, sandbox, personas):
    good, bad = "SMTP:dee@corp.example.com", "smtp:dee old@corp.example.com"
    dn = sandbox.user("Dee", userPrincipalName="dee@corp.example.com", mailNickname="dee", proxyAddresses=[good, bad])
    scan(sandbox_forest)
    finding = Finding.objects.get(dn__iexact=dn, value=bad, rule__startswith="proxy.")
    change = actions.request_change(finding, "remove", personas["admin"])
    assert change.result == "applied"
    assert sandbox.value(dn, "proxyAddresses") == [good]
    finding.refresh_from_db()
    assert finding.status == "resolved"


def test_accept_writes_nothing(sandbox_forest, sandbox, personas):
    dn = sandbox.user("Eve Bad", userPrincipalName="eve bad@corp.example.com")
    scan(sandbox_forest)
    finding = finding_on(dn, "userPrincipalName")
    change = actions.request_change(finding, "accept", personas["admin"])
    assert change.action == "accept" and change.result == "applied"
    assert sandbox.value(dn, "userPrincipalName") == ["eve bad@corp.example.com"]
    finding.refresh_from_db()
    assert finding.status == "accepted"


def test_a_value_changed_behind_the_apps_back_is_a_conflict(sandbox_forest, sandbox, personas):
    dn = sandbox.user("Fay Bad", userPrincipalName="fay bad@corp.example.com")
    scan(sandbox_forest)
    finding = finding_on(dn, "userPrincipalName")
    sandbox.set(dn, "userPrincipalName", ["fay.hr@corp.example.com"])  # an HR feed got there first
    change = actions.request_change(finding, "edit", personas["admin"], "faybad@corp.example.com")
    assert change.result == "conflict"
    assert change.current_values == ["fay.hr@corp.example.com"]
    assert sandbox.value(dn, "userPrincipalName") == ["fay.hr@corp.example.com"]
    # The object was re-read: the stale finding is gone, the picture shows what AD holds now.
    finding.refresh_from_db()
    assert finding.status == "resolved"


def test_ads_own_refusal_is_recorded_and_nothing_is_written(sandbox_forest, sandbox, personas, corp_forest):
    # A UPN held outside the scanned OU: the app cannot know it is taken, AD refuses it.
    taken = next(
        e.attributes["userPrincipalName"] for e in corp_forest.seed.entries if "userPrincipalName" in e.attributes
    )
    dn = sandbox.user("Gus Bad", userPrincipalName="gus bad@corp.example.com")
    scan(sandbox_forest)
    finding = finding_on(dn, "userPrincipalName")
    change = actions.request_change(finding, "edit", personas["admin"], taken)
    assert change.result == "refused" and "constraint violation" in change.error
    assert sandbox.value(dn, "userPrincipalName") == ["gus bad@corp.example.com"]


def test_undo_many_levels_deep_and_it_is_guarded(sandbox_forest, sandbox, personas):
    dn = sandbox.user("Hal Bad", userPrincipalName="hal bad@corp.example.com")
    scan(sandbox_forest)
    finding = finding_on(dn, "userPrincipalName")
    admin = personas["admin"]
    fix = actions.request_change(finding, "edit", admin, "halbad@corp.example.com")
    back = actions.undo(fix, admin)
    assert back.result == "applied" and sandbox.value(dn, "userPrincipalName") == ["hal bad@corp.example.com"]
    fix.refresh_from_db()
    assert fix.result == "reverted"
    finding.refresh_from_db()
    assert finding.status == "open"  # the bad value is back, and so is its finding
    again = actions.undo(back, admin)
    assert again.result == "applied" and sandbox.value(dn, "userPrincipalName") == ["halbad@corp.example.com"]
    sandbox.set(dn, "userPrincipalName", ["hal.moved@corp.example.com"])
    conflicted = actions.undo(again, admin)
    assert conflicted.result == "conflict"
    assert sandbox.value(dn, "userPrincipalName") == ["hal.moved@corp.example.com"]


def test_four_eyes_the_requester_cannot_approve(sandbox_forest, sandbox, personas, fix_tenant, django_user_model):
    fix_tenant.require_approval = True
    fix_tenant.save()
    second = django_user_model.objects.create_user("second-admin")
    Membership.objects.create(user=second, tenant=fix_tenant, role=Role.ADMIN)
    dn = sandbox.user("Ida Bad", userPrincipalName="ida bad@corp.example.com")
    scan(sandbox_forest)
    finding = finding_on(dn, "userPrincipalName")
    change = actions.request_change(
        Finding.objects.get(pk=finding.pk), "edit", personas["admin"], "idabad@corp.example.com"
    )
    assert change.result == "awaiting" and sandbox.value(dn, "userPrincipalName") == ["ida bad@corp.example.com"]
    with pytest.raises(actions.ActionRefused):
        actions.approve(change, personas["admin"])
    approved = actions.approve(change, second)
    assert approved.result == "applied" and approved.approved_by == second
    assert sandbox.value(dn, "userPrincipalName") == ["idabad@corp.example.com"]


def test_bulk_preview_writes_nothing_then_apply_runs_as_a_job(client, personas, sandbox_forest, sandbox):
    one = sandbox.user("Jo Bad", userPrincipalName="jo bad@corp.example.com")
    two = sandbox.user("Kim Bad", userPrincipalName="kim bad@corp.example.com")
    scan(sandbox_forest)
    ids = [finding_on(dn, "userPrincipalName").pk for dn in (one, two)]
    client.force_login(personas["admin"])
    preview = client.post("/t/acme/findings/bulk/preview/", {"action": "suggestion", "select": ids})
    body = preview.content.decode()
    assert "jobad@corp.example.com" in body and "kimbad@corp.example.com" in body and "Apply 2 changes" in body
    assert sandbox.value(one, "userPrincipalName") == ["jo bad@corp.example.com"]
    response = client.post("/t/acme/findings/bulk/apply/", {"action": "suggestion", "ids": ",".join(map(str, ids))})
    run = ApplyRun.objects.get()
    assert response["Location"] == run.get_absolute_url()
    assert run.status == "completed" and run.done == 2  # the eager worker ran it
    assert sandbox.value(one, "userPrincipalName") == ["jobad@corp.example.com"]
    assert sandbox.value(two, "userPrincipalName") == ["kimbad@corp.example.com"]
    assert Change.objects.filter(apply_run=run, result="applied").count() == 2


def test_bulk_all_matching_the_filter(client, personas, sandbox_forest, sandbox):
    sandbox.user("Lu Bad", userPrincipalName="lu bad@corp.example.com")
    scan(sandbox_forest)
    client.force_login(personas["admin"])
    body = client.post(
        "/t/acme/findings/bulk/preview/", {"action": "accept", "scope": "filter", "filter": "rule=upn.character"}
    ).content.decode()
    assert "lu bad@corp.example.com" in body


def test_readers_cannot_act(client, personas, sandbox_forest, sandbox):
    dn = sandbox.user("Mo Bad", userPrincipalName="mo bad@corp.example.com")
    scan(sandbox_forest)
    finding = finding_on(dn, "userPrincipalName")
    for who in ("lead", "auditor"):
        client.force_login(personas[who])
        assert (
            client.post(f"/t/acme/findings/{finding.pk}/edit/", {"value": "mobad@corp.example.com"}).status_code == 403
        )
    client.force_login(personas["outsider"])
    assert client.post(f"/t/acme/findings/{finding.pk}/edit/", {"value": "x"}).status_code == 404
    assert sandbox.value(dn, "userPrincipalName") == ["mo bad@corp.example.com"]
    assert not Change.objects.exists()


def test_a_change_is_immutable(sandbox_forest, sandbox, personas):
    dn = sandbox.user("Ned Bad", userPrincipalName="ned bad@corp.example.com")
    scan(sandbox_forest)
    change = actions.request_change(finding_on(dn, "userPrincipalName"), "accept", personas["admin"])
    from django.core.exceptions import ValidationError

    change.new_values = ["tampered"]
    with pytest.raises(ValidationError):
        change.save()
    with pytest.raises(ValidationError):
        change.delete()


def test_a_fix_undone_by_a_feed_is_flagged_reverted_at_the_next_scan(sandbox_forest, sandbox, personas):
    from identityhub.remediation.models import RevertedFix

    dn = sandbox.user("Ola Bad", userPrincipalName="ola bad@corp.example.com")
    scan(sandbox_forest)
    finding = finding_on(dn, "userPrincipalName")
    change = actions.request_change(finding, "edit", personas["admin"], "olabad@corp.example.com")
    assert change.result == "applied"
    sandbox.set(dn, "userPrincipalName", ["ola bad@corp.example.com"])  # the HR feed puts it back
    later = scan(sandbox_forest)
    finding.refresh_from_db()
    assert finding.status == "open"
    flag = RevertedFix.objects.get(finding=finding)
    assert flag.change == change and flag.scan == later


def test_a_dn_from_an_uploaded_export_that_ldap3_cannot_parse_is_refused_clearly(
    client, personas, sandbox_forest, settings, tmp_path
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    ldif = (
        b"dn: CN=<b>x,OU=Sales,DC=corp,DC=example,DC=test\nobjectClass: user\ncn: <b>x\nsAMAccountName: bx\n"
        b"displayName: x\nuserPrincipalName: b x@corp.example.com\n\n"
    )
    client.force_login(personas["admin"])
    client.post(f"/t/acme/forests/{sandbox_forest.pk}/upload/", {"export": SimpleUploadedFile("x.ldf", ldif)})
    finding = Finding.objects.get(value="b x@corp.example.com", attribute="userPrincipalName")
    response = client.post(
        f"/t/acme/findings/{finding.pk}/edit/", {"value": "bx@corp.example.com"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and "not a valid DN" in response.content.decode()
    change = Change.objects.get(finding=finding)
    assert change.result == "refused" and "not a valid DN" in change.error


def test_when_the_new_value_is_already_there_the_log_says_so(sandbox_forest, sandbox, personas):
    dn = sandbox.user("Al Ready", userPrincipalName="al ready@corp.example.com")
    scan(sandbox_forest)
    finding = finding_on(dn, "userPrincipalName")
    sandbox.set(dn, "userPrincipalName", ["already@corp.example.com"])  # someone fixed it by hand
    change = actions.request_change(finding, "edit", personas["admin"], "already@corp.example.com")
    assert change.result == "conflict" and "already holds" in change.error and "changed since" not in change.error
