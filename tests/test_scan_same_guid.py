"""The same objectGUIDs in two forests of one tenant (a migration seen twice during a consolidation).

Each forest's findings stay its own whatever the other forest holds, every later scan of either
completes, and the object read in both forests is reported on both sides.
"""

import uuid

import pytest

from identityhub.scans.models import Finding, ScanRun

from .test_scan_pipeline import scan_with, user

pytestmark = pytest.mark.django_db

GUID_RULE = "duplicate.objectguid"


@pytest.fixture
def second_forest(tenant):
    from identityhub.tenants.models import Forest

    return Forest.objects.create(
        tenant=tenant, name="fabrikam.example", servers="127.0.0.12", base_dns="DC=fabrikam,DC=example", bind_user="x"
    )


def migrated_pair(ann_guid, bob_guid, *, bob_mail="ann@acme.com"):
    # Two objects that clash with each other (one mail address) and carry a problem of their own.
    return [
        user("Ann", upn="ann x@acme.com", mail="ann@acme.com", guid=ann_guid),
        user("Bob", upn="bob@acme.com", mail=bob_mail, guid=bob_guid),
    ]


def assert_completed(scan: ScanRun):
    assert scan.status == ScanRun.Status.COMPLETED, scan.error
    assert scan.is_current


@pytest.fixture(autouse=True)
def no_drop_guard(settings):
    # Objects leave a forest here on purpose: the accidental-deletion guard (test_scan_hold.py)
    # would hold those scans for an admin.
    settings.SCAN_CONFIRM_DROP_SHARE = 1.0


def test_rescanning_both_forests_after_the_same_objects_appear_in_both(forest, second_forest):
    ann, bob = uuid.uuid4(), uuid.uuid4()
    for target in (forest, second_forest, forest, second_forest):
        assert_completed(scan_with(target, migrated_pair(ann, bob)))
    # Bob leaves the second forest (migration finished there): its findings there resolve, the
    # first forest's stay open, and both forests still scan.
    assert_completed(scan_with(second_forest, migrated_pair(ann, bob)[:1]))
    assert_completed(scan_with(forest, migrated_pair(ann, bob)))
    assert_completed(scan_with(second_forest, migrated_pair(ann, bob)[:1]))
    for finding in Finding.objects.all():
        assert finding.dn and finding.ou is not None  # nothing written from another forest's row
    open_dups = Finding.objects.filter(rule="duplicate.mail", status="open")
    assert set(open_dups.values_list("forest_id", "guid")) == {
        (forest.pk, ann),
        (forest.pk, bob),
        (second_forest.pk, ann),
    }
    resolved = Finding.objects.get(rule="duplicate.mail", forest=second_forest, guid=bob)
    assert resolved.status == "resolved"


def test_one_forest_changing_leaves_the_other_forests_findings_alone(forest, second_forest):
    ann, bob = uuid.uuid4(), uuid.uuid4()
    assert_completed(scan_with(forest, migrated_pair(ann, bob)))
    assert_completed(scan_with(second_forest, migrated_pair(ann, bob)))
    # Bob's copy in the second forest gets its own address: Ann's copies still clash with Bob in the first.
    assert_completed(scan_with(second_forest, migrated_pair(ann, bob, bob_mail="bob@acme.com")))
    assert_completed(scan_with(forest, migrated_pair(ann, bob)))
    own = Finding.objects.filter(forest=forest, rule="upn.character").get()
    assert own.status == "open" and own.dn.startswith("CN=Ann")
    first = Finding.objects.filter(forest=forest, rule="duplicate.mail", status="open")
    assert set(first.values_list("guid", flat=True)) == {ann, bob}


def test_the_same_guid_in_two_forests_is_reported_on_both_sides(forest, second_forest):
    ann, bob, carol = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert_completed(scan_with(forest, migrated_pair(ann, bob)))
    assert not Finding.objects.filter(rule=GUID_RULE).exists()  # one forest: nothing seen twice
    assert_completed(scan_with(second_forest, [user("Ann", upn="ann x@acme.com", mail="ann@acme.com", guid=ann)]))
    seen_twice = Finding.objects.filter(rule=GUID_RULE, status="open")
    assert set(seen_twice.values_list("forest_id", "guid")) == {(forest.pk, ann), (second_forest.pk, ann)}
    for finding in seen_twice:
        assert finding.value == str(ann) and finding.attribute == "objectGUID"
        other = second_forest if finding.forest_id == forest.pk else forest
        assert other.name in finding.detail  # names where the other copy is
    # The copy leaves the second forest: both sides resolve.
    assert_completed(scan_with(second_forest, [user("Carol", guid=carol)]))
    assert not Finding.objects.filter(rule=GUID_RULE, status="open").exists()
    assert Finding.objects.filter(rule=GUID_RULE, status="resolved").count() == 2
