"""Scanning the two real Samba forests: planted defects found, exclusions counted, duplicates across
forests, and a DC stopped mid-scan leaving the previous picture untouched."""

import pytest

from identityhub.scans import pipeline
from identityhub.scans.models import DirectoryObject, Finding, ScanRun
from identityhub.scans.sources import entries_for
from identityhub.tenants.models import Forest, Tenant

pytestmark = [pytest.mark.samba, pytest.mark.django_db]


def forest_row(tenant, lab, **changes):
    values = {
        "tenant": tenant,
        "name": lab.realm.lower(),
        "servers": lab.host,
        "port": 636,
        "ca_certificate": lab.ca_cert.read_text(),
        "base_dns": lab.base_dn,
        "include_ous": lab.lab_ou,
        "bind_user": lab.bind_user,
        "bind_password": lab.password,
    }
    values.update(changes)
    return Forest.objects.create(**values)


@pytest.fixture
def lab_tenant(db, samba_forests):
    domains = {"corp.example.com", "fabrikam.example.com", "mail.corp.example.com", "mail.fabrikam.example.com"}
    domains.add("example.com")  # the cross-forest duplicates live there
    # The valid-but-tricky UPNs (a .app TLD, a 48-character domain) must be verified to be valid.
    for lab in samba_forests.values():
        domains |= {v.value.rpartition("@")[2] for v in lab.seed.valid if v.attribute == "userPrincipalName"}
    return Tenant.objects.create(name="Lab", slug="lab", verified_domains=sorted(domains))


def scan(forest):
    run = ScanRun.objects.create(tenant=forest.tenant, forest=forest)
    return pipeline.execute(run.pk, entries_for)


def _pairs(findings):
    return {(f.dn.lower(), f.attribute.lower()) for f in findings}


def test_scanning_both_forests_finds_every_planted_defect_and_nothing_else(lab_tenant, samba_forests):
    forests = {name: forest_row(lab_tenant, lab) for name, lab in samba_forests.items()}
    runs = {name: scan(forest) for name, forest in forests.items()}
    for name, run in runs.items():
        assert run.status == "completed", run.error
        lab = samba_forests[name]
        seeded = sum(1 for e in lab.seed.entries if e.kind in ("user", "inetOrgPerson", "contact", "group"))
        assert run.objects_read == seeded
        # Computers are not even read (the LDAP filter leaves them out); the rest are read and skipped.
        planted_exclusions = [x for x in lab.seed.exclusions if not x.preexisting and "computer" not in x.reason]
        assert run.objects_excluded == len(planted_exclusions)
    planted = {(d.dn.lower(), d.attribute.lower()) for lab in samba_forests.values() for d in lab.seed.defects}
    found = _pairs(Finding.objects.filter(tenant=lab_tenant, status="open"))
    assert planted - found == set(), "planted defects the scan missed"
    assert found - planted == set(), "findings on values nobody planted"
    valid = {(v.dn.lower(), v.attribute.lower()) for lab in samba_forests.values() for v in lab.seed.valid}
    assert not (valid & found), "valid values flagged (IdFix false positives)"


def test_cross_forest_duplicates_flag_holders_in_both_forests(lab_tenant, samba_forests):
    for lab in samba_forests.values():
        scan(forest_row(lab_tenant, lab))
    cross = [d for lab in samba_forests.values() for d in lab.seed.defects if d.cross_forest]
    assert cross
    dups = Finding.objects.filter(tenant=lab_tenant, error="duplicate", status="open")
    for defect in cross:
        holder = dups.filter(dn__iexact=defect.dn, attribute__iexact=defect.attribute)
        assert holder.exists(), f"{defect.forest} {defect.dn} {defect.attribute} not flagged"
    assert {f.forest.name for f in dups} == {"corp.example.test", "fabrikam.example.test"}


def test_a_rescan_moves_history_on_without_duplicating(lab_tenant, corp_forest):
    forest = forest_row(lab_tenant, corp_forest)
    first = scan(forest)
    count = Finding.objects.filter(forest=forest).count()
    second = scan(forest)
    assert second.status == "completed" and second.is_current
    assert Finding.objects.filter(forest=forest).count() == count
    second.refresh_from_db()
    seen = {f.seen_at for f in Finding.objects.filter(forest=forest, status="open").with_seen()}
    assert seen == {second.refreshed}
    assert Finding.objects.filter(forest=forest, first_scan=first).count() == count
    first.refresh_from_db()
    assert not first.is_current


def test_a_fix_in_ad_resolves_the_finding_at_the_next_scan(lab_tenant, corp_forest):
    forest = forest_row(lab_tenant, corp_forest)
    scan(forest)
    finding = Finding.objects.filter(forest=forest, attribute="userPrincipalName", status="open").exclude(
        error="duplicate"
    )[0]
    suggestion = finding.suggestion or "fixed.user@corp.example.com"
    conn = corp_forest.connection()
    try:
        from ldap3 import MODIFY_REPLACE

        old = finding.value
        assert conn.modify(finding.dn, {"userPrincipalName": [(MODIFY_REPLACE, [suggestion])]})
        scan(forest)
        finding.refresh_from_db()
        assert finding.status == "resolved" and finding.resolved_at
    finally:
        conn.modify(finding.dn, {"userPrincipalName": [(MODIFY_REPLACE, [old])]})
        conn.unbind()


def test_a_dc_stopped_mid_scan_keeps_the_previous_picture(lab_tenant, corp_forest):
    forest = forest_row(lab_tenant, corp_forest, include_ous="", base_dns=corp_forest.base_dn)
    good = scan(forest)
    assert good.status == "completed"
    objects_before = DirectoryObject.objects.filter(scan=good).count()
    open_before = set(Finding.objects.filter(forest=forest, status="open").values_list("pk", flat=True))

    def stop_after_first_page(run, prepare):
        entries = entries_for(run, prepare)
        for n, entry in enumerate(entries):
            if n == 100:
                # Stop the DC between two pages: the next page request finds it gone.
                corp_forest.stop()
            yield entry

    from identityhub.scans import sources

    original = sources.directory.PAGE_SIZE
    sources.directory.PAGE_SIZE = 50
    try:
        run = ScanRun.objects.create(tenant=lab_tenant, forest=forest)
        failed = pipeline.execute(run.pk, stop_after_first_page)
    finally:
        sources.directory.PAGE_SIZE = original
    assert failed.status == "failed"
    assert corp_forest.host in failed.error
    good.refresh_from_db()
    assert good.is_current
    assert DirectoryObject.objects.filter(scan=good).count() == objects_before
    assert not DirectoryObject.objects.filter(scan=failed).exists()
    assert set(Finding.objects.filter(forest=forest, status="open").values_list("pk", flat=True)) == open_before
