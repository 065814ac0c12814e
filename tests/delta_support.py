"""Scratch OUs in the lab's Samba forests for the delta tests, removed again afterwards."""

from __future__ import annotations

import itertools

from ldap3 import MODIFY_DELETE, MODIFY_REPLACE

SHOW_DELETED = [("1.2.840.113556.1.4.417", True, None)]
_names = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names):04d}"


def make_ou(conn, dn: str) -> str:
    assert conn.add(dn, ["top", "organizationalUnit"]), conn.result
    return dn


def add_user(conn, ou: str, name: str, domain: str, **attributes) -> str:
    dn = f"CN={name},{ou}"
    values = {"sAMAccountName": name[:20], "userPrincipalName": f"{name}@{domain}", "displayName": name}
    values.update(attributes)
    assert conn.add(dn, ["top", "user"], values), conn.result
    return dn


def add_contact(conn, ou: str, name: str, mail: str) -> str:
    dn = f"CN={name},{ou}"
    assert conn.add(dn, ["top", "contact"], {"mail": mail, "displayName": name}), conn.result
    return dn


def replace(conn, dn: str, attribute: str, values) -> None:
    assert conn.modify(dn, {attribute: [(MODIFY_REPLACE, values)]}), conn.result


def move(conn, dn: str, new_parent: str, new_rdn: str | None = None) -> str:
    rdn = new_rdn or dn.split(",", 1)[0]
    assert conn.modify_dn(dn, rdn, new_superior=new_parent), conn.result
    return f"{rdn},{new_parent}"


def delete(conn, dn: str) -> None:
    assert conn.delete(dn), conn.result


def restore(conn, guid: str, dn: str) -> None:
    """Reanimate a tombstone (AD's "undelete"): drop isDeleted and give it a DN again."""
    conn.search(f"<GUID={guid}>", "(isDeleted=TRUE)", "BASE", attributes=["isDeleted"], controls=SHOW_DELETED)
    tombstone = conn.response[0]["dn"]
    changes = {"isDeleted": [(MODIFY_DELETE, [])], "distinguishedName": [(MODIFY_REPLACE, [dn])]}
    assert conn.modify(tombstone, changes, controls=SHOW_DELETED), conn.result


def guid_of(conn, dn: str) -> str:
    import uuid

    conn.search(dn, "(objectClass=*)", "BASE", attributes=["objectGUID"])
    return str(uuid.UUID(bytes_le=conn.response[0]["raw_attributes"]["objectGUID"][0]))


def remove_tree(conn, dn: str) -> None:
    """Delete dn and everything under it (the tree delete control), if it exists."""
    conn.delete(dn, controls=[("1.2.840.113556.1.4.805", True, None)])


def set_password(conn, dn: str, password: str) -> None:
    value = f'"{password}"'.encode("utf-16-le")
    assert conn.modify(dn, {"unicodePwd": [(MODIFY_REPLACE, [value])]}), conn.result
    replace(conn, dn, "userAccountControl", ["512"])
