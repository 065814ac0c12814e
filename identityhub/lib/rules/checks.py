"""Per-object rules: judge each attribute value, derive and vet suggestions, build findings."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from identityhub.lib.entry import Entry

from .addresses import MAIL, PROXY_SMTP, TARGET_SMTP, UPN, AddressFamily, address_errors, split_address, split_proxy
from .catalogue import (
    CERTIFICATE_COUNT_MAX,
    GRAPH_LENGTHS,
    GROUP_MEMBERS_MAX,
    MAILNICKNAME_MAX,
    PROXY_COUNT_MAX,
    RULES,
    SAM_USER_MAX,
    UPN_DOMAIN_MAX,
    UPN_LOCAL_MAX,
    UPN_MAX,
    VALUE_MAX,
)
from .charsets import ALIAS, DEDICATED_ALIAS, OTHER_PROXY, SAM, SIP, TARGET_OTHER, X400_X500
from .duplicates import DETAIL_MAX, duplicate_rule, identity_keys, value_keys
from .exclusions import exclusion_reason
from .licensing import judge_country
from .model import Context, Finding
from .suggestions import alias_shape, apply_fixes
from .values import derived_upn, dns_domain, is_generated_sam, is_user, object_class, text, texts

Judge = Callable[[str, Entry, Context], list[str]]
IsTaken = Callable[[str, str], bool]


def _never_taken(kind: str, value: str) -> bool:
    return False


# --- judges: value -> failing rule codes (for both rule sets; filtered by _judge) -------------


def _address(address: str, family: AddressFamily, ctx: Context, entry: Entry | None = None) -> list[str]:
    # object_class(entry), not entry.object_class: cached per object, and this runs per address.
    if entry is not None and family.verify and object_class(entry) == "contact":
        # A mail contact stands for someone outside the organisation: its addresses are meant
        # to be in other domains, and Entra syncs them as they are.
        family = dataclasses.replace(family, verify=False)
    return [f"{family.prefix}.{error}" for error in address_errors(address, family, ctx)]


def _too_long(code: str, value: str, limit: int) -> list[str]:
    return [code] if len(value) > limit else []


def judge_upn(value: str, entry: Entry, ctx: Context) -> list[str]:
    if not value.strip():
        return ["upn.blank"]
    codes = _address(value, UPN, ctx)  # lengths last, so fixes clean characters before truncating
    local, _, domain = value.rpartition("@")
    codes += _too_long("upn.length", value, UPN_MAX)
    codes += _too_long("upn.localpart.length", local, UPN_LOCAL_MAX)
    return codes + _too_long("upn.domainpart.length", domain, UPN_DOMAIN_MAX)


def judge_mail(value: str, entry: Entry, ctx: Context) -> list[str]:
    if not value:
        return []  # mail is optional
    return _address(value, MAIL, ctx, entry) + _too_long("mail.length", value, VALUE_MAX)


# Non-SMTP proxy types, each judged by its own syntax (IdFix flagged Exchange's own X400/X500).
_TYPED_PROXY = {
    "x500": (X400_X500, "proxy.x500.character"),
    "x400": (X400_X500, "proxy.x400.character"),
    "sip": (SIP, "proxy.sip.character"),
}


def judge_proxy(value: str, entry: Entry, ctx: Context) -> list[str]:
    codes = _too_long("proxy.length", value, VALUE_MAX)
    parts = split_proxy(value)
    if parts is None:
        return [*codes, "proxy.format"]
    kind, address = parts[0].lower(), parts[1]
    if kind == "smtp":  # the type is the whole prefix, never a substring match
        return _address(address, PROXY_SMTP, ctx, entry) + codes
    codes += [] if address.isascii() else ["proxy.nonascii"]
    charset, code = _TYPED_PROXY.get(kind, (OTHER_PROXY, "proxy.other.character"))
    codes += [code] if charset.has_bad(address) else []
    return codes + (["proxy.sip.format"] if kind == "sip" and split_address(address) is None else [])


def judge_mailnickname(value: str, entry: Entry, ctx: Context) -> list[str]:
    if not value.strip():
        codes = ["mailnickname.blank"] if object_class(entry) != "group" else []
        return codes + (["mailnickname.missing"] if is_user(entry) and entry.values("proxyAddresses") else [])
    checks = [
        ("mailnickname.nonascii", not value.isascii()),
        ("mailnickname.character", ALIAS.has_bad(value)),
        ("mailnickname.dedicated.character", DEDICATED_ALIAS.has_bad(value)),
        ("mailnickname.period", value.startswith(".")),
        ("mailnickname.dedicated.period", value.startswith(".") or value.endswith(".")),
        ("mailnickname.length", len(value) > MAILNICKNAME_MAX),
    ]
    return [code for code, failed in checks if failed]


def judge_displayname(value: str, entry: Entry, ctx: Context) -> list[str]:
    if not value.strip():
        # Microsoft: "if present, must not be blank"; only Dedicated requires it (on groups).
        required = ctx.ruleset == "dedicated" and object_class(entry) == "group"
        return ["displayname.blank"] if value or required else []
    edge = ["displayname.dedicated.character"] if value != value.strip() else []
    return edge + _too_long("displayname.length", value, VALUE_MAX)


def judge_samaccountname(value: str, entry: Entry, ctx: Context) -> list[str]:
    codes = ["samaccountname.character"] if SAM.has_bad(value) else []
    return codes + (_too_long("samaccountname.length", value, SAM_USER_MAX) if is_user(entry) else [])


def judge_targetaddress(value: str, entry: Entry, ctx: Context) -> list[str]:
    if not value.strip():
        needed = object_class(entry) != "group" and not entry.values("homeMDB")
        return ["targetaddress.blank"] if needed else []
    parts = split_proxy(value)
    if parts is None:
        codes = ["targetaddress.format"]
    elif parts[0].lower() == "smtp":
        codes = _address(parts[1], TARGET_SMTP, ctx)
    else:
        codes = ["targetaddress.character"] if TARGET_OTHER.has_bad(parts[1]) else []
    mail = text(entry, "mail").strip()
    codes += ["targetaddress.mailmatch"] if mail and value.lower() != f"smtp:{mail.lower()}" else []
    return codes + _too_long("targetaddress.length", value, VALUE_MAX)


def _length_judge(name: str, limit: int) -> Judge:
    return lambda value, entry, ctx: _too_long(f"{name.lower()}.length", value, limit)


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    name: str  # AD spelling
    judge: Judge
    multi: bool = False
    users_only: bool = False
    absent_matters: bool = False  # has a blank rule, so an absent value is judged as ""

    def values(self, entry: Entry) -> list[str]:
        """Values to judge; for single-valued attributes only the first, like Entra Connect."""
        values = texts(entry, self.name)
        if self.multi:
            return values
        return values[:1] or ([""] if self.absent_matters else [])


_SPECS = [
    AttributeSpec("userPrincipalName", judge_upn, users_only=True, absent_matters=True),
    AttributeSpec("mail", judge_mail),
    AttributeSpec("mailNickname", judge_mailnickname, absent_matters=True),
    AttributeSpec("proxyAddresses", judge_proxy, multi=True),
    AttributeSpec("targetAddress", judge_targetaddress, absent_matters=True),
    AttributeSpec("displayName", judge_displayname, absent_matters=True),
    AttributeSpec("sAMAccountName", judge_samaccountname),
    *(AttributeSpec(name, _length_judge(name, limit)) for name, limit in GRAPH_LENGTHS.items()),
    AttributeSpec("c", judge_country, users_only=True, absent_matters=True),  # licensing.py
]
SPECS: dict[str, AttributeSpec] = {spec.name.lower(): spec for spec in _SPECS}


# --- object-level rules: counts and cross-value checks ---------------------------------------

Hit = tuple[str, str, str]  # (rule code, attribute, value)


def _counts(entry: Entry) -> list[Hit]:
    limits = [
        ("proxy.count", "proxyAddresses", PROXY_COUNT_MAX),
        ("usercertificate.count", "userCertificate", CERTIFICATE_COUNT_MAX),
        ("usersmimecertificate.count", "userSMIMECertificate", CERTIFICATE_COUNT_MAX),
    ]
    hits = [(code, name, str(n)) for code, name, limit in limits if (n := len(entry.values(name))) > limit]
    members = len(entry.values("member"))
    if object_class(entry) == "group" and members >= GROUP_MEMBERS_MAX:
        hits.append(("group.membercount", "member", str(members)))
    return hits


def _extra_primaries(entry: Entry) -> list[Hit]:
    """Every upper-case SMTP: value but one: the one matching mail, else the first."""
    primaries = [p for p in texts(entry, "proxyAddresses") if p.startswith("SMTP:")]
    if len(primaries) < 2:
        return []
    mail = text(entry, "mail").lower()
    keep = next((p for p in primaries if p[5:].lower() == mail), primaries[0])
    return [("proxy.multipleprimary", "proxyAddresses", p) for p in primaries if p is not keep]


_OBJECT_CHECKS = (_counts, _extra_primaries)


# --- the API ---------------------------------------------------------------------------------


def _judge(spec: AttributeSpec, value: str, entry: Entry, ctx: Context) -> list[str]:
    if spec.users_only and not is_user(entry):
        return []
    return [code for code in spec.judge(value, entry, ctx) if ctx.ruleset in RULES[code].rulesets]


def _finding(
    code: str, attribute: str, value: str, suggestion: str | None, entry: Entry, ctx: Context, detail: str = ""
) -> Finding:
    rule = RULES[code]
    severity = rule.severity_in(ctx.ruleset)
    return Finding(code, severity, rule.error, attribute, value, suggestion, entry.dn, entry.guid, entry.source, detail)


def check_entry(entry: Entry, ctx: Context, is_taken: IsTaken | None = None) -> list[Finding]:
    """Every per-object finding (duplicates across objects come from DuplicateFinder)."""
    if exclusion_reason(entry, ctx):
        return []
    return check_in_scope(entry, ctx, is_taken)


def check_in_scope(entry: Entry, ctx: Context, is_taken: IsTaken | None = None) -> list[Finding]:
    """check_entry for an entry the caller already found in scope (exclusion_reason() is None).

    A scan asks exclusion_reason() once per object; asking again here and in identity_keys()
    was a tenth of its rule time (bench/scan_bench.py, issue 3).
    """
    findings = []
    for spec in _SPECS:
        for value in spec.values(entry):
            codes = _judge(spec, value, entry, ctx)
            findings += _findings(spec, value, codes, entry, ctx, is_taken)
    for check in _OBJECT_CHECKS:
        for code, attribute, value in check(entry):
            if ctx.ruleset in RULES[code].rulesets:
                spec = SPECS.get(attribute.lower(), AttributeSpec(attribute, lambda v, e, c: []))
                findings += _findings(spec, value, [code], entry, ctx, is_taken)
    return findings + _derived_upn_findings(entry, ctx, is_taken)


def _derived_upn_findings(entry: Entry, ctx: Context, is_taken: IsTaken | None) -> list[Finding]:
    """The UPN rules on the value Entra Connect derives for a user without userPrincipalName."""
    derived = derived_upn(entry)
    if derived is None:
        return []
    spec = SPECS["userprincipalname"]
    codes = _judge(spec, derived, entry, ctx)
    if not codes:
        return []
    # The suggestion is a UPN to set; none from a name AD generated ($XXXXXX-XXXXXXXXXXXX).
    sam = text(entry, "sAMAccountName")
    suggestion = None if is_generated_sam(sam) else suggest(spec, derived, codes, entry, ctx, is_taken)
    detail = (
        f"The user has no userPrincipalName: Entra Connect derives {derived} from sAMAccountName {sam} "
        f"and the domain's DNS name {dns_domain(entry.dn)}."
    )[:DETAIL_MAX]
    # The value is what AD holds (nothing): a fix adds a UPN, and a guarded write deletes the exact
    # old value, which a derived one is not. The derived value is in the detail.
    return [_finding("upn.derived." + code[4:], spec.name, "", suggestion, entry, ctx, detail) for code in codes]


def _findings(spec, value, codes, entry, ctx, is_taken) -> list[Finding]:
    if not codes:
        return []
    suggestion = suggest(spec, value, codes, entry, ctx, is_taken)
    return [_finding(code, spec.name, value, suggestion, entry, ctx) for code in codes]


def suggest(spec, value, codes, entry, ctx, is_taken=None) -> str | None:
    """A corrected value that check_value accepts (every rule, not taken), else None."""
    candidate = value
    for _ in range(3):  # a fix can expose another problem (e.g. transliteration leaves '..')
        candidate = apply_fixes(candidate, codes, entry, ctx)
        if candidate is not None and spec.name == "mailNickname":
            # Removing characters or truncating can leave "smithjr." which Exchange refuses.
            candidate = alias_shape(candidate)
        if candidate is None or candidate == value:
            return None
        problems = check_value(entry, spec.name, candidate, ctx, is_taken or _never_taken)
        if not problems:
            return candidate
        codes = [f.rule for f in problems]
    return None


def check_value(
    entry: Entry, attribute: str, new_value: str, ctx: Context, is_taken: IsTaken = _never_taken
) -> list[Finding]:
    """Every finding the proposed value would raise; [] means it is acceptable.

    is_taken(kind, normalized) should say whether another object of the tenant holds the value.
    Values the entry itself already holds are never asked about, so its own mail may become its UPN.
    """
    spec = SPECS.get(attribute.lower())
    if spec is None:
        return []  # no rule covers this attribute
    findings = [_finding(code, spec.name, new_value, None, entry, ctx) for code in _judge(spec, new_value, entry, ctx)]
    if is_taken is not _never_taken:
        own = {(kind, norm) for kind, norm, _attr, _raw in identity_keys(entry, ctx)}
        taken = [key for key in value_keys(spec.name, new_value, entry, ctx) if key not in own and is_taken(*key)]
        findings += [
            _finding(duplicate_rule(spec.name, kind), spec.name, new_value, None, entry, ctx) for kind, _ in taken
        ]
    return findings
