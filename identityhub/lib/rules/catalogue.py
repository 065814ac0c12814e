"""The rule catalogue: every rule's stable code, severity, IdFix error type, texts, rule sets and source.

Facts come from Microsoft's documentation (limits, characters, default sync scope, duplicate
attribute resiliency); each rule names the page it rests on. Where IdFix disagrees with Microsoft,
Microsoft wins. `error` is always one of IdFix's error types (IDFIX_ERRORS), so scripts written
around IdFix's output keep working; the finer distinction is in the rule code.
"""

from __future__ import annotations

from dataclasses import dataclass

CATALOGUE_VERSION = "2.0.0"
SEVERITIES = ("blocking", "degrading", "hygiene")
MT = frozenset({"multi-tenant"})
DEDICATED = frozenset({"dedicated"})
BOTH = MT | DEDICATED

# Microsoft's documented limits (each rule below names its page).
UPN_MAX, UPN_LOCAL_MAX, UPN_DOMAIN_MAX = 113, 64, 48
VALUE_MAX = 256  # displayName, mail, each proxyAddresses value, targetAddress
MAILNICKNAME_MAX = 64
SAM_USER_MAX = 20
PROXY_COUNT_MAX = 300  # Microsoft's rule of thumb; ~332 fit a bare user, fewer with certificates
CERTIFICATE_COUNT_MAX = 15
GROUP_MEMBERS_MAX = 250_000  # a group must have fewer than this
# Graph user property limits (https://learn.microsoft.com/en-us/graph/api/resources/user);
# displayName and mailNickname have their own rules.
GRAPH_LENGTHS = {
    "givenName": 64, "sn": 64, "title": 128, "department": 64, "company": 64, "l": 128,
    "st": 128, "co": 128, "postalCode": 40, "streetAddress": 1024, "mobile": 64,
}  # fmt: skip


# IdFix's ErrorType names (its docs add MailMatch); cloudcollision is ours alone: IdFix never
# sees the tenant, and no forest rule produces it.
IDFIX_ERRORS = ("character", "format", "length", "duplicate", "blank", "topleveldomain", "domainpart", "localpart")
ERRORS = (*IDFIX_ERRORS, "mailmatch", "cloudcollision")

# The pages the rules rest on (Microsoft Learn; IdFix's own documentation for the Dedicated set).
PREPARE = "https://learn.microsoft.com/microsoft-365/enterprise/prepare-for-directory-synchronization"
UPN_POLICY = "https://learn.microsoft.com/entra/identity/authentication/concept-sspr-policy#username-policies"
UPN_PLAN = "https://learn.microsoft.com/entra/identity/hybrid/connect/plan-connect-userprincipalname"
RESILIENCY = "https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-syncservice-duplicate-attribute-resiliency"  # noqa: E501
SYNC_ERRORS = "https://learn.microsoft.com/entra/identity/hybrid/connect/tshoot-connect-sync-errors"
LARGE_OBJECT = SYNC_ERRORS + "#largeobject"
DEFAULT_RULES = (
    "https://learn.microsoft.com/entra/identity/hybrid/connect/concept-azure-ad-connect-sync-default-configuration"  # noqa: E501
)
GRAPH_USER = "https://learn.microsoft.com/graph/api/resources/user"
EXCHANGE_ALIAS = "https://learn.microsoft.com/powershell/module/exchange/set-mailbox#-alias"
IDFIX_DEDICATED = "https://microsoft.github.io/idfix/"
PLAN_DESIGN = "https://learn.microsoft.com/entra/identity/hybrid/connect/plan-connect-design-concepts"


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    severity: str
    error: str
    attributes: tuple[str, ...]
    rulesets: frozenset[str]
    title: str
    why: str
    fix: str
    source: str = ""  # the page the rule's limit, scope and severity rest on
    dedicated_severity: str | None = None  # when the Dedicated rule set judges it differently

    def severity_in(self, ruleset: str) -> str:
        return self.dedicated_severity if ruleset == "dedicated" and self.dedicated_severity else self.severity


def _rule(code, severity, error, attributes, rulesets, title, why, fix, source="", dedicated_severity=None) -> Rule:
    if isinstance(attributes, str):
        attributes = (attributes,)
    return Rule(code, severity, error, tuple(attributes), rulesets, title, why, fix, source, dedicated_severity)


# --- Address families: UPN, mail, SMTP proxies, SMTP targetAddress share one judge -------------

_DOMAIN_EFFECT = {
    "upn": "Entra Connect replaces the UPN with <name>@<tenant>.onmicrosoft.com.",
    "mail": "Exchange Online removes addresses in domains the tenant has not verified.",
    "proxy.smtp": "Exchange Online removes addresses in domains the tenant has not verified.",
    "targetaddress.smtp": "Mail forwarded to this address cannot be delivered.",
}
_FAMILY = {  # prefix -> (attribute, label, rule sets, severity of domain problems)
    "upn": ("userPrincipalName", "The UPN", MT, "degrading"),
    "mail": ("mail", "The mail address", BOTH, "degrading"),
    "proxy.smtp": ("proxyAddresses", "The SMTP proxy address", BOTH, "degrading"),
    "targetaddress.smtp": ("targetAddress", "The SMTP targetAddress", BOTH, "hygiene"),
}
_ALLOWED_TEXT = {
    "upn": "A-Z a-z 0-9 and ' . - _ ! # ^ ~",
    "mail": "letters, digits and ! # $ % & ' * + - / = ? ^ _ ` { | } ~ .",
}


# Syntax problems: a bad UPN fails export (IdentityDataValidationFailed), a bad SMTP proxy or
# targetAddress fails it too (the prepare page: "invalid characters will cause directory
# synchronization to fail"). mail is different in multi-tenant: Entra Connect exports it as it is
# and Exchange Online builds addresses from proxyAddresses, so a malformed mail degrades (IdFix's
# multi-tenant set stopped checking its format with that page); Dedicated's mail is the address.
_SYNTAX_SEVERITY = {  # prefix -> (severity, Dedicated severity, source)
    "upn": ("blocking", None, SYNC_ERRORS + "#identitydatavalidationfailed"),
    "mail": ("degrading", "blocking", PREPARE),
    "proxy.smtp": ("blocking", None, PREPARE),
    "targetaddress.smtp": ("blocking", None, PREPARE),
}
_REJECTED = {"mail": "Entra Connect exports it as it is, but Exchange Online cannot use it (Dedicated rejects it)."}
_DOMAIN_SOURCE = {"upn": UPN_PLAN, "mail": PREPARE, "proxy.smtp": PREPARE, "targetaddress.smtp": PREPARE}


def _address_rules(prefix: str) -> list[Rule]:
    attribute, label, rulesets, domain_severity = _FAMILY[prefix]
    allowed = _ALLOWED_TEXT.get(prefix, _ALLOWED_TEXT["mail"])
    effect = _DOMAIN_EFFECT[prefix]
    syntax, dedicated_syntax, syntax_source = _SYNTAX_SEVERITY[prefix]
    rejected = _REJECTED.get(prefix, "sync rejects the value.")
    texts = {
        "character": ("blocking", f"{label} contains a character that is not allowed",
                      f"Before the @ only {allowed} are allowed (no spaces); {rejected}",
                      "Remove the character."),
        "nonascii": ("blocking", f"{label} contains accented or other non-ASCII letters",
                     "Microsoft does not allow letters with diacritics (umlauts, accents, tildes) "
                     f"in addresses and UPNs; {rejected}",
                     "Spell the letters in plain ASCII (é -> e, ß -> ss)."),
        "format": ("blocking", f"{label} is not in name@domain form",
                   "It needs exactly one @ with text on both sides.",
                   "Correct the value to name@domain."),
        "localpart": ("blocking", f"{label} has a misplaced period before the @",
                      "The name may not start or end with a period ('.@') or contain '..'.",
                      "Remove the extra periods."),
        "domainpart": ("blocking", f"{label} has an invalid domain",
                       "A domain is letters, digits and inner hyphens, labels separated by single periods.",
                       "Correct the domain after the @."),
        "topleveldomain": (domain_severity, f"{label} is in a non-routable domain",
                           "The domain is not under a public suffix (e.g. .local, .internal, .lan, .corp), "
                           f"so it cannot be verified. {effect}",
                           "Use a routable domain (add it as a UPN suffix in AD and verify it in the tenant)."),
        "unverifieddomain": (domain_severity, f"{label} is in a domain the tenant has not verified",
                             f"The domain is routable but not a verified domain of the tenant. {effect}",
                             "Verify the domain in the tenant, or use one of its verified domains."),
    }  # fmt: skip
    if prefix == "targetaddress.smtp":
        del texts["unverifieddomain"]  # external routing addresses need no tenant domain
    rules = []
    for name, (severity, title, why, fix) in texts.items():
        is_domain = name in ("topleveldomain", "unverifieddomain")
        source = _DOMAIN_SOURCE[prefix] if is_domain else syntax_source
        if severity == "blocking":  # the syntax rules; the domain rules have their own severity
            severity, dedicated = syntax, dedicated_syntax
        else:
            dedicated = None
        rules.append(_rule(f"{prefix}.{name}", severity, _IDFIX_NAME.get(name, name), attribute, rulesets,
                           title, why, fix, source, dedicated))  # fmt: skip
    return rules


# Our finer distinctions, reported under the IdFix error type a script around IdFix expects:
# IdFix flags non-ASCII letters with its character rule, and its TopLevelDomain means "a domain
# Office 365 cannot use", which an unverified domain is too.
_IDFIX_NAME = {"nonascii": "character", "unverifieddomain": "topleveldomain"}


def _length_rules() -> list[Rule]:
    return [
        _rule(f"{name.lower()}.length", "blocking", "length", name, MT,
              f"{name} is longer than {limit} characters",
              f"Entra stores at most {limit} characters in {name}; export of the object fails.",
              f"Shorten it to {limit} characters.", GRAPH_USER)
        for name, limit in GRAPH_LENGTHS.items()
    ]  # fmt: skip


_UPN = "userPrincipalName"
_PROXY = "proxyAddresses"
_NICK = "mailNickname"
_TARGET = "targetAddress"
_DISPLAY = "displayName"

_OTHER_RULES = [
    # userPrincipalName (users and inetOrgPerson)
    # Microsoft asks for "a valid and unique UPN, or if none, a valid and unique sAMAccountName":
    # the missing UPN itself is hygiene; what goes wrong with the derived one is upn.derived.*.
    _rule("upn.blank", "hygiene", "blank", _UPN, MT, "The user has no UPN",
          "Entra Connect then uses sAMAccountName@<AD domain>; the upn.derived rules report what is wrong "
          "with that value (a non-routable or unverified domain, invalid characters, a clash).",
          "Set a UPN in a verified domain.", PREPARE),
    _rule("upn.length", "blocking", "length", _UPN, MT, f"The UPN is longer than {UPN_MAX} characters",
          f"Entra allows at most {UPN_MAX} characters in a UPN.", "Shorten the name before the @.", UPN_POLICY),
    _rule("upn.localpart.length", "blocking", "length", _UPN, MT,
          f"The UPN has more than {UPN_LOCAL_MAX} characters before the @",
          f"Entra allows at most {UPN_LOCAL_MAX} characters before the @.", "Shorten the name before the @.",
          UPN_POLICY),
    _rule("upn.domainpart.length", "blocking", "length", _UPN, MT,
          f"The UPN has more than {UPN_DOMAIN_MAX} characters after the @",
          f"Entra allows at most {UPN_DOMAIN_MAX} characters after the @.", "Use a shorter UPN suffix.", UPN_POLICY),
    # mail
    _rule("mail.length", "blocking", "length", "mail", BOTH, f"mail is longer than {VALUE_MAX} characters",
          f"Entra stores at most {VALUE_MAX} characters in mail.", "Use a shorter address.", PREPARE),
    # proxyAddresses
    _rule("proxy.length", "blocking", "length", _PROXY, BOTH,
          f"A proxy address is longer than {VALUE_MAX} characters",
          f"Each proxyAddresses value may have at most {VALUE_MAX} characters.", "Remove or shorten the value.",
          PREPARE),
    _rule("proxy.format", "blocking", "format", _PROXY, BOTH, "A proxy address has no type prefix",
          "Every proxyAddresses value must be type:address (SMTP:, smtp:, X500:, SIP:, ...).",
          "Add the right type prefix or remove the value.", PREPARE),
    _rule("proxy.multipleprimary", "blocking", "format", _PROXY, BOTH,
          "More than one primary SMTP address",
          "Only one proxyAddresses value may start with upper-case 'SMTP:'; Exchange Online rejects a "
          "recipient with several.",
          "Keep the address that matches mail as SMTP: and make the others secondary (smtp:).", PREPARE),
    _rule("proxy.x500.character", "blocking", "character", _PROXY, BOTH,
          "An X500 proxy address contains a control character, [, ] or \"",
          "Spaces, parentheses and apostrophes are normal in X500 addresses; these characters are not.",
          "Remove the character.", PREPARE),
    _rule("proxy.x400.character", "blocking", "character", _PROXY, BOTH,
          "An X400 proxy address contains a control character, [, ] or \"",
          "Spaces and semicolons are normal in X400 addresses; these characters are not.",
          "Remove the character.", PREPARE),
    _rule("proxy.sip.format", "blocking", "format", _PROXY, BOTH, "A SIP proxy address is not user@domain",
          "A SIP address is a URI with exactly one @.", "Correct the SIP address.", PREPARE),
    _rule("proxy.sip.character", "blocking", "character", _PROXY, BOTH,
          "A SIP proxy address contains a space or < > ( ) ; , [ ] \"",
          "SIP addresses may not contain whitespace or address delimiters.", "Remove the character.", PREPARE),
    _rule("proxy.other.character", "blocking", "character", _PROXY, BOTH,
          "A proxy address contains a control character or < > [ ] \"",
          "Gateway address types (EUM, NOTES, CCMAIL, ...) may hold spaces and ; , but never these.",
          "Remove the character.", PREPARE),
    _rule("proxy.nonascii", "blocking", "character", _PROXY, BOTH,
          "A non-SMTP proxy address contains non-ASCII letters",
          "Letters with diacritics are invalid in proxyAddresses.", "Spell the letters in plain ASCII.", PREPARE),
    _rule("proxy.count", "blocking", "length", _PROXY, BOTH,
          f"More than {PROXY_COUNT_MAX} proxy addresses",
          "Entra limits the size of an object: about 332 proxy addresses fit a bare user and fewer with "
          "certificates; Microsoft's rule of thumb is 300. Export fails with LargeObject.",
          "Remove old addresses (unused SMTP, X400, X500, MS, CCMAIL).", LARGE_OBJECT),
    _rule("usercertificate.count", "blocking", "length", "userCertificate", BOTH,
          f"More than {CERTIFICATE_COUNT_MAX} certificates in userCertificate",
          f"Entra accepts at most {CERTIFICATE_COUNT_MAX} values; export fails with LargeObject.",
          "Remove expired or unused certificates.", LARGE_OBJECT),
    _rule("usersmimecertificate.count", "blocking", "length", "userSMIMECertificate", BOTH,
          f"More than {CERTIFICATE_COUNT_MAX} certificates in userSMIMECertificate",
          f"Entra accepts at most {CERTIFICATE_COUNT_MAX} values; export fails with LargeObject.",
          "Remove expired or unused certificates.", LARGE_OBJECT),
    _rule("group.membercount", "blocking", "length", "member", BOTH,
          f"The group has {GROUP_MEMBERS_MAX:,} members or more",
          f"Entra Connect only syncs groups with fewer than {GROUP_MEMBERS_MAX:,} members.",
          "Split the group into smaller groups.", DEFAULT_RULES),
    # mailNickname
    _rule("mailnickname.length", "blocking", "length", _NICK, BOTH,
          f"mailNickname is longer than {MAILNICKNAME_MAX} characters",
          f"Entra stores at most {MAILNICKNAME_MAX} characters.", "Shorten the alias.", PREPARE),
    _rule("mailnickname.period", "blocking", "character", _NICK, MT, "mailNickname begins with a period",
          "Microsoft does not allow an alias that begins with '.'.", "Remove the leading period.", PREPARE),
    _rule("mailnickname.character", "degrading", "character", _NICK, MT,
          "mailNickname contains a character that is not allowed",
          "Space and @ ( ) \\ [ ] \" ; : < > , are not allowed; Entra replaces them with '_'.",
          "Remove the character.", PREPARE),
    _rule("mailnickname.nonascii", "degrading", "character", _NICK, BOTH,
          "mailNickname contains non-ASCII letters",
          "The synced alias gets '_' in place of each such letter.", "Spell the letters in plain ASCII.", PREPARE),
    _rule("mailnickname.missing", "degrading", "blank", _NICK, MT,
          "The user has proxy addresses but no mailNickname",
          "Entra Connect syncs Exchange attributes, proxyAddresses among them, only when mailNickname has a "
          "value; these addresses are not synced.",
          "Set mailNickname (usually the name part of the primary SMTP address).", DEFAULT_RULES),
    _rule("mailnickname.dedicated.character", "blocking", "character", _NICK, DEDICATED,
          "mailNickname contains a character not allowed in Dedicated",
          "Dedicated allows only letters, digits, '.', '-' and '_' in an alias.", "Remove the character.",
          IDFIX_DEDICATED),
    _rule("mailnickname.dedicated.period", "blocking", "character", _NICK, DEDICATED,
          "mailNickname begins or ends with a period",
          "Dedicated does not allow an alias that begins or ends with '.'.", "Remove the period.", IDFIX_DEDICATED),
    _rule("mailnickname.blank", "blocking", "blank", _NICK, DEDICATED, "The object has no mailNickname",
          "Dedicated requires mailNickname on users and contacts.",
          "Set mailNickname (the name part of the mail address, or givenName.sn).", IDFIX_DEDICATED),
    # displayName
    _rule("displayname.length", "blocking", "length", _DISPLAY, BOTH,
          f"displayName is longer than {VALUE_MAX} characters",
          f"Entra stores at most {VALUE_MAX} characters in displayName.", f"Shorten it to {VALUE_MAX}.", PREPARE),
    _rule("displayname.blank", "blocking", "blank", _DISPLAY, BOTH, "displayName is blank",
          "If present, displayName must not be blank (Dedicated also requires it on groups).",
          "Set a display name (given name and surname, or the CN).", PREPARE),
    _rule("displayname.dedicated.character", "blocking", "character", _DISPLAY, DEDICATED,
          "displayName begins or ends with whitespace",
          "Dedicated does not allow leading or trailing whitespace in displayName.", "Trim the whitespace.",
          IDFIX_DEDICATED),
    # sAMAccountName: a valid UPN still creates the account, so these are hygiene only.
    _rule("samaccountname.length", "hygiene", "length", "sAMAccountName", MT,
          f"sAMAccountName is longer than {SAM_USER_MAX} characters",
          f"Microsoft limits a user's sAMAccountName to {SAM_USER_MAX}; with a valid UPN the account "
          "still syncs.", f"Shorten it to {SAM_USER_MAX} characters.", PREPARE),
    _rule("samaccountname.character", "hygiene", "character", "sAMAccountName", MT,
          "sAMAccountName contains a character that is not allowed",
          "[ ] \\ \" | , / : < > + = ; ? * ' are not allowed; with a valid UPN the account still syncs.",
          "Remove the character.", PREPARE),
    # targetAddress
    _rule("targetaddress.length", "blocking", "length", _TARGET, BOTH,
          f"targetAddress is longer than {VALUE_MAX} characters",
          f"targetAddress may have at most {VALUE_MAX} characters.", "Use a shorter address.", PREPARE),
    _rule("targetaddress.format", "blocking", "format", _TARGET, BOTH, "targetAddress has no type prefix",
          "targetAddress must be type:address, normally SMTP:name@domain.", "Add the type prefix.", PREPARE),
    _rule("targetaddress.character", "blocking", "character", _TARGET, BOTH,
          "targetAddress contains whitespace or \\ < > ( ) , [ ] \"",
          "Microsoft does not allow these characters in targetAddress.", "Remove the character.", PREPARE),
    _rule("targetaddress.blank", "blocking", "blank", _TARGET, DEDICATED,
          "The object has neither targetAddress nor a mailbox",
          "Dedicated requires targetAddress on users and contacts without homeMDB.",
          "Set targetAddress to SMTP:<mail>.", IDFIX_DEDICATED),
    _rule("targetaddress.mailmatch", "hygiene", "mailmatch", _TARGET, DEDICATED,
          "targetAddress does not match mail",
          "Dedicated expects targetAddress to be SMTP: followed by the mail address.",
          "Set targetAddress to SMTP:<mail>.", IDFIX_DEDICATED),
    # Duplicates: tenant-wide. Every holder gets a finding naming the others (duplicates.clash_findings);
    # the code says what duplicate attribute resiliency does on this holder's side, hence the severity.
    _rule("duplicate.upn", "degrading", "duplicate", _UPN, MT,
          "Another object uses this UPN as UPN, mail or SMTP address",
          "UPN, mail and SMTP proxy addresses share one namespace. Duplicate attribute resiliency quarantines "
          "the UPN of the user Entra receives later and gives it <prefix>+<4 digits>@<tenant>.onmicrosoft.com: "
          "the user syncs, but cannot sign in with its UPN.",
          "Decide which object keeps the value and change it on the others.", RESILIENCY),
    _rule("duplicate.samaccountname", "degrading", "duplicate", "sAMAccountName", MT,
          "The UPN Entra derives from sAMAccountName is used by another object",
          "The user has no userPrincipalName, so Entra Connect uses sAMAccountName@<DNS name of its domain>. "
          "That value is used by another object (two users of one domain, or a UPN, mail or SMTP address), "
          "and resiliency quarantines it like a UPN. The same sAMAccountName in two domains never clashes.",
          "Set a UPN on the user.", RESILIENCY),
    _rule("duplicate.smtp", "degrading", "duplicate", _PROXY, BOTH, "Another object uses this SMTP address",
          "Resiliency quarantines the address on the object Entra receives later; that object syncs without "
          "it and mail to the address reaches only the other holder.",
          "Decide which object keeps the address and remove it from the others.", RESILIENCY),
    _rule("duplicate.mail.address", "degrading", "duplicate", "mail", BOTH,
          "This mail address is another object's UPN or SMTP proxy address",
          "mail becomes an SMTP address in Entra; resiliency quarantines it on the object Entra receives "
          "later, so mail to it reaches only the other holder. Often the culprit is a stale secondary smtp: "
          "alias on the other object.",
          "Decide which object keeps the address: remove the alias from the other, or change mail here.",
          RESILIENCY),
    _rule("duplicate.mail", "blocking", "duplicate", "mail", BOTH, "Another object has the same mail",
          "mail must be unique and resiliency does not cover it (only UPN and SMTP proxy addresses): the "
          "first object with the value syncs and the later ones fail with AttributeValueMustBeUnique.",
          "Decide which object keeps the address and change it on the others.",
          SYNC_ERRORS + "#attributevaluemustbeunique"),
    _rule("duplicate.group", "blocking", "duplicate", (_UPN, "mail", _PROXY, "sAMAccountName"), BOTH,
          "A group uses this user's UPN or address as its SMTP address",
          "A documented limit of duplicate attribute resiliency: a user whose UPN or proxy address clashes "
          "with a group's SMTP address is not quarantined but fails to export with a ProxyAddress error.",
          "Change the address on the group or on the user.", RESILIENCY + "#known-issues"),
    _rule("duplicate.proxy", "blocking", "duplicate", _PROXY, BOTH,
          "Another object uses this non-SMTP proxy address",
          "proxyAddresses must be unique and resiliency only quarantines SMTP values: the object received "
          "later fails with AttributeValueMustBeUnique.",
          "Remove the address from every object but one.", SYNC_ERRORS + "#attributevaluemustbeunique"),
    _rule("duplicate.mailnickname", "hygiene", "duplicate", _NICK, BOTH, "Another object uses this mailNickname",
          "Microsoft requires mailNickname to be unique; sync does not fail on it, Exchange Online makes "
          "aliases unique itself.", "Give each object its own alias.", PREPARE),
    _rule("duplicate.targetaddress", "hygiene", "duplicate", _TARGET, MT,
          "Another object uses this targetAddress",
          "Microsoft requires targetAddress to be unique; mail would be routed to one address twice.",
          "Give each object its own targetAddress.", PREPARE),
    # One object read in two forests (a migration in progress: ADMT copies, or the same export
    # uploaded twice). Entra Connect's sourceAnchor comes from the objectGUID and must be unique
    # across forests (learn.microsoft.com/entra/identity/hybrid/connect/plan-connect-design-concepts).
    _rule("duplicate.objectguid", "blocking", "duplicate", "objectGUID", BOTH,
          "The same object (objectGUID) is in another forest of this tenant",
          "Both copies carry one source anchor: Entra Connect cannot sync two objects with it, so one copy "
          "fails or takes over the other's cloud identity.",
          "Finish the migration, or keep one copy out of sync scope (exclude its OU in that forest).", PLAN_DESIGN),
    # Cloud side (health app, from Microsoft Graph): never judged by a forest scan.
    _rule("cloud.collision", "blocking", "cloudcollision", (_UPN, "mail", _PROXY), BOTH,
          "A cloud-only object in the tenant already uses this address",
          "UPN, mail and SMTP addresses are unique tenant-wide; unless Entra Connect soft-matches the two "
          "objects, the on-premises object fails to sync with a PropertyConflict.",
          "If both are the same person, let them soft-match (or hard-match); otherwise change the value on one side.",
          SYNC_ERRORS + "#invalidsoftmatch"),
]  # fmt: skip


def _derived_upn_rules(rules: list[Rule]) -> list[Rule]:
    """upn.derived.*: every UPN rule again, for the UPN Entra builds when userPrincipalName is empty.

    The default "In from AD - User Join" rule uses sAMAccountName@<the domain's DNS name> as the
    UPN; that value fails or degrades exactly like one typed into userPrincipalName.
    """
    derived = []
    for rule in rules:
        if rule.code.startswith("upn.") and rule.code != "upn.blank":
            derived.append(_rule(
                "upn.derived." + rule.code[4:], rule.severity, rule.error, rule.attributes, rule.rulesets,
                rule.title.replace("The UPN", "The UPN Entra derives from sAMAccountName", 1),
                "The user has no userPrincipalName, so Entra Connect derives sAMAccountName@<DNS name of its "
                f"domain>. {rule.why}",
                "Set a valid UPN on the user (or correct sAMAccountName).", DEFAULT_RULES,
            ))  # fmt: skip
    return derived


def _build() -> dict[str, Rule]:
    rules = [r for prefix in _FAMILY for r in _address_rules(prefix)] + _length_rules() + _OTHER_RULES
    rules += _derived_upn_rules(rules)
    catalogue = {r.code: r for r in rules}
    assert len(catalogue) == len(rules), "duplicate rule code"
    assert all(r.severity in SEVERITIES and r.severity_in("dedicated") in SEVERITIES for r in rules)
    assert all(r.error in ERRORS and r.source.startswith("https://") for r in rules)
    return catalogue


RULES: dict[str, Rule] = _build()

# Licence readiness (usage location), kept in its own module: rules/licensing.py.
from .licensing import RULES as _LICENSING_RULES  # noqa: E402 - needs Rule and MT from above

RULES.update((r.code, r) for r in _LICENSING_RULES)
