"""The scan pipeline on entries built in memory: findings, history across scans, duplicates, failures."""

import uuid

import pytest

from identityhub.lib.entry import Entry
from identityhub.scans import pipeline
from identityhub.scans.models import DirectoryObject, Finding, IdentityKey, ScanRun, StagedKey
from identityhub.tenants.models import Forest

pytestmark = pytest.mark.django_db


def user(name, *, upn=None, mail=None, proxies=(), guid=None, **extra):
    attributes = {
        "objectclass": ["top", "person", "organizationalPerson", "user"],
        "objectguid": [(guid or uuid.uuid4()).bytes_le],
        "cn": [name],
        "samaccountname": [name.lower()[:20]],
        "displayname": [name],
        "userprincipalname": [upn or f"{name.lower()}@acme.com"],
    }
    if mail:
        attributes["mail"] = [mail]
        attributes["mailnickname"] = [name.lower()]
    if proxies:
        attributes["proxyaddresses"] = list(proxies)
    attributes.update({k.lower(): v for k, v in extra.items()})
    return Entry(dn=f"CN={name},OU=Staff,DC=corp,DC=acme,DC=example", attributes=attributes, source="corp")


def scan_with(forest, entries):
    scan = ScanRun.objects.create(tenant=forest.tenant, forest=forest)
    return pipeline.execute(scan.pk, lambda s, prepare: map(prepare, entries))


@pytest.fixture
def second_forest(tenant):
    return Forest.objects.create(
        tenant=tenant, name="fabrikam.example", servers="127.0.0.12", base_dns="DC=fabrikam,DC=example", bind_user="x"
    )


def test_a_scan_stores_objects_and_findings(forest):
    good = user("Ann", mail="ann@acme.com", proxies=["SMTP:ann@acme.com"])
    bad = user("Bob", upn="bob smith@corp.local")
    scan = scan_with(forest, [good, bad])
    assert scan.status == "completed" and scan.is_current
    assert scan.objects_in_scope == 2
    assert DirectoryObject.objects.filter(scan=scan).count() == 2
    rules = set(Finding.objects.filter(dn__startswith="CN=Bob").values_list("rule", flat=True))
    assert rules and all(f.startswith("upn.") for f in rules)
    assert not Finding.objects.filter(dn__startswith="CN=Ann").exists()
    assert scan.catalogue_version and scan.rule_counts


def test_history_resolves_fixed_findings_and_never_duplicates(forest):
    guid = uuid.uuid4()
    first = scan_with(forest, [user("Bob", upn="bob smith@acme.com", guid=guid)])
    finding = Finding.objects.get(rule="upn.character")
    assert finding.status == "open" and finding.first_scan == first
    again = scan_with(forest, [user("Bob", upn="bob smith@acme.com", guid=guid)])
    assert Finding.objects.filter(rule="upn.character").count() == 1
    finding = Finding.objects.with_seen().get(pk=finding.pk)
    again.refresh_from_db()
    # Seen again unchanged: not rewritten (issue 18), seen when the picture was refreshed.
    assert finding.last_scan == first and finding.first_scan == first and finding.seen_at == again.refreshed
    scan_with(forest, [user("Bob", upn="bob.smith@acme.com", guid=guid)])
    finding.refresh_from_db()
    assert finding.status == "resolved" and finding.resolved_at is not None


def test_a_failed_scan_leaves_the_previous_picture(forest):
    good_scan = scan_with(forest, [user("Bob", upn="bob smith@acme.com")])

    def broken(scan, prepare):
        yield prepare(user("Carol", upn="carol smith@acme.com"))
        raise ConnectionError("DC went away")

    failed = scan_with_factory(forest, broken)
    assert failed.status == "failed" and "DC went away" in failed.error
    assert not failed.is_current
    good_scan.refresh_from_db()
    assert good_scan.is_current
    assert not DirectoryObject.objects.filter(scan=failed).exists()
    assert Finding.objects.filter(status="open").count() == Finding.objects.filter(dn__contains="Bob").count()


def test_a_scan_stopped_by_its_time_limit_says_so(forest, settings):
    from celery.exceptions import SoftTimeLimitExceeded

    settings.SCAN_SOFT_TIME_LIMIT = 2 * 3600

    def too_long(scan, prepare):
        yield prepare(user("Carol", upn="carol smith@acme.com"))
        raise SoftTimeLimitExceeded()  # what Celery raises inside the task at its soft limit

    stopped = scan_with_factory(forest, too_long)
    assert stopped.status == "failed"
    assert stopped.error == "Stopped: it ran longer than its time limit of 120 minutes."
    assert not DirectoryObject.objects.filter(scan=stopped).exists()


def scan_with_factory(forest, factory):
    scan = ScanRun.objects.create(tenant=forest.tenant, forest=forest)
    return pipeline.execute(scan.pk, factory)


def test_duplicates_across_forests_flag_every_holder(forest, second_forest):
    scan_with(forest, [user("Ann", mail="ann@acme.com", proxies=["SMTP:ann@acme.com"])])
    ann2 = uuid.uuid4()
    scan_with(second_forest, [user("Ann2", upn="ann2@acme.com", mail="ANN@acme.com", guid=ann2)])
    dups = Finding.objects.filter(error="duplicate", status="open")
    assert {f.forest_id for f in dups} == {forest.pk, second_forest.pk}
    assert dups.filter(forest=forest).exists() and dups.filter(forest=second_forest).exists()
    # Fixing one side resolves the duplicate for both holders.
    scan_with(second_forest, [user("Ann2", upn="ann2@acme.com", mail="ann2@acme.com", guid=ann2)])
    assert not Finding.objects.filter(error="duplicate", status="open").exists()


def test_duplicate_findings_name_the_other_holder_and_what_resiliency_does(forest, second_forest):
    # Issue 14: mail on one object clashing with a stale secondary smtp: alias on another.
    scan_with(forest, [user("Ann", mail="sales@acme.com", proxies=["SMTP:sales@acme.com"])])
    scan_with(second_forest, [user("Old", proxies=["SMTP:old@acme.com", "smtp:Sales@acme.com"], mailnickname=["old"])])
    dups = {(f.dn.split(",")[0], f.rule): f for f in Finding.objects.filter(error="duplicate", status="open")}
    expected = {("CN=Ann", "duplicate.mail.address"), ("CN=Ann", "duplicate.smtp"), ("CN=Old", "duplicate.smtp")}
    assert set(dups) == expected
    assert {f.severity for f in dups.values()} == {"degrading"}
    old = dups[("CN=Old", "duplicate.smtp")].detail
    assert "CN=Ann,OU=Staff" in old and "mail" in old and "secondary" in old and "quarantine" in old
    assert "CN=Old,OU=Staff" in dups[("CN=Ann", "duplicate.mail.address")].detail


def test_tombstones_and_sam_in_other_domains_are_no_duplicates(forest, second_forest):
    live = user("Ann", upn="ann@acme.com")
    tombstone = user("Ann", upn="ann@acme.com", isdeleted=["TRUE"])
    tombstone.dn = "CN=Ann\\0ADEL:6f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0,CN=Deleted Objects,DC=corp,DC=acme,DC=example"
    scan = scan_with(forest, [live, tombstone])
    assert scan.exclusion_counts == {"deleted-object": 1}
    no_upn = user("Jo")
    del no_upn.attributes["userprincipalname"]
    other_domain = user("Jo")
    del other_domain.attributes["userprincipalname"]
    other_domain.dn = "CN=Jo,OU=Staff,DC=fabrikam,DC=example"
    scan_with(second_forest, [other_domain])
    scan_with(forest, [live, no_upn])
    assert not Finding.objects.filter(error="duplicate").exists()


def test_a_rescan_brings_severity_and_error_to_the_current_catalogue(forest):
    bob = user("Bob", upn="böb@acme.com")
    scan_with(forest, [bob])
    Finding.objects.filter(rule="upn.nonascii").update(severity="hygiene", error="nonascii")  # catalogue 1.0
    scan_with(forest, [bob])
    assert list(Finding.objects.filter(rule="upn.nonascii").values_list("severity", "error")) == [
        ("blocking", "character")
    ]


def test_excluded_objects_are_counted_not_checked(forest):
    critical = user("krbtgt", upn="krbtgt bad@x.local", iscriticalsystemobject=["TRUE"])
    scan = scan_with(forest, [critical, user("Ann")])
    assert scan.objects_excluded == 1 and scan.objects_in_scope == 1
    assert sum(scan.exclusion_counts.values()) == 1
    assert not Finding.objects.filter(dn__contains="krbtgt").exists()


def test_an_entry_read_twice_is_stored_once(forest):
    guid = uuid.uuid4()
    twice = [user("Bob", upn="bob smith@acme.com", guid=guid)] * 2
    scan = scan_with(forest, twice)
    assert DirectoryObject.objects.filter(scan=scan).count() == 1
    assert Finding.objects.filter(rule="upn.character").count() == 1


def test_an_entry_read_again_in_a_later_batch_is_stored_once(forest, monkeypatch):
    monkeypatch.setattr(pipeline, "BATCH", 1)  # the repeat arrives in a batch of its own
    bob = user("Bob", upn="bob smith@acme.com")
    scan = scan_with(forest, [bob, user("Ann"), bob])
    assert scan.status == "completed" and scan.objects_in_scope == 2
    assert DirectoryObject.objects.filter(scan=scan).count() == 2
    assert Finding.objects.filter(rule="upn.character").count() == 1


def test_a_suggestion_that_would_duplicate_is_withheld(forest):
    taken = user("Bob", upn="bob.smith@acme.com")
    clash = user("Rob", upn="bob.smith @acme.com")
    scan_with(forest, [taken, clash])
    finding = Finding.objects.filter(dn__startswith="CN=Rob", attribute="userPrincipalName").first()
    assert finding is not None
    assert finding.suggestion != "bob.smith@acme.com"


# --- a worker's scan: outside a transaction, staging is written by a thread of its own ----------


def many_users(count, prefix="User"):
    return [user(f"{prefix}{n}", upn=f"{prefix.lower()}{n} x@acme.com") for n in range(count)]


@pytest.mark.django_db(transaction=True)
def test_background_writes_store_every_batch_across_batches(forest, monkeypatch):
    monkeypatch.setattr(pipeline, "BATCH", 7)  # 50 objects: 8 batches through the writing thread
    threads = []
    original = pipeline._BackgroundWrites.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        threads.append(self._thread)

    monkeypatch.setattr(pipeline._BackgroundWrites, "__init__", spy)
    entries = many_users(50)
    scan = scan_with(forest, entries + entries[:10])  # the repeats come batches later
    assert len(threads) == 1 and not threads[0].is_alive()
    assert scan.status == "completed" and scan.objects_in_scope == 50
    assert DirectoryObject.objects.filter(scan=scan).count() == 50
    assert Finding.objects.filter(rule="upn.character", status="open").count() == 50
    # Identity keys are staged while the scan runs and published in value order when it completes.
    keys = list(IdentityKey.objects.filter(scan=scan).order_by("pk").values_list("value", flat=True))
    assert len(keys) >= 50 and keys == sorted(keys)
    assert not StagedKey.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_failed_background_write_fails_the_scan_and_keeps_the_picture(forest, monkeypatch):
    good = scan_with(forest, [user("Bob", upn="bob smith@acme.com")])
    monkeypatch.setattr(pipeline, "BATCH", 5)
    writes = []
    original = pipeline.StagingWriter._write

    def failing_third_batch(self, batch):
        writes.append(len(batch))
        if len(writes) == 3:
            raise RuntimeError("disk full")
        original(self, batch)

    monkeypatch.setattr(pipeline.StagingWriter, "_write", failing_third_batch)
    failed = scan_with(forest, many_users(40))
    assert failed.status == "failed" and "disk full" in failed.error
    assert len(writes) < 8  # the scan stopped soon after the failure, not after reading everything
    assert not DirectoryObject.objects.filter(scan=failed).exists()  # batches 1-2 discarded too
    assert not StagedKey.objects.exists() and not IdentityKey.objects.filter(scan=failed).exists()
    good.refresh_from_db()
    assert good.is_current
    assert set(Finding.objects.filter(status="open").values_list("dn", flat=True)) == {
        "CN=Bob,OU=Staff,DC=corp,DC=acme,DC=example"
    }


def test_inside_a_transaction_staging_is_written_in_it(forest):
    # pytest's django_db wraps this test in a transaction: the writes must join it, no thread.
    scan = ScanRun.objects.create(tenant=forest.tenant, forest=forest)
    with pytest.raises(RuntimeError, match="cannot join"):
        pipeline.StagingWriter(scan, pipeline.context_for(forest.tenant), background=True)
    assert scan_with(forest, many_users(3)).status == "completed"
