"""Parsing and judging of name@domain values (UPN, mail, SMTP and SIP proxies, targetAddress)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .charsets import EMAIL_LOCAL, UPN_LOCAL, CharSet
from .domains import domain_error
from .model import Context

# A proxy type prefix: SMTP, X500, SIP, EUM, X400, MS, CCMAIL, NOTES, ... (no spaces).
_PROXY_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")


@dataclass(frozen=True, slots=True)
class AddressFamily:
    """How one attribute's addresses are judged; prefix is the rule-code prefix."""

    prefix: str
    local: CharSet
    verify: bool  # judge the domain against the tenant's verified domains
    typed: bool = False  # the attribute value carries a "SMTP:" type prefix


UPN = AddressFamily("upn", UPN_LOCAL, verify=True)
MAIL = AddressFamily("mail", EMAIL_LOCAL, verify=True)
PROXY_SMTP = AddressFamily("proxy.smtp", EMAIL_LOCAL, verify=True, typed=True)
# targetAddress routes to an external or hybrid address; it need not be a tenant domain.
TARGET_SMTP = AddressFamily("targetaddress.smtp", EMAIL_LOCAL, verify=False, typed=True)
FAMILIES = (UPN, MAIL, PROXY_SMTP, TARGET_SMTP)
ADDRESS_ERRORS = (
    "nonascii", "character", "format", "localpart", "domainpart", "topleveldomain", "unverifieddomain",
)  # fmt: skip


def split_address(address: str) -> tuple[str, str] | None:
    """(local, domain) when there is exactly one @ with text on both sides, else None."""
    local, at, domain = address.partition("@")
    if not at or not local or not domain or "@" in domain:
        return None
    return local, domain


def split_proxy(value: str) -> tuple[str, str] | None:
    """(type, address) of a "type:address" value, or None when it has no valid type prefix."""
    kind, colon, address = value.partition(":")
    if not colon or not address or not _PROXY_TYPE.fullmatch(kind):
        return None
    return kind, address


def local_part_bad(local: str) -> bool:
    """Dots may only separate atoms: no leading or trailing dot ('.@'), no '..'."""
    return local.startswith(".") or local.endswith(".") or ".." in local


_WHITESPACE = re.compile(r"\s")


def without_whitespace(address: str) -> str:
    return _WHITESPACE.sub("", address)


def address_errors(address: str, family: AddressFamily, ctx: Context) -> list[str]:
    """Error names (see ADDRESS_ERRORS) for one address; each problem is named once.

    Whitespace is never allowed in an address; wherever it sits (a trailing space, one after the
    @) it is one cause, a character error, and the rest is judged without it, so a stray space is
    not reported again as a bad domain.
    """
    errors = [] if address.isascii() else ["nonascii"]
    if _WHITESPACE.search(address):
        errors.append("character")
        address = without_whitespace(address)
    parts = split_address(address)
    if parts is None:
        if "character" not in errors and family.local.has_bad(address.replace("@", "")):
            errors.append("character")
        return [*errors, "format"]
    local, domain = parts
    if "character" not in errors and family.local.has_bad(local):
        errors.append("character")
    if local_part_bad(local):
        errors.append("localpart")
    if domain.isascii():  # a non-ASCII domain is already reported as nonascii
        error = domain_error(domain, ctx, family.verify)
        errors += [error] if error else []
    return errors
