"""The rule catalogue: every rule's stable code, severity, IdFix error type, texts and rule sets.

Facts come from /work/shared/reference/sync-rules.md (Microsoft's documented limits, characters
and default sync scope). Where IdFix disagrees with Microsoft, Microsoft wins.
"""

from __future__ import annotations

from dataclasses import dataclass

CATALOGUE_VERSION = "1.0.0"
SEVERITIES = ("blocking", "degrading", "hygiene")
MT = frozenset({"multi-tenant"})
DEDICATED = frozenset({"dedicated"})
BOTH = MT | DEDICATED

# Microsoft's documented limits (sync-rules.md §6.2, §6.4, §6.5, §6.6).
UPN_MAX, UPN_LOCAL_MAX, UPN_DOMAIN_MAX = 113, 64, 48
VALUE_MAX = 256  # displayName, mail, each proxyAddresses value, targetAddress
MAILNICKNAME_MAX = 64
SAM_USER_MAX = 20
PROXY_COUNT_MAX = 300  # Microsoft's rule of thumb; ~332 fit a bare user, fewer with certificates
CERTIFICATE_COUNT_MAX = 15
GROUP_MEMBERS_MAX = 250_000  # a group must have fewer than this
# Graph user property limits (§6.6); displayName and mailNickname have their own rules.
GRAPH_LENGTHS = {
    "givenName": 64, "sn": 64, "title": 128, "department": 64, "company": 64, "l": 128,
    "st": 128, "co": 128, "postalCode": 40, "streetAddress": 1024, "mobile": 64,
}  # fmt: skip


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


def _rule(code, severity, error, attributes, rulesets, title, why, fix) -> Rule:
    if isinstance(attributes, str):
        attributes = (attributes,)
    return Rule(code, severity, error, tuple(attributes), rulesets, title, why, fix)


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


def _address_rules(prefix: str) -> list[Rule]:
    attribute, label, rulesets, domain_severity = _FAMILY[prefix]
    allowed = _ALLOWED_TEXT.get(prefix, _ALLOWED_TEXT["mail"])
    effect = _DOMAIN_EFFECT[prefix]
    texts = {
        "character": ("blocking", f"{label} contains a character that is not allowed",
                      f"Before the @ only {allowed} are allowed (no spaces); sync rejects the value.",
                      "Remove the character."),
        "nonascii": ("blocking", f"{label} contains accented or other non-ASCII letters",
                     "Microsoft does not allow letters with diacritics (umlauts, accents, tildes) "
                     "in addresses and UPNs; sync rejects the value.",
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
    return [
        _rule(f"{prefix}.{error}", severity, error, attribute, rulesets, title, why, fix)
        for error, (severity, title, why, fix) in texts.items()
    ]


def _length_rules() -> list[Rule]:
    return [
        _rule(f"{name.lower()}.length", "blocking", "length", name, MT,
              f"{name} is longer than {limit} characters",
              f"Entra stores at most {limit} characters in {name}; export of the object fails.",
              f"Shorten it to {limit} characters.")
        for name, limit in GRAPH_LENGTHS.items()
    ]  # fmt: skip


_UPN = "userPrincipalName"
_PROXY = "proxyAddresses"
_NICK = "mailNickname"
_TARGET = "targetAddress"
_DISPLAY = "displayName"

_OTHER_RULES = [
    # userPrincipalName (users and inetOrgPerson)
    _rule("upn.blank", "degrading", "blank", _UPN, MT, "The user has no UPN",
          "Entra Connect then uses sAMAccountName@<AD domain>; with a non-routable AD domain the user "
          "gets a <name>@<tenant>.onmicrosoft.com UPN.",
          "Set a UPN in a verified domain."),
    _rule("upn.length", "blocking", "length", _UPN, MT, f"The UPN is longer than {UPN_MAX} characters",
          f"Entra allows at most {UPN_MAX} characters in a UPN.", "Shorten the name before the @."),
    _rule("upn.localpart.length", "blocking", "length", _UPN, MT,
          f"The UPN has more than {UPN_LOCAL_MAX} characters before the @",
          f"Entra allows at most {UPN_LOCAL_MAX} characters before the @.", "Shorten the name before the @."),
    _rule("upn.domainpart.length", "blocking", "length", _UPN, MT,
          f"The UPN has more than {UPN_DOMAIN_MAX} characters after the @",
          f"Entra allows at most {UPN_DOMAIN_MAX} characters after the @.", "Use a shorter UPN suffix."),
    # mail
    _rule("mail.length", "blocking", "length", "mail", BOTH, f"mail is longer than {VALUE_MAX} characters",
          f"Entra stores at most {VALUE_MAX} characters in mail.", "Use a shorter address."),
    # proxyAddresses
    _rule("proxy.length", "blocking", "length", _PROXY, BOTH,
          f"A proxy address is longer than {VALUE_MAX} characters",
          f"Each proxyAddresses value may have at most {VALUE_MAX} characters.", "Remove or shorten the value."),
    _rule("proxy.format", "blocking", "format", _PROXY, BOTH, "A proxy address has no type prefix",
          "Every proxyAddresses value must be type:address (SMTP:, smtp:, X500:, SIP:, ...).",
          "Add the right type prefix or remove the value."),
    _rule("proxy.multipleprimary", "blocking", "multipleprimary", _PROXY, BOTH,
          "More than one primary SMTP address",
          "Only one proxyAddresses value may start with upper-case 'SMTP:'; Exchange Online rejects a "
          "recipient with several.",
          "Keep the address that matches mail as SMTP: and make the others secondary (smtp:)."),
    _rule("proxy.x500.character", "blocking", "character", _PROXY, BOTH,
          "An X500 proxy address contains a control character, [, ] or \"",
          "Spaces, parentheses and apostrophes are normal in X500 addresses; these characters are not.",
          "Remove the character."),
    _rule("proxy.x400.character", "blocking", "character", _PROXY, BOTH,
          "An X400 proxy address contains a control character, [, ] or \"",
          "Spaces and semicolons are normal in X400 addresses; these characters are not.",
          "Remove the character."),
    _rule("proxy.sip.format", "blocking", "format", _PROXY, BOTH, "A SIP proxy address is not user@domain",
          "A SIP address is a URI with exactly one @.", "Correct the SIP address."),
    _rule("proxy.sip.character", "blocking", "character", _PROXY, BOTH,
          "A SIP proxy address contains a space or < > ( ) ; , [ ] \"",
          "SIP addresses may not contain whitespace or address delimiters.", "Remove the character."),
    _rule("proxy.other.character", "blocking", "character", _PROXY, BOTH,
          "A proxy address contains a control character or < > [ ] \"",
          "Gateway address types (EUM, NOTES, CCMAIL, ...) may hold spaces and ; , but never these.",
          "Remove the character."),
    _rule("proxy.nonascii", "blocking", "nonascii", _PROXY, BOTH,
          "A non-SMTP proxy address contains non-ASCII letters",
          "Letters with diacritics are invalid in proxyAddresses.", "Spell the letters in plain ASCII."),
    _rule("proxy.count", "blocking", "largeattribute", _PROXY, BOTH,
          f"More than {PROXY_COUNT_MAX} proxy addresses",
          "Entra limits the size of an object: about 332 proxy addresses fit a bare user and fewer with "
          "certificates; Microsoft's rule of thumb is 300. Export fails with LargeObject.",
          "Remove old addresses (unused SMTP, X400, X500, MS, CCMAIL)."),
    _rule("usercertificate.count", "blocking", "largeattribute", "userCertificate", BOTH,
          f"More than {CERTIFICATE_COUNT_MAX} certificates in userCertificate",
          f"Entra accepts at most {CERTIFICATE_COUNT_MAX} values; export fails with LargeObject.",
          "Remove expired or unused certificates."),
    _rule("usersmimecertificate.count", "blocking", "largeattribute", "userSMIMECertificate", BOTH,
          f"More than {CERTIFICATE_COUNT_MAX} certificates in userSMIMECertificate",
          f"Entra accepts at most {CERTIFICATE_COUNT_MAX} values; export fails with LargeObject.",
          "Remove expired or unused certificates."),
    _rule("group.membercount", "blocking", "largeattribute", "member", BOTH,
          f"The group has {GROUP_MEMBERS_MAX:,} members or more",
          f"Entra Connect only syncs groups with fewer than {GROUP_MEMBERS_MAX:,} members.",
          "Split the group into smaller groups."),
    # mailNickname
    _rule("mailnickname.length", "blocking", "length", _NICK, BOTH,
          f"mailNickname is longer than {MAILNICKNAME_MAX} characters",
          f"Entra stores at most {MAILNICKNAME_MAX} characters.", "Shorten the alias."),
    _rule("mailnickname.period", "blocking", "character", _NICK, MT, "mailNickname begins with a period",
          "Microsoft does not allow an alias that begins with '.'.", "Remove the leading period."),
    _rule("mailnickname.character", "degrading", "character", _NICK, MT,
          "mailNickname contains a character that is not allowed",
          "Space and @ ( ) \\ [ ] \" ; : < > , are not allowed; Entra replaces them with '_'.",
          "Remove the character."),
    _rule("mailnickname.nonascii", "degrading", "nonascii", _NICK, BOTH,
          "mailNickname contains non-ASCII letters",
          "The synced alias gets '_' in place of each such letter.", "Spell the letters in plain ASCII."),
    _rule("mailnickname.missing", "degrading", "blank", _NICK, MT,
          "The user has proxy addresses but no mailNickname",
          "Entra Connect syncs Exchange attributes, proxyAddresses among them, only when mailNickname has a "
          "value; these addresses are not synced.",
          "Set mailNickname (usually the name part of the primary SMTP address)."),
    _rule("mailnickname.dedicated.character", "blocking", "character", _NICK, DEDICATED,
          "mailNickname contains a character not allowed in Dedicated",
          "Dedicated allows only letters, digits, '.', '-' and '_' in an alias.", "Remove the character."),
    _rule("mailnickname.dedicated.period", "blocking", "character", _NICK, DEDICATED,
          "mailNickname begins or ends with a period",
          "Dedicated does not allow an alias that begins or ends with '.'.", "Remove the period."),
    _rule("mailnickname.blank", "blocking", "blank", _NICK, DEDICATED, "The object has no mailNickname",
          "Dedicated requires mailNickname on users and contacts.",
          "Set mailNickname (the name part of the mail address, or givenName.sn)."),
    # displayName
    _rule("displayname.length", "blocking", "length", _DISPLAY, BOTH,
          f"displayName is longer than {VALUE_MAX} characters",
          f"Entra stores at most {VALUE_MAX} characters in displayName.", f"Shorten it to {VALUE_MAX}."),
    _rule("displayname.blank", "blocking", "blank", _DISPLAY, BOTH, "displayName is blank",
          "If present, displayName must not be blank (Dedicated also requires it on groups).",
          "Set a display name (given name and surname, or the CN)."),
    _rule("displayname.dedicated.character", "blocking", "character", _DISPLAY, DEDICATED,
          "displayName begins or ends with whitespace",
          "Dedicated does not allow leading or trailing whitespace in displayName.", "Trim the whitespace."),
    # sAMAccountName: a valid UPN still creates the account, so these are hygiene only.
    _rule("samaccountname.length", "hygiene", "length", "sAMAccountName", MT,
          f"sAMAccountName is longer than {SAM_USER_MAX} characters",
          f"Microsoft limits a user's sAMAccountName to {SAM_USER_MAX}; with a valid UPN the account "
          "still syncs.", f"Shorten it to {SAM_USER_MAX} characters."),
    _rule("samaccountname.character", "hygiene", "character", "sAMAccountName", MT,
          "sAMAccountName contains a character that is not allowed",
          "[ ] \\ \" | , / : < > + = ; ? * ' are not allowed; with a valid UPN the account still syncs.",
          "Remove the character."),
    # targetAddress
    _rule("targetaddress.length", "blocking", "length", _TARGET, BOTH,
          f"targetAddress is longer than {VALUE_MAX} characters",
          f"targetAddress may have at most {VALUE_MAX} characters.", "Use a shorter address."),
    _rule("targetaddress.format", "blocking", "format", _TARGET, BOTH, "targetAddress has no type prefix",
          "targetAddress must be type:address, normally SMTP:name@domain.", "Add the type prefix."),
    _rule("targetaddress.character", "blocking", "character", _TARGET, BOTH,
          "targetAddress contains whitespace or \\ < > ( ) , [ ] \"",
          "Microsoft does not allow these characters in targetAddress.", "Remove the character."),
    _rule("targetaddress.blank", "blocking", "blank", _TARGET, DEDICATED,
          "The object has neither targetAddress nor a mailbox",
          "Dedicated requires targetAddress on users and contacts without homeMDB.",
          "Set targetAddress to SMTP:<mail>."),
    _rule("targetaddress.mailmatch", "hygiene", "mailmatch", _TARGET, DEDICATED,
          "targetAddress does not match mail",
          "Dedicated expects targetAddress to be SMTP: followed by the mail address.",
          "Set targetAddress to SMTP:<mail>."),
    # Duplicates (tenant-wide; §6.3 resiliency quarantines UPN and SMTP values only)
    _rule("duplicate.upn", "degrading", "duplicate", _UPN, MT, "Another object uses this UPN or address",
          "UPN, mail and SMTP proxy addresses share one namespace. Entra quarantines the UPN and gives "
          "this user <prefix>+<4 digits>@<tenant>.onmicrosoft.com.",
          "Decide which object keeps the value and change it on the others."),
    _rule("duplicate.smtp", "degrading", "duplicate", _PROXY, BOTH, "Another object uses this SMTP address",
          "Entra quarantines the duplicate proxy address; the object syncs without it. If a new user "
          "clashes with a group's address the export fails instead.",
          "Decide which object keeps the address and remove it from the others."),
    _rule("duplicate.mail", "blocking", "duplicate", "mail", BOTH, "Another object uses this mail address",
          "mail must be unique; the first object with the value syncs and the later ones do not appear.",
          "Decide which object keeps the address and change it on the others."),
    _rule("duplicate.proxy", "blocking", "duplicate", _PROXY, BOTH,
          "Another object uses this non-SMTP proxy address",
          "proxyAddresses must be unique and only SMTP values are quarantined; export fails with "
          "AttributeValueMustBeUnique.",
          "Remove the address from every object but one."),
    _rule("duplicate.mailnickname", "hygiene", "duplicate", _NICK, BOTH, "Another object uses this mailNickname",
          "Microsoft requires mailNickname to be unique.", "Give each object its own alias."),
    _rule("duplicate.samaccountname", "hygiene", "duplicate", "sAMAccountName", MT,
          "A user without UPN shares its sAMAccountName with another",
          "Without a UPN, Microsoft requires a unique sAMAccountName; it becomes the UPN's name.",
          "Set a UPN, or give each user its own sAMAccountName."),
    _rule("duplicate.targetaddress", "hygiene", "duplicate", _TARGET, MT,
          "Another object uses this targetAddress",
          "Microsoft requires targetAddress to be unique; mail would be routed to one address twice.",
          "Give each object its own targetAddress."),
    # One object read in two forests (a migration in progress: ADMT copies, or the same export
    # uploaded twice). Entra Connect's sourceAnchor comes from the objectGUID and must be unique
    # across forests (learn.microsoft.com/entra/identity/hybrid/connect/plan-connect-design-concepts).
    _rule("duplicate.objectguid", "blocking", "duplicate", "objectGUID", BOTH,
          "The same object (objectGUID) is in another forest of this tenant",
          "Both copies carry one source anchor: Entra Connect cannot sync two objects with it, so one copy "
          "fails or takes over the other's cloud identity.",
          "Finish the migration, or keep one copy out of sync scope (exclude its OU in that forest)."),
    # Cloud side (health app, from Microsoft Graph): never judged by a forest scan.
    _rule("cloud.collision", "blocking", "cloudcollision", (_UPN, "mail", _PROXY), BOTH,
          "A cloud-only object in the tenant already uses this address",
          "UPN, mail and SMTP addresses are unique tenant-wide; unless Entra Connect soft-matches the two "
          "objects, the on-premises object fails to sync with a PropertyConflict.",
          "If both are the same person, let them soft-match (or hard-match); otherwise change the value on one side."),
]  # fmt: skip


def _build() -> dict[str, Rule]:
    rules = [r for prefix in _FAMILY for r in _address_rules(prefix)] + _length_rules() + _OTHER_RULES
    catalogue = {r.code: r for r in rules}
    assert len(catalogue) == len(rules), "duplicate rule code"
    assert all(r.severity in SEVERITIES for r in rules)
    return catalogue


RULES: dict[str, Rule] = _build()
