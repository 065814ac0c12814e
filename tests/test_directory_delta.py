"""Delta reads (lib/directory.py) against the real Samba DC: every kind of change since a
watermark, and every case where only a full scan is safe."""

import dataclasses
import time
import uuid

import pytest

from identityhub.lib import directory

from .delta_support import (
    SHOW_DELETED,
    add_user,
    delete,
    guid_of,
    make_ou,
    move,
    remove_tree,
    replace,
    restore,
    set_password,
    unique,
)
from .test_directory import settings_for

pytestmark = pytest.mark.samba


@pytest.fixture
def scratch(corp_forest):
    """OU=<in> (the scanned scope) and OU=<out> beside it, removed after the test."""
    conn = corp_forest.connection()
    inside = make_ou(conn, f"OU={unique('DeltaIn')},{corp_forest.base_dn}")
    outside = make_ou(conn, f"OU={unique('DeltaOut')},{corp_forest.base_dn}")
    try:
        yield conn, inside, outside
    finally:
        conn.unbind()
        cleanup = corp_forest.connection()  # a test may have restarted the DC
        remove_tree(cleanup, inside)
        remove_tree(cleanup, outside)
        cleanup.unbind()


def changes_since(forest, mark, bases, **kwargs):
    conn = directory.connect(settings_for(forest))
    try:
        new_mark, changes = directory.iter_changes(conn, mark, bases, ["mail", "userPrincipalName"], **kwargs)
        return new_mark, list(changes)
    finally:
        conn.unbind()


def mark_now(forest):
    conn = directory.connect(settings_for(forest))
    try:
        return directory.watermark(conn)
    finally:
        conn.unbind()


def split(changes):
    entries = {e.dn.lower(): e for e in changes if not isinstance(e, directory.Gone)}
    gone = {g.guid: g.deleted for g in changes if isinstance(g, directory.Gone)}
    return entries, gone


def test_a_delta_names_added_modified_renamed_moved_deleted_and_restored_objects(corp_forest, scratch):
    conn, inside, outside = scratch
    domain = corp_forest.upn_suffix
    users = {n: add_user(conn, inside, unique(f"dl{n}"), domain) for n in ("mod", "ren", "out", "del", "undel", "same")}
    stranger = add_user(conn, outside, unique("dlin"), domain)
    guids = {n: guid_of(conn, dn) for n, dn in users.items()} | {"in": guid_of(conn, stranger)}
    mark = mark_now(corp_forest)

    added = add_user(conn, inside, unique("dladd"), domain)
    replace(conn, users["mod"], "mail", ["changed@" + domain])
    renamed = move(conn, users["ren"], inside, f"CN={unique('dlrenamed')}")
    move(conn, users["out"], outside)
    moved_in = move(conn, stranger, inside)
    delete(conn, users["del"])
    delete(conn, users["undel"])
    restore(conn, guids["undel"], users["undel"])

    new_mark, changes = changes_since(corp_forest, mark, [inside])
    entries, gone = split(changes)
    assert set(entries) == {dn.lower() for dn in (added, users["mod"], renamed, moved_in, users["undel"])}
    assert entries[users["mod"].lower()].first("mail") == "changed@" + domain
    assert gone[guids["out"]] is False and gone[guids["del"]] is True
    assert guids["same"] not in gone and guids["in"] not in gone and guids["undel"] not in gone
    assert new_mark.usn > mark.usn and new_mark.server == mark.server

    # Nothing changed since the new watermark: an empty delta.
    _, again = changes_since(corp_forest, new_mark, [inside])
    assert not [c for c in again if not isinstance(c, directory.Gone) or c.guid in guids.values()]


def test_a_moved_or_renamed_ou_carries_its_objects_in_and_out_of_scope(corp_forest, scratch):
    conn, inside, outside = scratch
    sub = make_ou(conn, f"OU={unique('dlsub')},{inside}")
    members = [add_user(conn, sub, unique("dlsubu"), corp_forest.upn_suffix) for _ in range(3)]
    guids = {guid_of(conn, dn) for dn in members}
    mark = mark_now(corp_forest)
    away = move(conn, sub, outside)
    _, changes = changes_since(corp_forest, mark, [inside])
    entries, gone = split(changes)
    assert guids <= set(gone) and not any(gone[g] for g in guids)

    mark = mark_now(corp_forest)
    move(conn, away, inside, f"OU={unique('dlback')}")
    _, changes = changes_since(corp_forest, mark, [inside])
    entries, gone = split(changes)
    assert {directory_guid(e) for e in entries.values()} >= guids


def directory_guid(entry):
    return entry.guid


def test_objects_in_an_excluded_ou_or_failing_the_filter_leave_the_scope(corp_forest, scratch):
    conn, inside, outside = scratch
    hidden = make_ou(conn, f"OU={unique('dlhidden')},{inside}")
    kept = add_user(conn, inside, unique("dlkeep"), corp_forest.upn_suffix, mail="keep@x.example")
    dropped = add_user(conn, inside, unique("dldrop"), corp_forest.upn_suffix, mail="keep@x.example")
    mark = mark_now(corp_forest)
    replace(conn, dropped, "mail", ["other@x.example"])
    replace(conn, kept, "displayName", ["still kept"])
    excluded = move(conn, add_user(conn, inside, unique("dlx"), corp_forest.upn_suffix), hidden)
    _, changes = changes_since(corp_forest, mark, [inside], search_filter="(mail=keep@x.example)", exclude=[hidden])
    entries, gone = split(changes)
    assert set(entries) == {kept.lower()}
    assert guid_of(conn, dropped) in gone and guid_of(conn, excluded) in gone


def test_a_watermark_from_another_dc_asks_for_a_full_scan(corp_forest, fabrikam_forest):
    mark = mark_now(corp_forest)
    with pytest.raises(directory.FullScanNeeded, match="this scan reached"):
        changes_since(fabrikam_forest, mark, [fabrikam_forest.base_dn])


def test_a_changed_invocation_id_asks_for_a_full_scan(corp_forest):
    mark = dataclasses.replace(mark_now(corp_forest), invocation_id="00000000-0000-0000-0000-000000000001")
    with pytest.raises(directory.FullScanNeeded, match="restored from a backup"):
        changes_since(corp_forest, mark, [corp_forest.base_dn])


def test_a_watermark_ad_no_longer_accepts_asks_for_a_full_scan(corp_forest):
    mark = mark_now(corp_forest)
    with pytest.raises(directory.FullScanNeeded, match="tombstone lifetime"):
        changes_since(corp_forest, dataclasses.replace(mark, taken=time.time() - 400 * 86400), [corp_forest.base_dn])
    with pytest.raises(directory.FullScanNeeded, match="rolled back"):
        changes_since(corp_forest, dataclasses.replace(mark, usn=mark.usn + 10**6), [corp_forest.base_dn])


def test_without_rights_on_deleted_objects_the_delta_names_the_right(corp_forest, scratch):
    """An ordinary account may not read CN=Deleted Objects (AD's default ACL, and Samba's): it
    would not see deletions, so no delta for it."""
    conn, inside, _ = scratch
    name, password = unique("dlreader"), "Reader-Passw0rd!"
    set_password(conn, add_user(conn, inside, name, corp_forest.upn_suffix), password)
    victim = add_user(conn, inside, unique("dlvictim"), corp_forest.upn_suffix)
    victim_guid = guid_of(conn, victim)
    mark = mark_now(corp_forest)
    delete(conn, victim)
    reader = settings_for(corp_forest, bind_user=f"{name}@{corp_forest.realm}", bind_password=password)
    session = directory.connect(reader)
    try:
        # What the right is for: the reader does not see the tombstone.
        session.search(
            corp_forest.base_dn, "(isDeleted=TRUE)", "SUBTREE", attributes=["objectGUID"], controls=SHOW_DELETED
        )
        seen = {str(uuid.UUID(bytes_le=e["raw_attributes"]["objectGUID"][0])) for e in session.response or ()
                if e.get("type") == "searchResEntry" and e["raw_attributes"].get("objectGUID")}  # fmt: skip
        assert victim_guid not in seen
        with pytest.raises(directory.FullScanNeeded, match="List Contents and Read Property"):
            directory.iter_changes(session, mark, [inside], ["mail"])
    finally:
        session.unbind()
    # The administrator may: the same delta runs and reports the deletion.
    _, changes = changes_since(corp_forest, mark, [inside])
    assert directory.Gone(victim_guid, True) in changes


def test_a_base_outside_the_dcs_naming_contexts_asks_for_a_full_scan(corp_forest):
    """Another domain's partition read through the global catalog is not a naming context the DC lists."""
    with pytest.raises(directory.FullScanNeeded, match="none of the naming contexts"):
        changes_since(corp_forest, mark_now(corp_forest), ["DC=emea,DC=elsewhere,DC=test"])
