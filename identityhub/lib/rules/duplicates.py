"""Tenant-wide uniqueness: which values count as "the same", and a streaming duplicate finder.

identity_keys() is the single definition of sameness, used by DuplicateFinder here and by the
SQL GROUP BY over stored keys. Entra compares case-insensitively, and UPN, mail and SMTP proxy
addresses share one namespace ("address"): a user's UPN clashes with another object's smtp: proxy.
"""

from __future__ import annotations

from collections.abc import Iterator

from identityhub.lib.entry import Entry

from .addresses import split_proxy
from .catalogue import RULES
from .exclusions import exclusion_reason
from .model import Context, Finding
from .values import is_user, text, texts

ADDRESS = "address"
_DEFAULT = Context()
_RULE_BY_ATTRIBUTE = {
    "userPrincipalName": "duplicate.upn",
    "mail": "duplicate.mail",
    "mailNickname": "duplicate.mailnickname",
    "sAMAccountName": "duplicate.samaccountname",
    "targetAddress": "duplicate.targetaddress",
}
KEYED_ATTRIBUTES = ("userPrincipalName", "mail", "proxyAddresses", "mailNickname", "sAMAccountName", "targetAddress")


def duplicate_rule(attribute: str, kind: str) -> str:
    if attribute == "proxyAddresses":
        return "duplicate.smtp" if kind == ADDRESS else "duplicate.proxy"
    return _RULE_BY_ATTRIBUTE[attribute]


def _normalise(value: str) -> str:
    return value.strip().lower()


def key_of(attribute: str, raw: str) -> tuple[str, str] | None:
    """(kind, normalized) of one value: how Entra compares it, whoever holds it."""
    if attribute == "proxyAddresses":
        parts = split_proxy(raw.strip())
        if parts is None:
            return None
        kind = parts[0].lower()
        return (ADDRESS if kind == "smtp" else kind), _normalise(parts[1])
    if attribute in ("userPrincipalName", "mail"):
        return ADDRESS, _normalise(raw)
    # mailNickname, sAMAccountName, targetAddress (whose type prefix is part of the value)
    return attribute.lower(), _normalise(raw)


def _must_be_unique(attribute: str, entry: Entry) -> bool:
    if attribute == "userPrincipalName":
        return is_user(entry)  # only users have UPNs in Entra
    if attribute == "sAMAccountName":
        # Only without a UPN does sAMAccountName have to be unique (it then names the UPN).
        return is_user(entry) and not text(entry, "userPrincipalName")
    return attribute in KEYED_ATTRIBUTES


def value_keys(attribute: str, value: str, entry: Entry, ctx: Context) -> list[tuple[str, str]]:
    """(kind, normalized) keys a value of attribute occupies, for the rules of ctx's rule set."""
    key = key_of(attribute, value) if _must_be_unique(attribute, entry) else None
    if key is None or not key[1] or ctx.ruleset not in RULES[duplicate_rule(attribute, key[0])].rulesets:
        return []
    return [key]


def identity_keys(entry: Entry, ctx: Context | None = None) -> list[tuple[str, str, str, str]]:
    """(kind, normalized_value, attribute, raw_value) for every value that must be unique.

    Objects Entra Connect does not sync hold no keys.
    """
    ctx = ctx or _DEFAULT
    if exclusion_reason(entry, ctx):
        return []
    return identity_keys_in_scope(entry, ctx)


def identity_keys_in_scope(entry: Entry, ctx: Context) -> list[tuple[str, str, str, str]]:
    """identity_keys for an entry the caller already found in scope (see check_in_scope)."""
    keys = []
    for attribute in KEYED_ATTRIBUTES:
        values = texts(entry, attribute)
        for raw in values if attribute == "proxyAddresses" else values[:1]:
            keys += [(kind, norm, attribute, raw) for kind, norm in value_keys(attribute, raw, entry, ctx)]
    return keys


def all_keys(entry: Entry) -> set[tuple[str, str]]:
    """Every (kind, normalized) key the entry's values could occupy under any rule set: a superset
    of identity_keys(), to find an object's stored keys by value."""
    keys = set()
    for attribute in KEYED_ATTRIBUTES:
        for raw in texts(entry, attribute):
            key = key_of(attribute, raw)
            if key is not None and key[1]:
                keys.add(key)
    return keys


class DuplicateFinder:
    """Streaming, O(n) duplicate detection across any number of sources.

    Memory per distinct value: its 64-bit hash and one compact string "ref|attribute|raw value";
    per object with keys: (dn, guid, source). Never the entries. Hash collisions cost nothing:
    findings() regroups every shared bucket by the exact key.
    """

    def __init__(self, ctx: Context | None = None):
        self._ctx = ctx or _DEFAULT
        self._refs: list[tuple[str, str | None, str]] = []
        # hash -> one packed holder, or a list once a second holder arrives (most values have one).
        self._holders: dict[int, str | list[str]] = {}

    def add(self, entry: Entry) -> None:
        keys = identity_keys(entry, self._ctx)
        if not keys:
            return
        ref = len(self._refs)
        self._refs.append((entry.dn, entry.guid, entry.source))
        for kind, norm, attribute, raw in keys:
            bucket = hash((kind, norm))
            holder = f"{ref}{_SEP}{_ATTRIBUTE_INDEX[attribute]}{_SEP}{raw}"
            current = self._holders.get(bucket)
            if current is None:
                self._holders[bucket] = holder
            elif isinstance(current, str):
                self._holders[bucket] = [current, holder]
            else:
                current.append(holder)

    def is_taken(self, kind: str, value: str) -> bool:
        """For check_value/check_entry: does any added object hold this (kind, normalized) key?"""
        holders = self._holders.get(hash((kind, value)), [])
        holders = [holders] if isinstance(holders, str) else holders
        return any(key_of(attribute, raw) == (kind, value) for _, attribute, raw in map(_unpack, holders))

    def findings(self) -> Iterator[Finding]:
        """One finding per held value of every key held by two or more distinct objects."""
        for holders in self._holders.values():
            if isinstance(holders, str):
                continue
            by_key: dict[tuple[str, str] | None, list] = {}
            for ref, attribute, raw in map(_unpack, holders):
                by_key.setdefault(key_of(attribute, raw), []).append((ref, attribute, raw))
            for key, group in by_key.items():
                if len({ref for ref, _, _ in group}) > 1:
                    yield from (self._finding(duplicate_rule(a, key[0]), a, raw, ref) for ref, a, raw in group)

    def _finding(self, code: str, attribute: str, value: str, ref: int) -> Finding:
        rule = RULES[code]
        dn, guid, source = self._refs[ref]
        return Finding(code, rule.severity, rule.error, attribute, value, None, dn, guid, source)


_SEP = "\x1f"
_ATTRIBUTE_INDEX = {name: str(i) for i, name in enumerate(KEYED_ATTRIBUTES)}


def _unpack(holder: str) -> tuple[int, str, str]:
    ref, attribute, raw = holder.split(_SEP, 2)
    return int(ref), KEYED_ATTRIBUTES[int(attribute)], raw
