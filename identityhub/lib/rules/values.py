"""Reading text and numbers out of an Entry, whatever the source gave (str, or bytes by mistake)."""

from __future__ import annotations

import re
from functools import lru_cache

from identityhub.lib.entry import Entry

USER_CLASSES = ("user", "inetOrgPerson")
_UNESCAPED_COMMA = re.compile(r"(?<!\\),")
_LAST: tuple[Entry | None, str] = (None, "")


def as_text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def texts(entry: Entry, name: str) -> list[str]:
    return [as_text(v) for v in entry.values(name)]


def text(entry: Entry, name: str) -> str:
    """The first value as text, "" when absent (single-valued attributes only use value [0])."""
    values = entry.values(name)
    return as_text(values[0]) if values else ""


def number(entry: Entry, name: str) -> int:
    """An Integer/Integer8 attribute; AD sends decimal text, some tools 0x-hex. 0 when unreadable."""
    raw = text(entry, name).strip()
    try:
        return int(raw, 16) if raw.lower().startswith("0x") else int(raw or 0)
    except ValueError:
        return 0


def object_class(entry: Entry) -> str:
    """Entry.object_class, or "computer" for computers and gMSAs (which also carry "user").

    Cached by the objectClass values: a scan asks this many times per object, and a directory
    has only a handful of distinct objectClass lists.
    """
    global _LAST
    last_entry, last_class = _LAST
    if last_entry is entry:  # the judges of one object ask in a row
        return last_class
    cls = _class_of(tuple(as_text(c) for c in entry.values("objectClass")))
    _LAST = (entry, cls)  # one tuple, swapped atomically: safe to share between threads
    return cls


@lru_cache(maxsize=1024)
def _class_of(classes: tuple[str, ...]) -> str:
    if "computer" in (c.lower() for c in classes):
        return "computer"
    return Entry("", {"objectclass": list(classes)}).object_class


def is_user(entry: Entry) -> bool:
    return object_class(entry) in USER_CLASSES


@lru_cache(maxsize=1024)  # asked several times per object (keys, derived UPN, duplicates)
def dns_domain(dn: str) -> str:
    """The DNS name of the domain holding dn, from its DC= components ("" when it has none).

    Entra Connect's %Domain.FQDN%: what it appends to sAMAccountName for a user without UPN.
    """
    labels = [rdn.strip()[3:].strip() for rdn in _UNESCAPED_COMMA.split(dn) if rdn.strip()[:3].lower() == "dc="]
    return ".".join(labels).lower()


def derived_upn(entry: Entry) -> str | None:
    """The UPN Entra Connect's default rules build for a user without one: sAMAccountName@domain.

    ("In from AD - User Join": IIF(IsPresent([userPrincipalName]), [userPrincipalName],
    [sAMAccountName] & "@" & %Domain.FQDN%).) None when the user has a UPN or it cannot be built.
    """
    if not is_user(entry) or text(entry, "userPrincipalName").strip():
        return None
    sam, domain = text(entry, "sAMAccountName"), dns_domain(entry.dn)
    return f"{sam}@{domain}" if sam and domain else None


_GENERATED_SAM = re.compile(r"\$[0-9A-Za-z]{6}-[0-9A-Za-z]{12}")


def is_generated_sam(sam: str) -> bool:
    """A sAMAccountName AD made up ($XXXXXX-XXXXXXXXXXXX) for an object created without one."""
    return _GENERATED_SAM.fullmatch(sam.strip()) is not None


def common_name(entry: Entry) -> str:
    """cn, or the value of the DN's first RDN when the source did not return cn."""
    if cn := text(entry, "cn").strip():
        return cn
    rdn = _UNESCAPED_COMMA.split(entry.dn, maxsplit=1)[0]
    return re.sub(r"\\(.)", r"\1", rdn.partition("=")[2]).strip()
