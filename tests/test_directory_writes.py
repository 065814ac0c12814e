"""Guarded writes against the real Samba DC: applied, conflict (nothing written), AD's own refusals."""

import uuid

import ldap3
import pytest

from identityhub.lib import directory

pytestmark = pytest.mark.samba


@pytest.fixture
def victim(corp_forest):
    """A throwaway user in the lab OU, removed afterwards."""
    conn = corp_forest.connection()
    name = f"Write Test {uuid.uuid4().hex[:8]}"
    dn = f"CN={name},{corp_forest.lab_ou}"
    sam = "wt" + uuid.uuid4().hex[:10]
    attrs = {
        "sAMAccountName": sam,
        "userPrincipalName": f"{sam}@corp.example.com",
        "mail": f"{sam}@corp.example.com",
        "proxyAddresses": [f"SMTP:{sam}@corp.example.com", f"smtp:{sam} old@corp.example.com"],
        "mailNickname": sam,
    }
    assert conn.add(dn, ["top", "user"], attrs), conn.result
    yield conn, dn, sam
    conn.delete(dn)
    conn.unbind()


def current(conn, dn, attribute):
    return sorted(str(v) for v in directory.read_values(conn, dn, [attribute]).values(attribute))


def test_an_edit_replaces_exactly_the_old_value(victim):
    conn, dn, sam = victim
    directory.guarded_modify(
        conn, dn, "userPrincipalName", [f"{sam}@corp.example.com"], [f"{sam}.new@corp.example.com"]
    )
    assert current(conn, dn, "userPrincipalName") == [f"{sam}.new@corp.example.com"]


def test_one_proxy_address_is_edited_and_the_others_kept(victim):
    conn, dn, sam = victim
    old, new = f"smtp:{sam} old@corp.example.com", f"smtp:{sam}.old@corp.example.com"
    directory.guarded_modify(conn, dn, "proxyAddresses", [old], [new])
    assert current(conn, dn, "proxyAddresses") == sorted([f"SMTP:{sam}@corp.example.com", new])


def test_a_remove_deletes_one_value(victim):
    conn, dn, sam = victim
    directory.guarded_modify(conn, dn, "proxyAddresses", [f"smtp:{sam} old@corp.example.com"], [])
    assert current(conn, dn, "proxyAddresses") == [f"SMTP:{sam}@corp.example.com"]


def test_a_value_changed_behind_our_back_is_a_conflict_and_nothing_is_written(victim):
    conn, dn, sam = victim
    theirs = f"{sam}.hr-feed@corp.example.com"
    conn.modify(dn, {"userPrincipalName": [(ldap3.MODIFY_REPLACE, [theirs])]})
    with pytest.raises(directory.ConflictError) as conflict:
        directory.guarded_modify(
            conn, dn, "userPrincipalName", [f"{sam}@corp.example.com"], [f"{sam}.ours@corp.example.com"]
        )
    assert conflict.value.current == [theirs]
    assert "changed since the scan" in str(conflict.value)
    assert current(conn, dn, "userPrincipalName") == [theirs]


def test_a_deleted_object_is_a_conflict(victim, corp_forest):
    conn, dn, sam = victim
    with pytest.raises(directory.ConflictError, match="no longer exists"):
        directory.guarded_modify(
            conn, "CN=Gone," + corp_forest.lab_ou, "mail", ["x@corp.example.com"], ["y@corp.example.com"]
        )


def test_a_value_too_long_for_ad_is_refused_clearly(victim):
    conn, dn, sam = victim
    with pytest.raises(directory.WriteRefusedError, match="too long or not valid"):
        directory.guarded_modify(conn, dn, "mailNickname", [sam], ["n" * 65])
    assert current(conn, dn, "mailNickname") == [sam]  # nothing half-written


def test_a_duplicate_upn_is_refused_by_ad(victim, corp_forest):
    conn, dn, sam = victim
    taken = next(
        e.attributes["userPrincipalName"] for e in corp_forest.seed.entries if "userPrincipalName" in e.attributes
    )
    with pytest.raises(directory.WriteRefusedError, match="constraint violation"):
        directory.guarded_modify(conn, dn, "userPrincipalName", [f"{sam}@corp.example.com"], [taken])
    assert current(conn, dn, "userPrincipalName") == [f"{sam}@corp.example.com"]


def test_an_object_of_another_domain_is_written_on_a_dc_of_its_domain():
    settings = directory.DirectorySettings(
        servers=["dc1.corp.example.com"],
        bind_user="u",
        bind_password="p",
        base_dns=["DC=corp,DC=example,DC=com"],
        port=3268,
    )
    same = directory.for_writing(settings, "CN=Ann,OU=Staff,DC=corp,DC=example,DC=com")
    assert (same.servers, same.port) == (["dc1.corp.example.com"], 389)
    child = directory.for_writing(settings, "CN=Bo\\, Li,OU=Staff,DC=emea,DC=corp,DC=example,DC=com")
    assert child.servers == ["emea.corp.example.com", "dc1.corp.example.com"] and child.port == 389


def test_writes_never_go_to_the_global_catalog():
    settings = directory.DirectorySettings(servers=["dc"], bind_user="u", bind_password="p", port=3268)
    assert directory.for_writing(settings).port == 389
    assert directory.for_writing(directory.DirectorySettings(["dc"], "u", "p", port=3269)).port == 636


# --------------------------------------------------------------------------- the exact guard (case)


def test_a_secondary_promoted_to_primary_by_hand_is_a_conflict_and_the_primary_stays(victim):
    conn, dn, sam = victim
    primary, scanned = f"SMTP:{sam}@corp.example.com", f"smtp:{sam} old@corp.example.com"
    promoted = f"SMTP:{sam} old@corp.example.com"
    # By hand, after the scan: the secondary becomes the primary, the old primary a secondary.
    conn.modify(dn, {"proxyAddresses": [(ldap3.MODIFY_REPLACE, [promoted, primary.replace("SMTP:", "smtp:")])]})
    with pytest.raises(directory.ConflictError) as conflict:
        directory.guarded_modify(conn, dn, "proxyAddresses", [scanned], [f"smtp:{sam}.old@corp.example.com"])
    assert promoted in conflict.value.current
    assert promoted in current(conn, dn, "proxyAddresses")  # AD's case-blind delete was never sent


def test_a_case_only_hand_edit_of_a_upn_is_not_overwritten(victim):
    conn, dn, sam = victim
    hand = f"{sam.upper()}@corp.example.com"
    conn.modify(dn, {"userPrincipalName": [(ldap3.MODIFY_REPLACE, [hand])]})
    with pytest.raises(directory.ConflictError, match="changed since the scan"):
        directory.guarded_modify(
            conn, dn, "userPrincipalName", [f"{sam}@corp.example.com"], [f"{sam}.new@corp.example.com"]
        )
    assert current(conn, dn, "userPrincipalName") == [hand]


def test_a_case_only_fix_is_written_exactly(victim):
    conn, dn, sam = victim
    written = directory.guarded_modify(
        conn, dn, "mail", [f"{sam}@corp.example.com"], [f"{sam.capitalize()}@corp.example.com"]
    )
    assert current(conn, dn, "mail") == [f"{sam.capitalize()}@corp.example.com"] and written.verified


def test_removing_or_demoting_the_primary_smtp_is_refused(victim):
    conn, dn, sam = victim
    primary = f"SMTP:{sam}@corp.example.com"
    with pytest.raises(directory.WriteRefusedError, match="without its primary SMTP"):
        directory.guarded_modify(conn, dn, "proxyAddresses", [primary], [])
    with pytest.raises(directory.WriteRefusedError, match="without its primary SMTP"):
        directory.guarded_modify(conn, dn, "proxyAddresses", [primary], [primary.replace("SMTP:", "smtp:")])
    assert primary in current(conn, dn, "proxyAddresses")
    # Making another address primary in the same change is the change itself: allowed.
    other = f"smtp:{sam} old@corp.example.com"
    directory.guarded_modify(
        conn,
        dn,
        "proxyAddresses",
        [primary, other],
        [primary.replace("SMTP:", "smtp:"), f"SMTP:{sam}.2@corp.example.com"],
    )
    assert directory.primary_smtp(current(conn, dn, "proxyAddresses")) == [f"SMTP:{sam}.2@corp.example.com"]


def test_when_the_new_value_is_already_there_the_message_says_so(victim):
    conn, dn, sam = victim
    new = f"{sam}.new@corp.example.com"
    conn.modify(dn, {"userPrincipalName": [(ldap3.MODIFY_REPLACE, [new])]})
    with pytest.raises(directory.ConflictError) as conflict:
        directory.guarded_modify(conn, dn, "userPrincipalName", [f"{sam}@corp.example.com"], [new])
    assert "already holds" in str(conflict.value) and "changed since" not in str(conflict.value)
    # A proxy address that is already on the object in another case.
    with pytest.raises(directory.ConflictError, match="already holds"):
        directory.guarded_modify(
            conn, dn, "proxyAddresses", [f"smtp:{sam} old@corp.example.com"], [f"smtp:{sam.upper()}@corp.example.com"]
        )


def test_a_dn_ldap3_cannot_parse_is_refused_before_anything_is_sent(victim, corp_forest):
    conn, dn, sam = victim
    with pytest.raises(directory.WriteRefusedError, match="not a valid DN"):
        directory.guarded_modify(conn, f"CN=<b>x,{corp_forest.lab_ou}", "mail", ["a@x"], ["b@x"])


def test_a_read_back_that_differs_from_the_intended_set_is_reported():
    unverified = directory.WriteResult(before=["a"], intended=["b"], after=["B"])
    assert not unverified.verified
    assert directory.WriteResult(before=["a"], intended=["b", "c"], after=["c", "b"]).verified
    assert not directory.WriteResult(before=["a"], intended=["b"], after=None).verified
