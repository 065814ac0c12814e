"""Fixers: for each rule code, how to derive a corrected value. Vetting happens in checks.py.

A fixer takes (value, entry, ctx) and returns the corrected value, or None when no value can be
derived (duplicates, truncating an address, choosing among several domains ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from identityhub.lib.entry import Entry

from .addresses import FAMILIES, AddressFamily, local_part_bad, split_proxy, without_whitespace
from .catalogue import GRAPH_LENGTHS, MAILNICKNAME_MAX, SAM_USER_MAX, UPN_LOCAL_MAX, UPN_MAX, VALUE_MAX
from .charsets import ALIAS, DEDICATED_ALIAS, OTHER_PROXY, SAM, SIP, TARGET_OTHER, X400_X500, CharSet, transliterate
from .domains import clean_domain
from .model import Context
from .values import common_name, is_generated_sam, text, texts

Fixer = Callable[[str, Entry, Context], "str | None"]


def apply_fixes(value: str, codes: list[str], entry: Entry, ctx: Context) -> str | None:
    """Run every failing rule's fixer in order; None as soon as one rule cannot be fixed."""
    for code in codes:
        fixer = FIXERS.get(code)
        value = fixer(value, entry, ctx) if fixer else None
        if value is None:
            return None
    return value


# --- building blocks ------------------------------------------------------------------------


def _on_address(family: AddressFamily, fn: Callable[[str], str | None]) -> Fixer:
    """Apply fn to the address, keeping a "type:" prefix where the attribute has one."""

    def fixer(value: str, entry: Entry, ctx: Context) -> str | None:
        if not family.typed:
            return fn(value)
        kind, _, address = value.partition(":")
        fixed = fn(address)
        return None if fixed is None else f"{kind}:{fixed}"

    return fixer


def _on_local(fn: Callable[[str], str]) -> Callable[[str], str]:
    def apply(address: str) -> str:
        local, at, domain = address.rpartition("@")
        return f"{fn(local)}@{domain}" if at else fn(address)

    return apply


def _on_domain(fn: Callable[[str], str | None]) -> Callable[[str], str | None]:
    def apply(address: str) -> str | None:
        local, at, domain = address.rpartition("@")
        fixed = fn(domain) if at else None
        return None if fixed is None else f"{local}@{fixed}"

    return apply


def _fix_dots(local: str) -> str:
    while ".." in local:
        local = local.replace("..", ".")
    return local.strip(".")


def _one_at(address: str) -> str | None:
    """A doubled '@' (a typo: "mei.davis@@contoso.com") made one; any other malformed address has no
    single obvious fix (which '@' of "a@b@c" is the real one?)."""
    fixed = re.sub("@{2,}", "@", address)
    return fixed if fixed != address and fixed.count("@") == 1 else None


def _swap_domain(ctx: Context) -> Callable[[str], str | None]:
    return _on_domain(lambda _domain: ctx.only_verified_domain)


def _family_fixers(family: AddressFamily) -> dict[str, Fixer]:
    prefix = family.prefix
    fixers = {
        f"{prefix}.nonascii": lambda v, e, c: transliterate(v),
        f"{prefix}.character": _on_address(family, lambda a: _on_local(family.local.remove_bad)(without_whitespace(a))),
        f"{prefix}.localpart": _on_address(family, _on_local(_fix_dots)),
        f"{prefix}.domainpart": _on_address(family, _on_domain(clean_domain)),
        f"{prefix}.format": _on_address(family, _one_at),
    }
    if family.verify:  # a tenant domain only replaces tenant-bound addresses, not external targets
        fixers[f"{prefix}.topleveldomain"] = fixers[f"{prefix}.unverifieddomain"] = _swap(family)
    return fixers


def _swap(family: AddressFamily) -> Fixer:
    def fixer(value: str, entry: Entry, ctx: Context) -> str | None:
        return _on_address(family, _swap_domain(ctx))(value, entry, ctx)

    return fixer


def _remove(charset: CharSet, typed: bool = False) -> Fixer:
    if typed:
        return lambda v, e, c: "{}:{}".format(*_typed(v, charset.remove_bad))
    return lambda v, e, c: charset.remove_bad(v)


def _typed(value: str, fn: Callable[[str], str]) -> tuple[str, str]:
    kind, _, rest = value.partition(":")
    return kind, fn(rest)


def _truncate(limit: int) -> Fixer:
    return lambda v, e, c: v[:limit].rstrip()


# --- derived values for blanks --------------------------------------------------------------


def nickname_from(entry: Entry) -> str | None:
    """An alias as Exchange would make one: the primary address's name, else given.sn, else ids."""
    primary = next((p[5:] for p in texts(entry, "proxyAddresses") if p.startswith("SMTP:")), "")
    address = primary or text(entry, "mail")
    if "@" in address:
        return address.rpartition("@")[0]
    given, surname = text(entry, "givenName").strip(), text(entry, "sn").strip()
    if given and surname:
        return f"{given}.{surname}"
    sam = text(entry, "sAMAccountName")
    return (None if is_generated_sam(sam) else sam) or common_name(entry) or None


def alias_shape(alias: str) -> str:
    """Exchange's alias shape: each period between other characters (no '.x', 'x.', 'x..y')."""
    return _fix_dots(alias)


def display_name_from(entry: Entry) -> str | None:
    given_sn = " ".join(p for p in (text(entry, "givenName").strip(), text(entry, "sn").strip()) if p)
    name = given_sn or common_name(entry)
    return name[:VALUE_MAX] or None


def _upn_from_sam(value: str, entry: Entry, ctx: Context) -> str | None:
    sam, domain = text(entry, "sAMAccountName"), ctx.only_verified_domain
    if is_generated_sam(sam):
        return None  # "$KJ3000-4F1A2B3C4D5E@contoso.com" names nobody
    return f"{sam}@{domain}" if sam and domain else None


def _upn_shorten(limit_for: Callable[[str], int]) -> Fixer:
    def fixer(value: str, entry: Entry, ctx: Context) -> str | None:
        local, _, domain = value.rpartition("@")
        shortened = local[: limit_for(domain)].rstrip(".")
        return None if not shortened or local_part_bad(shortened) else f"{shortened}@{domain}"

    return fixer


def _secondary(value: str, entry: Entry, ctx: Context) -> str:
    return "smtp:" + value.partition(":")[2]


def _smtp_mail(value: str, entry: Entry, ctx: Context) -> str | None:
    mail = text(entry, "mail").strip()
    return f"SMTP:{mail}" if mail else None


def _target_prefix(value: str, entry: Entry, ctx: Context) -> str | None:
    return f"SMTP:{value.strip()}" if "@" in value and split_proxy(value) is None else None


FIXERS: dict[str, Fixer] = {code: fixer for family in FAMILIES for code, fixer in _family_fixers(family).items()}
FIXERS.update({f"{name.lower()}.length": _truncate(limit) for name, limit in GRAPH_LENGTHS.items()})
FIXERS.update({
    "upn.blank": _upn_from_sam,
    "upn.length": _upn_shorten(lambda domain: UPN_MAX - len(domain) - 1),
    "upn.localpart.length": _upn_shorten(lambda domain: UPN_LOCAL_MAX),
    "upn.domainpart.length": lambda v, e, c: _swap_domain(c)(v),
    "proxy.multipleprimary": _secondary,
    "proxy.x500.character": _remove(X400_X500, typed=True),
    "proxy.x400.character": _remove(X400_X500, typed=True),
    "proxy.sip.character": _remove(SIP, typed=True),
    "proxy.other.character": _remove(OTHER_PROXY, typed=True),
    "proxy.nonascii": lambda v, e, c: transliterate(v),
    "mailnickname.length": _truncate(MAILNICKNAME_MAX),
    "mailnickname.period": lambda v, e, c: v.lstrip("."),
    "mailnickname.character": _remove(ALIAS),
    "mailnickname.nonascii": lambda v, e, c: transliterate(v),
    "mailnickname.missing": lambda v, e, c: nickname_from(e),
    "mailnickname.blank": lambda v, e, c: nickname_from(e),
    "mailnickname.dedicated.character": _remove(DEDICATED_ALIAS),
    "mailnickname.dedicated.period": lambda v, e, c: v.strip("."),
    "displayname.length": _truncate(VALUE_MAX),
    "displayname.blank": lambda v, e, c: display_name_from(e),
    "displayname.dedicated.character": lambda v, e, c: v.strip(),
    "samaccountname.length": _truncate(SAM_USER_MAX),
    "samaccountname.character": _remove(SAM),
    "targetaddress.format": _target_prefix,
    "targetaddress.character": _remove(TARGET_OTHER, typed=True),
    "targetaddress.blank": _smtp_mail,
    "targetaddress.mailmatch": _smtp_mail,
})  # fmt: skip
