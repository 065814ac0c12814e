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
