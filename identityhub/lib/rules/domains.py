"""Is a mail or UPN domain usable in Entra? Routable per the Public Suffix List, and verified."""

from __future__ import annotations

import re
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

from .model import Context

# Names reserved for private networks or documentation (RFC 2606, 6761, 6762, 8375; ICANN's
# 2024 .internal decision; .corp/.home/.mail never delegated) plus the usual AD habits. Listed
# explicitly because some (home.arpa) sit under a public suffix and would otherwise pass.
NEVER_ROUTABLE = frozenset(
    {"local", "localdomain", "internal", "lan", "corp", "home", "intranet", "private", "mail"}
    | {"localhost", "test", "example", "invalid", "home.arpa"}
)
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    # ICANN section only: a private suffix (blogspot.com, ...) is still a registrable domain.
    return PublicSuffixList(only_icann=True, accept_unknown=False)


@lru_cache(maxsize=65536)
def is_valid_domain(domain: str) -> bool:
    """DNS host-name syntax: labels of letters, digits and inner hyphens, single dots between."""
    return bool(domain) and all(_LABEL.fullmatch(label) for label in domain.split("."))


@lru_cache(maxsize=65536)
def is_routable(domain: str) -> bool:
    """True when the domain lies under an ICANN public suffix, so it can be verified in Entra."""
    domain = domain.lower()
    if any(domain == name or domain.endswith("." + name) for name in NEVER_ROUTABLE):
        return False
    return _psl().privatesuffix(domain, accept_unknown=False) is not None


def domain_error(domain: str, ctx: Context, verify: bool) -> str | None:
    """The one error name for an ASCII domain part, most fundamental first."""
    if not is_valid_domain(domain):
        return "domainpart"
    if not is_routable(domain):
        return "topleveldomain"
    if verify and ctx.verified_domains and domain.lower() not in ctx.verified_domains:
        return "unverifieddomain"
    return None


def clean_domain(domain: str) -> str:
    """Lower-case, keep only DNS characters, drop empty labels and edge hyphens."""
    kept = "".join(c for c in domain.lower() if c.isascii() and (c.isalnum() or c in ".-"))
    labels = (label.strip("-") for label in kept.split("."))
    return ".".join(label for label in labels if label)
