"""The two plain values the rules exchange with their callers: the scan context and a finding."""

from __future__ import annotations

from dataclasses import dataclass, field

RULESETS = ("multi-tenant", "dedicated")


@dataclass(frozen=True, slots=True)
class Context:
    """What a scan knows beyond the entry itself.

    verified_domains: the tenant's verified domains. When given, mail domains are judged against
    them; when empty, only routability (Public Suffix List) can be judged.
    """

    ruleset: str = "multi-tenant"
    verified_domains: frozenset[str] = field(default_factory=frozenset)
    licence_readiness: bool = False  # judge users' c as their usage location (rules/licensing.py)

    def __post_init__(self):
        if self.ruleset not in RULESETS:
            raise ValueError(f"unknown ruleset {self.ruleset!r}; expected one of {RULESETS}")
        # Entra compares domains case-insensitively; normalise once here, not per value.
        normalised = frozenset(d.strip().lower().rstrip(".") for d in self.verified_domains)
        object.__setattr__(self, "verified_domains", normalised)

    @property
    def only_verified_domain(self) -> str | None:
        """The domain to substitute in a suggestion, when the choice is unambiguous.

        Every tenant also has its initial <name>.onmicrosoft.com domain; nobody wants it as a
        replacement, so it does not count against "exactly one".
        """
        custom = [d for d in self.verified_domains if not d.endswith(".onmicrosoft.com")]
        return custom[0] if len(custom) == 1 else None


@dataclass(slots=True)
class Finding:
    rule: str
    severity: str
    error: str
    attribute: str
    value: str
    suggestion: str | None
    dn: str
    guid: str | None
    source: str
    detail: str = ""  # what the rule alone cannot say: a derived value, the other holders of a duplicate
