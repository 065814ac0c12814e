"""Builders shared by the tests/test_rules_*.py files (no tests here)."""

from __future__ import annotations

import itertools
import uuid

from identityhub.lib.entry import Entry
from identityhub.lib.rules import Context, check_entry

MT = Context()
VERIFIED = Context(verified_domains=frozenset({"contoso.com", "contoso.onmicrosoft.com"}))
DEDICATED = Context(ruleset="dedicated")

_CLASSES = {
    "user": ["top", "person", "organizationalPerson", "user"],
    "inetOrgPerson": ["top", "person", "organizationalPerson", "user", "inetOrgPerson"],
    "contact": ["top", "person", "organizationalPerson", "contact"],
    "group": ["top", "group"],
    "computer": ["top", "person", "organizationalPerson", "user", "computer"],
}
_COUNTER = itertools.count()


def _defaults(cls: str) -> dict:
    """Unique, valid identifiers so that two made entries never clash unless a test says so."""
    n = next(_COUNTER)
    user = {"sAMAccountName": f"user{n}", "userPrincipalName": f"user{n}@contoso.com"}
    return {
        "user": user,
        "inetOrgPerson": user,
        "contact": {"mail": f"ext{n}@fabrikam.com", "proxyAddresses": [f"SMTP:ext{n}@fabrikam.com"]},
        "group": {"groupType": "-2147483646", "sAMAccountName": f"Group{n}"},
        "computer": {"sAMAccountName": f"PC{n}$"},
    }[cls]


def make(cls: str = "user", dn: str | None = None, source: str = "forest-a", **attrs) -> Entry:
    """An entry of class cls; keyword arguments are AD attribute names, None removes a default."""
    merged = {**_defaults(cls), **attrs}
    attributes = {"objectclass": _CLASSES[cls], "objectguid": [uuid.uuid4().bytes_le]}
    for name, value in merged.items():
        if value is not None:
            attributes[name.lower()] = value if isinstance(value, list) else [value]
    return Entry(dn or f"CN={cls} {uuid.uuid4().hex[:6]},OU=Staff,DC=contoso,DC=com", attributes, source)


def codes(entry: Entry, ctx: Context = MT) -> set[str]:
    return {f.rule for f in check_entry(entry, ctx)}


def findings_for(entry: Entry, rule: str, ctx: Context = MT) -> list:
    return [f for f in check_entry(entry, ctx) if f.rule == rule]
