"""Deterministic seed data for the lab forests, and the record of what was planted.

build_seed(forest, base_dn) is pure: the same arguments always give the same entries, defects,
exclusions and valid-but-tricky values, so a scan test can assert "every planted defect found, nothing
else" against `seed.defects`. seed_directory() writes a Seed through ldap3.

Rules followed (Microsoft's documented behaviour, docs/architecture.md "The rule catalogue" and Sources):
* Every clean object is clean under Microsoft's rules: displayName present, routable UPN suffix,
  unique mail/proxyAddresses/mailNickname/UPN/sAMAccountName across BOTH forests.
* Each defect object carries one defect (only "Jane Cross" has two: mail and UPN, both cross-forest);
  `kind` is the IdFix error type it corresponds to (a rule engine may report more flags for the same
  value, e.g. format on top of domainpart). Duplicates are recorded on every holder.
* Exclusion objects may carry bad values on purpose (e.g. { } in a system mailbox UPN): a scanner
  that forgets an exclusion reports them. A CNF copy shares mail/proxies with a clean user.
* Only values Samba 4.17 accepts are planted. It refuses (checked against a real DC): sAMAccountName
  with + = , ; < > " | / \\ : [ ] * ?; mail > 256; givenName/sn > 64; displayName > 256;
  isCriticalSystemObject on add (and the relax control). So there are no length defects for
  displayName/givenName/mail/mailNickname, and critical system objects are the built-in ones.
* A user without sAMAccountName cannot be planted: Samba generates `$XXXXXXXX-...` like AD does.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import ldap3
from ldap3.utils.dn import escape_rdn

# IdFix error types (docs/architecture.md: the catalogue maps each rule to one of these).
CHARACTER = "character"
FORMAT = "format"
LENGTH = "length"
BLANK = "blank"
DUPLICATE = "duplicate"
TOPLEVELDOMAIN = "topleveldomain"
DOMAINPART = "domainpart"
LOCALPART = "localpart"
KINDS = (CHARACTER, FORMAT, LENGTH, BLANK, DUPLICATE, TOPLEVELDOMAIN, DOMAINPART, LOCALPART)

# groupType values (signed 32-bit, as AD returns them).
UNIVERSAL_DISTRIBUTION = "8"
UNIVERSAL_SECURITY = "-2147483640"
GLOBAL_SECURITY = "-2147483646"

# msExchRecipientTypeDetails values.
USER_MAILBOX = "1"
SHARED_MAILBOX = "4"
PUBLIC_FOLDER = "4096"  # 0x1000
SYSTEM_MAILBOX = "16384"  # 0x4000
ARBITRATION_MAILBOX = "8388608"  # 0x800000
MAILBOX_PLAN = "16777216"  # 0x1000000
DISCOVERY_MAILBOX = "536870912"  # 0x20000000
ROLE_GROUP = "1073741824"  # 0x40000000

FOREST_DOMAINS = {"CORP": "corp.example.com", "FABRIKAM": "fabrikam.example.com"}

# Values planted identically in both forests: duplicates only a cross-forest scan can see.
CROSS_FOREST_MAIL = "jane.cross@example.com"
CROSS_FOREST_PROXY = "smtp:sales@example.com"
CROSS_FOREST_UPN = "cross.upn@example.com"

CLEAN_USERS = 200
CLEAN_REMOTE_USERS = 20  # of CLEAN_USERS, placed in OU=Remote,OU=Staff
CLEAN_CONTACTS = 40
CLEAN_DISTRIBUTION_GROUPS = 10
CLEAN_MAIL_SECURITY_GROUPS = 5
CLEAN_SECURITY_GROUPS = 10  # no mail: Entra syncs these, IdFix skips them
SERVICE_ACCOUNTS = 6

# Names chosen so that no CN starts with an IdFix exclusion prefix (Admini, Guest, msol, support_ ...).
FIRST = ["Alice", "Bruno", "Chen", "Dana", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kemal",
         "Lena", "Marek", "Nadia", "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor",
         "Wanda", "Xavier", "Yara", "Zoltan"]  # fmt: skip
LAST = ["Adler", "Baker", "Castro", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ivanova",
        "Jensen", "Kowalski", "Larsen", "Moreau", "Nowak", "Olsen", "Petrov", "Quist", "Rossi", "Schmidt",
        "Tanaka", "Ueda", "Varga", "Weber", "Young", "Ziegler"]  # fmt: skip
TEAMS = ["Finance", "Sales", "Marketing", "Engineering", "Legal", "Facilities", "Research", "Support Desk",
         "Logistics", "Procurement", "Security", "Training", "Design", "Quality", "Payroll"]  # fmt: skip


@dataclass(frozen=True)
class PlantedDefect:
    forest: str
    dn: str
    attribute: str
    value: str | None  # None: the attribute is absent (blank)
    kind: str
    note: str
    cross_forest: bool = False  # only a scan of both forests together sees it


@dataclass(frozen=True)
class PlantedExclusion:
    """An object Entra Connect never syncs (sync-rules.md §6.4): a scanner must not report it."""

    forest: str
    dn: str
    reason: str
    preexisting: bool = False  # created by provisioning, not by the seed


@dataclass(frozen=True)
class PlantedValid:
    """A value that looks suspicious (or that IdFix flags wrongly) but is valid for Microsoft."""

    forest: str
    dn: str
    attribute: str
    value: str
    note: str


@dataclass(frozen=True)
class Entry:
    dn: str
    object_class: tuple[str, ...]
    attributes: dict[str, str | list[str]]

    @property
    def kind(self) -> str:
        """The most specific class, as AD lists it last (IdFix's object type)."""
        return self.object_class[-1]


@dataclass
class Seed:
    forest: str
    base_dn: str
    lab_ou: str
    entries: list[Entry] = field(default_factory=list)
    defects: list[PlantedDefect] = field(default_factory=list)
    exclusions: list[PlantedExclusion] = field(default_factory=list)
    valid: list[PlantedValid] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Entries per most-specific objectClass (user, inetOrgPerson, contact, group, computer, OU)."""
        return dict(Counter(entry.kind for entry in self.entries))

    def entry(self, dn: str) -> Entry:
        return next(e for e in self.entries if e.dn.lower() == dn.lower())


def rdn(value: str) -> str:
    # escape_rdn leaves a line feed alone; AD writes it as \0A (replication-conflict names).
    return escape_rdn(value).replace("\n", "\\0A")


class _Planter:
    """Accumulates entries; helpers fill clean defaults so each defect is the only one on its object."""

    def __init__(self, forest: str, base_dn: str):
        self.forest = forest
        self.tag = forest.lower()
        self.domain = FOREST_DOMAINS[forest]
        lab = f"OU=Lab,{base_dn}"
        self.ou = {
            "lab": lab,
            "staff": f"OU=Staff,{lab}",
            "remote": f"OU=Remote,OU=Staff,{lab}",
            "contacts": f"OU=Contacts,{lab}",
            "groups": f"OU=Groups,{lab}",
            "service": f"OU=Service,{lab}",
            "exchange": f"OU=Exchange,{lab}",
            "devices": f"OU=Devices,{lab}",
        }
        self.seed = Seed(forest=forest, base_dn=base_dn, lab_ou=lab)
        for dn in self.ou.values():  # parents first: dict order is insertion order
            self.add(dn, ("top", "organizationalUnit"), {})

    def add(self, dn: str, object_class: tuple[str, ...], attrs: dict) -> str:
        clean = {k: v for k, v in attrs.items() if v is not None}
        self.seed.entries.append(Entry(dn, object_class, clean))
        return dn

    def user(self, cn: str, ou: str = "staff", object_class: tuple = ("top", "user"), **over) -> str:
        """A clean mailbox user named after cn; keyword overrides replace (None removes) attributes."""
        local = "".join(ch for ch in cn.lower().replace(" ", ".") if ch.isalnum() or ch in "._-")
        given, _, sn = cn.partition(" ")
        attrs = {
            "cn": cn,
            "displayName": cn,
            "givenName": given,
            "sn": sn or None,
            "sAMAccountName": f"{self.tag[0]}-{local}"[:20],
            "userPrincipalName": f"{local}@{self.domain}",
            "mail": f"{local}@{self.domain}",
            "mailNickname": f"{self.tag}.{local}"[:64],
            "proxyAddresses": [f"SMTP:{local}@{self.domain}", f"smtp:{local}@mail.{self.domain}"],
            "msExchRecipientTypeDetails": USER_MAILBOX,
            "userAccountControl": "512",
            "department": "Lab",
        }
        attrs.update(over)
        return self.add(f"CN={rdn(cn)},{self.ou[ou]}", object_class, attrs)

    def contact(self, cn: str, **over) -> str:
        local = cn.lower().replace(" ", ".")
        address = f"{local}.{self.tag}@partner.example.net"
        attrs = {
            "cn": cn,
            "displayName": cn,
            "givenName": cn.partition(" ")[0],
            "sn": cn.partition(" ")[2] or None,
            "mail": address,
            "mailNickname": f"{self.tag}.{local}",
            "proxyAddresses": [f"SMTP:{address}"],
            "targetAddress": f"SMTP:{address}",
        }
        attrs.update(over)
        return self.add(f"CN={rdn(cn)},{self.ou['contacts']}", ("top", "contact"), attrs)

    def group(self, cn: str, group_type: str, mail: bool, members: list[str], **over) -> str:
        slug = cn.lower().replace(" ", "-")
        attrs = {
            "cn": cn,
            "displayName": cn,
            "sAMAccountName": f"{self.tag}-{slug}",
            "groupType": group_type,
            "member": members or None,
        }
        if mail:
            attrs |= {
                "mail": f"{slug}@{self.domain}",
                "mailNickname": f"{self.tag}.{slug}",
                "proxyAddresses": [f"SMTP:{slug}@{self.domain}"],
            }
        attrs.update(over)
        return self.add(f"CN={rdn(cn)},{self.ou['groups']}", ("top", "group"), attrs)

    def defect(self, dn: str, attribute: str, value: str | None, kind: str, note: str, cross=False):
        self.seed.defects.append(PlantedDefect(self.forest, dn, attribute, value, kind, note, cross))

    def exclude(self, dn: str, reason: str, preexisting: bool = False):
        self.seed.exclusions.append(PlantedExclusion(self.forest, dn, reason, preexisting))

    def valid(self, dn: str, attribute: str, value: str, note: str):
        self.seed.valid.append(PlantedValid(self.forest, dn, attribute, value, note))


def build_seed(forest: str, base_dn: str) -> Seed:
    p = _Planter(forest, base_dn)
    staff = _plant_clean(p)
    _plant_character(p)
    _plant_format_and_email_parts(p)
    _plant_length_and_blank(p)
    _plant_duplicates(p, staff)
    _plant_valid(p)
    _plant_exclusions(p, staff)
    return p.seed


def _plant_clean(p: _Planter) -> list[str]:
    staff = []
    for i in range(CLEAN_USERS):
        cn = f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]}{i:03d}"
        staff.append(p.user(cn, ou="remote" if i < CLEAN_REMOTE_USERS else "staff"))
    for i in range(2):
        p.user(f"Ingrid Orgperson{i}", object_class=("top", "inetOrgPerson"))
    for i in range(CLEAN_CONTACTS):
        p.contact(f"{FIRST[(i * 3) % len(FIRST)]} Partner{i:02d}")
    for i in range(SERVICE_ACCOUNTS):
        p.user(f"svc app{i}", ou="service", mail=None, mailNickname=None, proxyAddresses=None,
               msExchRecipientTypeDetails=None, displayName=f"Service account {i}")  # fmt: skip
    kinds = [(CLEAN_DISTRIBUTION_GROUPS, "DL", UNIVERSAL_DISTRIBUTION, True),
             (CLEAN_MAIL_SECURITY_GROUPS, "MSG", UNIVERSAL_SECURITY, True),
             (CLEAN_SECURITY_GROUPS, "SG", GLOBAL_SECURITY, False)]  # fmt: skip
    n = 0
    for count, prefix, group_type, mail in kinds:
        for i in range(count):
            members = staff[n * 5 : n * 5 + 5]
            p.group(f"{prefix} {TEAMS[i % len(TEAMS)]} {i}", group_type, mail, members)
            n += 1
    return staff


def _plant_character(p: _Planter) -> None:
    d = p.domain
    cases = [
        ("Amy Ampersand", "userPrincipalName", f"amy&ben@{d}", "& is invalid in a UPN"),
        ("Percy Percent", "userPrincipalName", f"per%cent@{d}", "% is invalid in a UPN"),
        ("Spacey Upn", "userPrincipalName", f"spacey upn@{d}", "no spaces in a UPN"),
        ("Jurgen Umlaut", "userPrincipalName", f"jürgen.müller@{d}", "diacritics are invalid in a UPN"),
        ("Brace Upn", "userPrincipalName", f"brace{{1}}@{d}", "{ } are invalid in a UPN"),
        ("Sam Apostrophe", "sAMAccountName", f"{p.tag[0]}-o'neil", "' is invalid in sAMAccountName (M365 doc)"),
        ("Dot Nickname", "mailNickname", f".{p.tag}.leadingdot", "mailNickname cannot begin with a period"),
    ]
    for cn, attribute, value, note in cases:
        p.defect(p.user(cn, **{attribute: value}), attribute, value, CHARACTER, note)
    proxies = [
        ("Proxy Space", f"smtp:proxy space@{d}", "no space in proxyAddresses"),
        ("Proxy Colon", f"smtp:user:m@{d}", "SMTP:user:M@... is invalid (colon after the prefix)"),
        ("Proxy Bracket", f"smtp:brackets[1]@{d}", "[ ] are invalid in proxyAddresses"),
        ("Proxy Umlaut", f"smtp:zoë@{d}", "diacritics are invalid in proxyAddresses"),
    ]
    for cn, value, note in proxies:
        local = cn.lower().replace(" ", ".")
        dn = p.user(cn, proxyAddresses=[f"SMTP:{local}@{d}", value])
        p.defect(dn, "proxyAddresses", value, CHARACTER, note)
    value = f"SMTP:ext user.{p.tag}@partner.example.net"
    dn = p.contact("Target Space", targetAddress=value)
    p.defect(dn, "targetAddress", value, CHARACTER, "no space in targetAddress")


def _plant_format_and_email_parts(p: _Planter) -> None:
    d = p.domain
    upns = [
        ("Nora Noat", f"nora.noat.{d}", FORMAT, "a UPN needs user@domain"),
        ("Lead At", f"@{d}", FORMAT, "@ must not be first"),
        ("Tld Local", f"tld.local@{p.tag}.local", TOPLEVELDOMAIN, ".local is not routable"),
        ("Tld Corp", f"tld.corp@{p.tag}.corp", TOPLEVELDOMAIN, ".corp is not routable"),
        ("Under Domain", f"under.domain@{p.tag}_example.com", DOMAINPART, "_ is not valid in a domain"),
        ("Dot Before", f"dot.before.@{d}", LOCALPART, ". immediately before @"),
        ("Two Ats", f"two@ats@{d}", LOCALPART, "more than one @"),
    ]
    for cn, value, kind, note in upns:
        p.defect(p.user(cn, userPrincipalName=value), "userPrincipalName", value, kind, note)
    proxies = [
        ("Proxy Noat", f"smtp:proxy.noat.{p.tag}.example.com", FORMAT, "an SMTP proxy needs user@domain"),
        ("Proxy Internal", f"smtp:proxy.internal@{p.tag}.internal", TOPLEVELDOMAIN, ".internal is not routable"),
        ("Proxy Hyphen", f"smtp:proxy.hyphen@-{p.tag}-.example.com", DOMAINPART, "label starts with -"),
    ]
    for cn, value, kind, note in proxies:
        local = cn.lower().replace(" ", ".")
        dn = p.user(cn, proxyAddresses=[f"SMTP:{local}@{d}", value])
        p.defect(dn, "proxyAddresses", value, kind, note)


def _plant_length_and_blank(p: _Planter) -> None:
    d = p.domain
    long_local = "l" * 65
    long_domain = (p.tag + "d" * 40)[:40] + ".example.com"  # 52 > 48 after the @
    long_proxy = f"smtp:{'p' * 260}@{d}"
    long_target = f"SMTP:{'t' * 260}.{p.tag}@partner.example.net"
    cases = [
        ("Long Sam", "sAMAccountName", f"{p.tag[0]}-long-sam-account-21", "sAMAccountName > 20 (21)"),
        ("Long Upnlocal", "userPrincipalName", f"{long_local}@{d}", "UPN local part > 64"),
        ("Long Upndomain", "userPrincipalName", f"x@{long_domain}", "UPN domain part > 48"),
        ("Long Upntotal", "userPrincipalName", f"{'u' * 60}.{'v' * 60}@{d}", "UPN > 113 in total"),
    ]
    for cn, attribute, value, note in cases:
        p.defect(p.user(cn, **{attribute: value}), attribute, value, LENGTH, note)
    dn = p.user("Long Proxy", proxyAddresses=[f"SMTP:long.proxy@{d}", long_proxy])
    p.defect(dn, "proxyAddresses", long_proxy, LENGTH, "a proxyAddresses value > 256")
    dn = p.contact("Long Target", targetAddress=long_target)
    p.defect(dn, "targetAddress", long_target, LENGTH, "targetAddress > 256")
    dn = p.user("Blank Display", displayName=" ")
    p.defect(dn, "displayName", " ", BLANK, "displayName present but blank")
    dn = p.user("Blank Upn", userPrincipalName=None)
    p.defect(dn, "userPrincipalName", None, BLANK, "no UPN")


def _plant_duplicates(p: _Planter, staff: list[str]) -> None:
    d = p.domain
    shared_mail = f"shared.mailbox@{d}"
    for cn in ("Dup Mail One", "Dup Mail Two"):
        p.defect(p.user(cn, mail=shared_mail), "mail", shared_mail, DUPLICATE, "same mail in one forest")
    shared_proxy = f"smtp:helpdesk@{d}"
    dn = p.user("Dup Proxy User", proxyAddresses=[f"SMTP:dup.proxy.user@{d}", shared_proxy])
    p.defect(dn, "proxyAddresses", shared_proxy, DUPLICATE, "proxy shared by a user and a group")
    dn = p.group("Dup Proxy Group", UNIVERSAL_DISTRIBUTION, True, staff[:2],
                 proxyAddresses=[f"SMTP:dup-proxy-group@{d}", shared_proxy])  # fmt: skip
    p.defect(dn, "proxyAddresses", shared_proxy, DUPLICATE, "proxy shared by a user and a group")
    nick = f"{p.tag}.dupnick"
    for cn in ("Dup Nick One", "Dup Nick Two"):
        p.defect(p.user(cn, mailNickname=nick), "mailNickname", nick, DUPLICATE, "same mailNickname")
    target = f"SMTP:vendor.{p.tag}@partner.example.net"
    for cn in ("Dup Target One", "Dup Target Two"):
        p.defect(p.contact(cn, targetAddress=target), "targetAddress", target, DUPLICATE, "same target")
    # Identical in both forests: a tenant-wide scan must see these.
    dn = p.user("Jane Cross", mail=CROSS_FOREST_MAIL, userPrincipalName=CROSS_FOREST_UPN)
    p.defect(dn, "mail", CROSS_FOREST_MAIL, DUPLICATE, "same mail in CORP and FABRIKAM", cross=True)
    p.defect(dn, "userPrincipalName", CROSS_FOREST_UPN, DUPLICATE, "same UPN in both forests", cross=True)
    dn = p.group("Sales Cross", UNIVERSAL_DISTRIBUTION, True, staff[2:4],
                 proxyAddresses=[f"SMTP:sales-cross@{d}", CROSS_FOREST_PROXY])  # fmt: skip
    p.defect(dn, "proxyAddresses", CROSS_FOREST_PROXY, DUPLICATE, "same proxy in both forests", cross=True)


def _plant_valid(p: _Planter) -> None:
    d = p.domain
    local64 = "m" * 64
    domain48 = (p.tag + "q" * 36)[:36] + ".example.com"
    x500 = f"X500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn={p.tag}x5"
    x400 = f"X400:C=US;A= ;P={p.forest};O=Exchange;S=Legacy;G=Xena;"
    sip = f"SIP:xena.legacy@{d}"
    cases = [
        ("Sean O'Brien", "userPrincipalName", f"sean.o'brien@{d}", "' is allowed in a UPN (IdFix flags it)"),
        ("Kim Symbols", "userPrincipalName", f"kim_lee-ops!~^@{d}", "_ - ! ~ ^ are allowed in a UPN"),
        ("Max Upn", "userPrincipalName", f"{local64}@{domain48}", "UPN of exactly 113 = 64 + 1 + 48"),
        ("Tld App", "userPrincipalName", f"tld.app.{p.tag}@contoso.app", ".app is routable (missing in IdFix)"),
        ("Wide Display", "displayName", "W" * 256, "displayName of 256 is the limit (IdFix says 255)"),
        ("Long Given", "givenName", "G" * 64, "givenName of 64 is the limit (IdFix says 63)"),
        ("Sam Twenty", "sAMAccountName", f"{p.tag[0]}-twenty-chars-xyz12", "sAMAccountName of exactly 20"),
    ]
    for cn, attribute, value, note in cases:
        p.valid(p.user(cn, **{attribute: value}), attribute, value, note)
    dn = p.user("Xena Legacy", proxyAddresses=[f"SMTP:xena.legacy@{d}", x500, x400, sip])
    for value, note in ((x500, "X500 with spaces and ( )"), (x400, "X400 with ; and spaces"), (sip, "SIP")):
        p.valid(dn, "proxyAddresses", value, note)


def _plant_exclusions(p: _Planter, staff: list[str]) -> None:
    d = p.domain
    svc = {"ou": "service", "mail": None, "mailNickname": None, "proxyAddresses": None,
           "msExchRecipientTypeDetails": None}  # fmt: skip
    for sam, reason in (("MSOL_0f1e2d3c4b5a", "sAMAccountName starts with MSOL_"),
                        ("AAD_6a5b4c3d2e1f", "sAMAccountName starts with AAD_"),
                        ("SUPPORT_388945a0", "sAMAccountName is SUPPORT_388945a0")):  # fmt: skip
        p.exclude(p.user(sam, sAMAccountName=sam, userPrincipalName=f"{sam}@{d}", **svc), reason)
    _plant_exchange_system_objects(p)
    # A replication-conflict copy of a clean user: same mail and proxies. The original must not be
    # reported as a duplicate, because the CNF copy is out of scope.
    original = p.seed.entry(staff[-1]).attributes
    cnf = f"{original['cn']}\nCNF:6c1b5a3e-{p.tag[:4]:0>4}-4d2e-9f00-123456789abc"
    dn = p.user(cnf, sAMAccountName=f"{p.tag[0]}-cnf-copy", userPrincipalName=None,
                mail=original["mail"], proxyAddresses=original["proxyAddresses"])  # fmt: skip
    p.exclude(dn, "RDN contains \\0ACNF: (replication conflict)")
    dn = p.contact("Partner Sync (MSOL)", msExchHideFromAddressLists="TRUE")
    p.exclude(dn, 'contact displayName contains "(MSOL)" and hidden from address lists')
    p.exclude(p.contact("CAS_{c0ffee01}", mailNickname="CAS_{c0ffee01}"), "mailNickname CAS_...}")
    dn = p.contact("Not Mailenabled", mail=None, proxyAddresses=None, targetAddress=None, mailNickname=None)
    p.exclude(dn, "contact without mail or proxyAddresses (not mail-enabled)")
    dn = p.group("MSOL_AD_Sync_RichCoexistence", UNIVERSAL_SECURITY, False, [],
                 sAMAccountName="MSOL_AD_Sync_RichCoexistence")  # fmt: skip
    p.exclude(dn, "group sAMAccountName MSOL_AD_Sync_RichCoexistence")
    dn = p.group("Role Org Management", UNIVERSAL_SECURITY, True, staff[4:6], msExchRecipientTypeDetails=ROLE_GROUP)
    p.exclude(dn, "role group (msExchRecipientTypeDetails & 0x40000000)")
    dn = p.group("DL Not Mailenabled", UNIVERSAL_DISTRIBUTION, False, staff[6:8])
    p.exclude(dn, "distribution group without mail (not mail-enabled)")
    computer = p.add(f"CN=LABPC01,{p.ou['devices']}", ("top", "computer"),
                     {"cn": "LABPC01", "sAMAccountName": "LABPC01$", "userAccountControl": "4096"})  # fmt: skip
    p.exclude(computer, "computer without userCertificate (objectClass=user matches it too)")
    users = f"CN=Users,{p.seed.base_dn}"
    for name in ("Administrator", "Guest", "krbtgt"):
        p.exclude(f"CN={name},{users}", "isCriticalSystemObject", preexisting=True)


def _plant_exchange_system_objects(p: _Planter) -> None:
    d = p.domain
    guid = "1f05a927-3be2-4fb9-aa03-b59fe3b56f4c"
    # Realistic: the UPNs carry { } which a scanner that forgot the exclusion would flag.
    system = [
        (f"SystemMailbox{{{guid}}}", f"SystemMailbox{{{guid}}}", ARBITRATION_MAILBOX,
         "mailNickname starts with SystemMailbox{"),
        ("DiscoverySearchMailbox {D919BA05-46A6-415f-80AD-7E09334BB852}",
         "DiscoverySearchMailbox{D919BA05-46A6-415f-80AD-7E09334BB852}", DISCOVERY_MAILBOX,
         "discovery mailbox (msExchRecipientTypeDetails & 0x21C07000)"),
        ("CAS_{a1b2c3d4}", "CAS_{a1b2c3d4}", USER_MAILBOX, "mailNickname starts with CAS_ and contains }"),
        ("Public Folder Mailbox", f"{p.tag}.pfmailbox", PUBLIC_FOLDER, "public folder (0x1000)"),
        ("System Mailbox Legacy", f"{p.tag}.sysmbx", SYSTEM_MAILBOX, "system mailbox (0x4000)"),
        ("Mailbox Plan Default", f"{p.tag}.mbxplan", MAILBOX_PLAN, "mailbox plan (0x1000000)"),
    ]  # fmt: skip
    for i, (cn, nick, details, reason) in enumerate(system):
        dn = p.user(cn, ou="exchange", sAMAccountName=f"{p.tag[0]}-exsys{i}", mailNickname=nick,
                    userPrincipalName=f"{nick}@{d}", mail=f"{p.tag}.exsys{i}@{d}",
                    proxyAddresses=[f"SMTP:{p.tag}.exsys{i}@{d}"], msExchRecipientTypeDetails=details,
                    msExchHideFromAddressLists="TRUE")  # fmt: skip
        p.exclude(dn, reason)


# --- writing ------------------------------------------------------------------------------------


def seed_directory(connect, seed: Seed, workers: int = 2) -> None:
    """Add every entry: OUs in order, then leaves on `workers` connections, then groups (members exist).

    connect() must return a bound ldap3 Connection with raise_exceptions=True.
    """
    ous = [e for e in seed.entries if e.kind == "organizationalUnit"]
    groups = [e for e in seed.entries if e.kind == "group"]
    leaves = [e for e in seed.entries if e.kind not in ("organizationalUnit", "group")]
    conn = connect()
    try:
        _add_all(conn, ous)
    finally:
        conn.unbind()
    for batch in (leaves, groups):
        with ThreadPoolExecutor(workers) as pool:
            # list() re-raises the first worker exception.
            list(pool.map(lambda part: _add_with(connect, part), [batch[i::workers] for i in range(workers)]))


def _add_with(connect, entries: list[Entry]) -> None:
    conn = connect()
    try:
        _add_all(conn, entries)
    finally:
        conn.unbind()


def _add_all(conn: ldap3.Connection, entries: list[Entry]) -> None:
    for entry in entries:
        try:
            conn.add(entry.dn, list(entry.object_class), entry.attributes)
        except ldap3.core.exceptions.LDAPException as exc:
            raise RuntimeError(f"seed add failed for {entry.dn!r}: {exc}") from exc
