"""Tenant-wide uniqueness: which values count as "the same", and a streaming duplicate finder.

identity_keys() is the single definition of sameness, used by DuplicateFinder here and by the
SQL GROUP BY over stored keys. Entra compares case-insensitively, and UPN, mail and SMTP proxy
addresses share one namespace ("address"): a user's UPN clashes with another object's smtp: proxy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from identityhub.lib.entry import Entry

from .addresses import split_proxy
from .catalogue import RULES
from .exclusions import exclusion_reason
from .model import Context, Finding
from .values import USER_CLASSES, dns_domain, is_user, object_class, text, texts

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


def key_of(attribute: str, raw: str, domain: str = "") -> tuple[str, str] | None:
    """(kind, normalized) of one value: how Entra compares it, whoever holds it.

    A sAMAccountName only has to be unique as the UPN Entra derives from it for a user without one
    (sAMAccountName@<the DNS name of its domain>): so the same name in two domains never clashes,
    and the derived UPN clashes with any other object's UPN, mail or SMTP address.
    """
    if attribute == "sAMAccountName":
        return (ADDRESS, _normalise(f"{raw}@{domain}")) if domain and raw.strip() else None
    if attribute == "proxyAddresses":
        parts = split_proxy(raw.strip())
        if parts is None:
            return None
        kind = parts[0].lower()
        return (ADDRESS if kind == "smtp" else kind), _normalise(parts[1])
    if attribute in ("userPrincipalName", "mail"):
        return ADDRESS, _normalise(raw)
    # mailNickname, targetAddress (whose type prefix is part of the value)
    return attribute.lower(), _normalise(raw)


def _must_be_unique(attribute: str, entry: Entry) -> bool:
    if attribute == "userPrincipalName":
        return is_user(entry)  # only users have UPNs in Entra
    if attribute == "sAMAccountName":
        # Only without a UPN does sAMAccountName have to be unique (it then names the UPN).
        return is_user(entry) and not text(entry, "userPrincipalName").strip()
    return attribute in KEYED_ATTRIBUTES


def value_keys(attribute: str, value: str, entry: Entry, ctx: Context) -> list[tuple[str, str]]:
    """(kind, normalized) keys a value of attribute occupies, for the rules of ctx's rule set."""
    if not _must_be_unique(attribute, entry):
        return []
    key = key_of(attribute, value, dns_domain(entry.dn) if attribute == "sAMAccountName" else "")
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
    domain = dns_domain(entry.dn)
    has_upn = bool(text(entry, "userPrincipalName").strip())
    for attribute in KEYED_ATTRIBUTES:
        if attribute == "sAMAccountName" and has_upn:
            continue  # it only occupies the derived UPN, and only without a real one
        for raw in texts(entry, attribute):
            key = key_of(attribute, raw, domain)
            if key is not None and key[1]:
                keys.add(key)
    return keys


class SuggestionClaims:
    """Which object's suggestion may take a value: a value two objects' suggestions want goes to neither.

    check_entry() already refuses a suggestion that takes a value some object holds (is_taken);
    two objects holding one bad value would still be offered the same fix, recreating the
    duplicate. Memory: one entry per suggested value. The scans do this in SQL
    (pipeline.vet_suggestions).
    """

    def __init__(self, ctx: Context):
        self._ctx = ctx
        self._owners: dict[tuple[str, str], str | None] = {}  # key -> the one object wanting it, else None

    def claim(self, entry: Entry, finding: Finding) -> list[tuple[str, str]]:
        """Register the finding's suggestion; returns the keys it takes, for keeps()."""
        if not finding.suggestion:
            return []
        owner = _owner(entry)
        keys = value_keys(finding.attribute, finding.suggestion, entry, self._ctx)
        for key in keys:
            self._owners[key] = owner if self._owners.get(key, owner) == owner else None
        return keys

    def keeps(self, entry: Entry, keys: list[tuple[str, str]]) -> bool:
        owner = _owner(entry)
        return all(self._owners.get(key) == owner for key in keys)


def _owner(entry: Entry) -> str:
    return f"{entry.source}{_SEP}{entry.dn}"


def unique_suggestions(found: Iterable[tuple[Entry, Finding]], ctx: Context) -> None:
    """Withhold every suggestion another object's suggestion would also take (see SuggestionClaims)."""
    claims = SuggestionClaims(ctx)
    claimed = [(entry, f, claims.claim(entry, f)) for entry, f in found]
    for entry, f, keys in claimed:
        if keys and not claims.keeps(entry, keys):
            f.suggestion = None


@dataclass(frozen=True, slots=True)
class Holder:
    """One object's hold on a clashing value: what the per-holder finding is about."""

    ref: object  # whatever tells the caller's objects apart (an index, a GUID)
    dn: str
    object_class: str
    attribute: str
    raw: str


def clash_findings(kind: str, value: str, holders: list[Holder]) -> Iterator[tuple[Holder, str, str]]:
    """(holder, rule code, detail) for every held value of a key two or more objects hold.

    Every holder gets a finding that names the others and the attribute on each side, and says
    what Entra's duplicate attribute resiliency does with it; the code (and so the severity)
    follows from that. One definition for check_export's DuplicateFinder and the scans' SQL.
    """
    for holder in holders:
        others = [h for h in holders if h.ref != holder.ref]
        if not others:
            continue
        code = clash_rule(kind, holder, others)
        yield holder, code, _clash_detail(kind, value, holder, others, code)


def clash_rule(kind: str, holder: Holder, others: list[Holder]) -> str:
    base = duplicate_rule(holder.attribute, kind)
    if kind != ADDRESS:
        return base
    if holder.object_class in USER_CLASSES and any(o.object_class == "group" for o in others):
        return "duplicate.group"
    if holder.attribute == "mail" and not any(o.attribute == "mail" for o in others):
        return "duplicate.mail.address"
    return base


_MAX_NAMED = 3
_EFFECTS = {
    "duplicate.upn": "If this user reaches Entra after another holder, duplicate attribute resiliency "
    "quarantines its UPN and gives it <name>+<4 digits>@<tenant>.onmicrosoft.com: the user cannot sign "
    "in as {value} until one side changes.",
    "duplicate.samaccountname": "This user has no userPrincipalName, so Entra derives the UPN {value} from "
    "sAMAccountName {raw}. If it reaches Entra after another holder, resiliency quarantines that UPN and "
    "gives it <name>+<4 digits>@<tenant>.onmicrosoft.com: the user cannot sign in as {value}.",
    "duplicate.smtp": "If this object reaches Entra after another holder, duplicate attribute resiliency "
    "quarantines {value} on it and it syncs without the address: mail to {value} reaches only the object "
    "that keeps it.",
    "duplicate.mail.address": "mail becomes an SMTP address in Entra. If this object reaches Entra after "
    "another holder, resiliency quarantines {value} on it: mail to {value} reaches only the object that keeps it.",
    "duplicate.mail": "mail must be unique and resiliency does not cover it: the object Entra receives later "
    "fails to sync with AttributeValueMustBeUnique.",
    "duplicate.group": "A user whose UPN or SMTP address clashes with a group's SMTP address is not "
    "quarantined (a documented limit of duplicate attribute resiliency): the user fails to export.",
    "duplicate.proxy": "Resiliency only quarantines UPN and SMTP addresses: the object Entra receives later "
    "fails to sync with AttributeValueMustBeUnique.",
    "duplicate.mailnickname": "Exchange Online needs a unique alias; it changes one of them on provisioning.",
    "duplicate.targetaddress": "Mail to {value} would be routed to two recipients.",
}


def _clash_detail(kind: str, value: str, holder: Holder, others: list[Holder], code: str) -> str:
    """ "Here as <attribute>; also held by <dn> (<attributes>); ... <what resiliency does>"."""
    by_object: dict[object, list[Holder]] = {}
    for other in others:
        by_object.setdefault(other.ref, []).append(other)
    named = [f"{group[0].dn} ({', '.join(map(_held_as, group))})" for group in by_object.values()]
    effect = _EFFECTS[code].format(value=value if kind == ADDRESS else holder.raw, raw=holder.raw)
    holders = f"Here as {_held_as(holder)}; also held by {'; '.join(named)}."
    room = DETAIL_MAX - len(effect) - 1  # the effect is never cut; a long list of holders is
    if len(holders) > room:
        holders = holders[: room - 4].rstrip() + " ..."
    return f"{holders} {effect}"


def _held_as(holder: Holder) -> str:
    if holder.attribute == "sAMAccountName":
        return f"the UPN derived from sAMAccountName {holder.raw}"
    if holder.attribute == "proxyAddresses" and holder.raw[:5].lower() == "smtp:":
        return f"proxyAddresses {holder.raw}, {'primary' if holder.raw.startswith('SMTP:') else 'secondary'}"
    if holder.attribute == "proxyAddresses":
        return f"proxyAddresses {holder.raw}"
    return holder.attribute


DETAIL_MAX = 500  # the finding's detail column


class DuplicateFinder:
    """Streaming, O(n) duplicate detection across any number of sources.

    Memory per distinct value: its 64-bit hash and one compact string "ref|attribute|raw value";
    per object with keys: (dn, guid, source, class). Never the entries. Hash collisions cost
    nothing: findings() regroups every shared bucket by the exact key.
    """

    def __init__(self, ctx: Context | None = None):
        self._ctx = ctx or _DEFAULT
        self._refs: list[tuple[str, str | None, str, str]] = []
        # hash -> one packed holder, or a list once a second holder arrives (most values have one).
        self._holders: dict[int, str | list[str]] = {}

    def add(self, entry: Entry) -> None:
        keys = identity_keys(entry, self._ctx)
        if not keys:
            return
        ref = len(self._refs)
        self._refs.append((entry.dn, entry.guid, entry.source, object_class(entry)))
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
        return any(self._key(*_unpack(holder)) == (kind, value) for holder in holders)

    def findings(self) -> Iterator[Finding]:
        """One finding per held value of every key held by two or more distinct objects."""
        for finding, _object_class in self.findings_with_class():
            yield finding

    def findings_with_class(self) -> Iterator[tuple[Finding, str]]:
        """findings(), each with the holder's object class."""
        for holders in self._holders.values():
            if isinstance(holders, str):
                continue
            by_key: dict[tuple[str, str] | None, list[Holder]] = {}
            for ref, attribute, raw in map(_unpack, holders):
                dn, _guid, _source, cls = self._refs[ref]
                by_key.setdefault(self._key(ref, attribute, raw), []).append(Holder(ref, dn, cls, attribute, raw))
            for key, group in by_key.items():
                for holder, code, detail in clash_findings(*key, group):
                    yield self._finding(code, holder, detail), holder.object_class

    def _key(self, ref: int, attribute: str, raw: str) -> tuple[str, str] | None:
        return key_of(attribute, raw, dns_domain(self._refs[ref][0]) if attribute == "sAMAccountName" else "")

    def _finding(self, code: str, holder: Holder, detail: str) -> Finding:
        rule = RULES[code]
        dn, guid, source, _cls = self._refs[holder.ref]
        return Finding(code, rule.severity, rule.error, holder.attribute, holder.raw, None, dn, guid, source, detail)


_SEP = "\x1f"
_ATTRIBUTE_INDEX = {name: str(i) for i, name in enumerate(KEYED_ATTRIBUTES)}


def _unpack(holder: str) -> tuple[int, str, str]:
    ref, attribute, raw = holder.split(_SEP, 2)
    return int(ref), KEYED_ATTRIBUTES[int(attribute)], raw
