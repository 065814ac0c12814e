"""Generate a realistic, messy Active Directory forest as LDIF, with a known number of defects.

    python bench/generate.py --count 100000 --seed 1 --format ldif --out corp.ldf
    python bench/generate.py --count 100000 --seed 1 --format slapadd --out seed.ldif \
        --suffix DC=corp,DC=example,DC=test

--format ldif     what `ldifde -f` writes (CRLF, changetype: add, distinguishedName, AD classes);
                  read by identityhub.lib.ldif, used by the offline-check tests and the demo.
--format slapadd  LDIF for `slapadd -q` into slapd with the lab's AD-like schema
                  (tests/lab/ad-lab.schema): classes [top, user] / [top, contact] /
                  [top, group], the suffix and OU entries first, no AD-only attributes.

Every object is clean except a `--defect-rate` fraction, which get exactly one planted defect of
an IdFix kind (character, format, length, blank, topleveldomain, domainpart, localpart,
duplicate, duplicate_cross). The counts of what was planted are returned by `generate()` and
printed as JSON. Clean values are unique by construction (name counters, not a set of seen
values), so the only duplicates are the planted ones, and memory stays constant for any --count.

duplicate        a later object reuses a value of an earlier clean object in this output; the
                 count is the number of extra holders (the first holder is clean).
duplicate_cross  mail + SMTP proxy "<first>.<last>.<k>@<mail domain>" where k counts 0, 1, 2...
                 in every output, independent of the seed: two outputs with the same
                 --mail-domain share min(n1, n2) such values, and none within one output.
excluded         not defects: objects Entra Connect and IdFix skip (a replication-conflict copy
                 "...\\0ACNF:<guid>" of an earlier user, whose values duplicate that user's); a
                 checker must not report them.
idfix_skips      a HealthMailbox user: IdFix skips it by its CN prefix, but Entra Connect's default
                 rules sync it (sync-rules.md §6.4 has no such exclusion), so a checker keeps it in
                 scope and reports its non-routable UPN.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import random
import re
import sys
import time
import unicodedata
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field

FIRST_NAMES = [
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Susan", "Richard", "Jessica", "Thomas", "Sarah", "Daniel", "Karen",
    "Matthew", "Nancy", "Anthony", "Lisa", "Mark", "Emily", "Paul", "Anna", "Jürgen", "Sören",
    "José", "María", "François", "Zoë", "Björn", "Łukasz", "Siobhán", "Renée", "Anne-Marie",
    "Chloé", "Øystein", "Ines", "Mei", "Hiroshi", "Priya", "Ahmed", "Fatima", "Olga", "Dmitri",
    "Aoife", "Seán", "Noël",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson",
    "Taylor", "Thomas", "Moore", "Martin", "Jackson", "White", "Harris", "Clark", "Lewis",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson",
    "Müller", "Schröder", "Weiß", "Größer", "O'Brien", "O'Neill", "D'Angelo", "García",
    "Núñez", "Fernández", "Dubois", "Lefèvre", "Ødegaard", "Sørensen", "Kowalski",
    "Wiśniewski", "Nguyen", "Tanaka", "Patel", "Khan", "Ivanov", "Smith-Jones", "van der Berg",
    "de la Cruz", "MacDonald", "Håkansson",
]  # fmt: skip
DEPARTMENTS = ["Sales", "Finance", "Engineering", "HR", "Marketing", "Operations", "Legal", "IT"]
TITLES = ["Manager", "Analyst", "Engineer", "Consultant", "Director", "Assistant", "Specialist"]
SITES = ["Berlin", "London", "Seattle", "Madrid", "Tokyo"]
GROUP_TOPICS = ["Team", "All Staff", "Approvers", "Managers", "Project Alpha", "Leads", "Announcements"]
PARTNER_DOMAINS = ["fabrikam.com", "adatum.com", "tailspintoys.com", "litware.de", "woodgrovebank.co.uk"]
DEFECT_KINDS = (
    "character", "format", "length", "blank", "topleveldomain", "domainpart", "localpart",
    "duplicate", "duplicate_cross",
)  # fmt: skip
UAC_NORMAL, UAC_DISABLED, UAC_NO_EXPIRY = 512, 514, 66048
GROUP_SECURITY, GROUP_DISTRIBUTION, GROUP_MAIL_SECURITY = -2147483646, 8, -2147483640
EXCLUDED_RATE = 0.004
# Letters a plain NFKD fold would get wrong or drop, spelt the way AD admins usually do.
_RDN_SPECIAL = re.compile(r'[,+"\\<>;\x00-\x1f]|^[ #]| $')
# RFC 2849: a value needs base64 unless it is ASCII without NUL/CR/LF, not starting with ' ', ':'
# or '<', and not ending with ' '.
_UNSAFE = re.compile(r"^[ :<]|[^\x01-\x09\x0b\x0c\x0e-\x7f]| $")
_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ø": "o", "æ": "ae", "ł": "l", "å": "a"})


@dataclass
class Forest:
    """Per-output state. Everything here is bounded, whatever --count is."""

    rng: random.Random
    suffix: str
    mail_domain: str
    slapadd: bool
    ad_dns: str = ""
    local_domain: str = ""
    tenant: str = ""
    sid_prefix: bytes = b""
    name_counts: Counter = field(default_factory=Counter)  # keyed by name base: <= names x names
    seen: dict = field(default_factory=lambda: {k: deque(maxlen=256) for k in ("upn", "mail", "nick")})
    recent_users: deque = field(default_factory=lambda: deque(maxlen=200))
    last_clean_user: dict | None = None
    cross_index: int = 0
    counts: dict = field(default_factory=lambda: {"objects": Counter(), "defects": Counter(),
                                                  "defect_attributes": Counter(), "excluded": Counter(),
                                                  "idfix_skips": Counter()})  # fmt: skip


@dataclass
class Obj:
    cls: str  # user, inetOrgPerson, contact, group
    cn: str
    parent: str
    attrs: dict  # name -> str | bytes | list; order is write order
    first: str = ""
    last: str = ""


# --------------------------------------------------------------------------- names and values


@functools.lru_cache(maxsize=4096)  # names come from short lists: fold each once
def fold(text: str) -> str:
    """ASCII form of a name for addresses: 'Müller' -> 'mueller', "O'Brien" -> 'obrien'."""
    text = unicodedata.normalize("NFKD", text.lower().translate(_FOLD))
    return "".join(c for c in text if c.isascii() and c.isalnum())


def escape_rdn(value: str) -> str:
    """RFC 4514 escaping of an RDN value, as AD writes it (hex for control characters)."""
    if not _RDN_SPECIAL.search(value):
        return value
    out = []
    for i, char in enumerate(value):
        if char in ',+"\\<>;' or (char in "# " and i == 0) or (char == " " and i == len(value) - 1):
            out.append("\\" + char)
        elif ord(char) < 32:
            out.append(f"\\{ord(char):02X}")
        else:
            out.append(char)
    return "".join(out)


def person_names(forest: Forest) -> tuple[str, str, int]:
    """A first and last name, and how many people of that name came before (0 = the first)."""
    first, last = forest.rng.choice(FIRST_NAMES), forest.rng.choice(LAST_NAMES)
    base = f"{fold(first)}.{fold(last)}"
    number = forest.name_counts[base]
    forest.name_counts[base] += 1
    return first, last, number


def sam_for(forest: Forest, first: str, last: str) -> str:
    base = (fold(first)[:1] + fold(last))[:14]
    number = forest.name_counts["sam:" + base]
    forest.name_counts["sam:" + base] += 1
    return base + (str(number + 1) if number else "")


def new_guid(forest: Forest) -> bytes:
    return forest.rng.getrandbits(128).to_bytes(16, "little")


def new_sid(forest: Forest, rid: int) -> bytes:
    return forest.sid_prefix + rid.to_bytes(4, "little")


def sid_prefix(rng: random.Random) -> bytes:
    # S-1-5-21-a-b-c: revision 1, 5 sub-authorities, authority 5 (big-endian), sub-authorities LE.
    subs = [21, rng.getrandbits(32), rng.getrandbits(32), rng.getrandbits(32)]
    return bytes([1, 5]) + (5).to_bytes(6, "big") + b"".join(s.to_bytes(4, "little") for s in subs)


def x500(forest: Forest, nick: str) -> str:
    return (
        f"X500:/o={forest.tenant}/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/"
        f"cn={forest.rng.getrandbits(128):032x}-{nick}"
    )


# --------------------------------------------------------------------------- clean objects


def make_user(forest: Forest, index: int) -> Obj:
    rng = forest.rng
    first, last, number = person_names(forest)
    suffix = str(number + 1) if number else ""
    local = f"{fold(first)}.{fold(last)}{suffix}"
    upn = f"{local}@{forest.mail_domain}"
    sam = sam_for(forest, first, last)
    disabled = rng.random() < 0.05
    site = rng.choice(SITES)
    parent = f"OU=Disabled Users,{forest.suffix}" if disabled else f"OU={site},OU=Users,{forest.suffix}"
    # Sites differ in naming convention, as merged forests do: "Smith, John" vs "John Smith".
    display = f"{last}, {first}" if site in ("Berlin", "Madrid") else f"{first} {last}"
    cn = display + (f" {number + 1}" if number else "")
    proxies = [f"SMTP:{upn}", f"smtp:{sam}@{forest.mail_domain}", f"smtp:{local}@{forest.tenant}.mail.onmicrosoft.com"]
    if rng.random() < 0.3:
        proxies.append(x500(forest, local))
    if rng.random() < 0.5:
        proxies.append(f"SIP:{upn}")
    attrs = {
        "givenName": first, "sn": last, "displayName": display, "sAMAccountName": sam,
        "userPrincipalName": upn, "mail": upn, "mailNickname": local, "proxyAddresses": proxies,
        "userAccountControl": str(UAC_DISABLED if disabled else rng.choice((UAC_NORMAL, UAC_NO_EXPIRY))),
        "department": rng.choice(DEPARTMENTS), "title": rng.choice(TITLES),
        "objectGUID": new_guid(forest), "objectSid": new_sid(forest, 1100 + index),
    }  # fmt: skip
    cls = "inetOrgPerson" if rng.random() < 0.1 else "user"
    return Obj(cls, cn, parent, attrs, first, last)


def make_contact(forest: Forest, index: int) -> Obj:
    first, last, number = person_names(forest)
    suffix = str(number + 1) if number else ""
    local = f"{fold(first)}.{fold(last)}{suffix}"
    external = f"{local}@{forest.rng.choice(PARTNER_DOMAINS)}"
    display = f"{first} {last} (External)"
    attrs = {
        "givenName": first, "sn": last, "displayName": display, "mail": external,
        "mailNickname": local, "proxyAddresses": [f"SMTP:{external}"], "targetAddress": f"SMTP:{external}",
        "objectGUID": new_guid(forest),
    }  # fmt: skip
    return Obj("contact", display + (f" {number + 1}" if number else ""), f"OU=Contacts,{forest.suffix}", attrs)


def make_group(forest: Forest, index: int) -> Obj:
    rng = forest.rng
    name = f"{rng.choice(DEPARTMENTS + SITES)} {rng.choice(GROUP_TOPICS)}"
    number = forest.name_counts["group:" + name]
    forest.name_counts["group:" + name] += 1
    cn = name + (f" {number + 1}" if number else "")
    sam = cn.replace(" ", "")
    mail_enabled = rng.random() < 0.5
    attrs = {"displayName": cn, "sAMAccountName": sam}
    if mail_enabled:
        nick = cn.lower().replace(" ", "-")
        address = f"{nick}@{forest.mail_domain}"
        attrs |= {"mail": address, "mailNickname": nick, "proxyAddresses": [f"SMTP:{address}"]}
        attrs["groupType"] = str(rng.choice((GROUP_DISTRIBUTION, GROUP_MAIL_SECURITY)))
        parent = f"OU=Distribution Lists,OU=Groups,{forest.suffix}"
    else:
        attrs["groupType"] = str(GROUP_SECURITY)
        parent = f"OU=Groups,{forest.suffix}"
    members = list(forest.recent_users)
    attrs["member"] = rng.sample(members, min(len(members), rng.randint(0, 6)))
    attrs["description"] = f"{name} ({'mail-enabled' if mail_enabled else 'security'})"
    attrs |= {"objectGUID": new_guid(forest), "objectSid": new_sid(forest, 1100 + index)}
    return Obj("group", cn, parent, attrs)


# --------------------------------------------------------------------------- defects


def _local_and_domain(obj: Obj) -> tuple[str, str]:
    address = obj.attrs.get("mail") or obj.attrs.get("userPrincipalName")
    return address.split("@", 1)


def _set_primary(obj: Obj, address: str) -> None:
    """Point mail and the primary SMTP proxy at `address` (the defect shows in both)."""
    obj.attrs["mail"] = address
    proxies = obj.attrs["proxyAddresses"]
    proxies[0] = "SMTP:" + address
    if "targetAddress" in obj.attrs:
        obj.attrs["targetAddress"] = "SMTP:" + address


def _mail_enabled(obj: Obj) -> bool:
    return "proxyAddresses" in obj.attrs


def defect_character(forest: Forest, obj: Obj) -> str | None:
    rng = forest.rng
    options = [name for name in ("sAMAccountName", "userPrincipalName") if name in obj.attrs]
    if _mail_enabled(obj):
        options += ["proxyAddresses", "mailNickname"]
    choice = rng.choice(options)
    if choice == "sAMAccountName":
        sam = obj.attrs["sAMAccountName"]
        cut = rng.randint(1, len(sam) - 1)
        obj.attrs["sAMAccountName"] = sam[:cut] + rng.choice('/\\[]:;|=,+*?<>"') + sam[cut:]
    elif choice == "userPrincipalName":
        local, domain = obj.attrs["userPrincipalName"].split("@", 1)
        # Accented letters kept from the real name, or a forbidden symbol.
        accented = f"{obj.first.lower()}.{obj.last.lower()}".replace(" ", "").replace("'", "")
        bad = accented if not accented.isascii() else local.replace(".", rng.choice("&*+/=?{}|()"), 1)
        obj.attrs["userPrincipalName"] = f"{bad}@{domain}"
    elif choice == "proxyAddresses":
        local, domain = _local_and_domain(obj)
        obj.attrs["proxyAddresses"].append(f"smtp:{local.replace('.', rng.choice(' ,;[]()<>'), 1)}@{domain}")
    else:
        obj.attrs["mailNickname"] = "." + obj.attrs["mailNickname"]  # a leading period
    return choice


def defect_format(forest: Forest, obj: Obj) -> str | None:
    if obj.cls in ("user", "inetOrgPerson") and forest.rng.random() < 0.5:
        obj.attrs["userPrincipalName"] = obj.attrs["sAMAccountName"]  # a UPN with no @suffix
        return "userPrincipalName"
    if not _mail_enabled(obj):
        return None
    local, domain = _local_and_domain(obj)
    obj.attrs["proxyAddresses"].append(f"smtp:{local}.{domain}")  # the '@' lost in a retype
    return "proxyAddresses"


def defect_length(forest: Forest, obj: Obj) -> str | None:
    rng = forest.rng
    options = ["displayName"]
    if obj.cls in ("user", "inetOrgPerson"):
        options += ["sAMAccountName", "userPrincipalName", "givenName"]
    if _mail_enabled(obj):
        options.append("mailNickname")
    choice = rng.choice(options)
    if choice == "displayName":
        obj.attrs["displayName"] = (obj.attrs["displayName"] + " - ") * 30  # > 256
        obj.attrs["displayName"] = obj.attrs["displayName"][: rng.randint(257, 300)]
    elif choice == "sAMAccountName":
        obj.attrs["sAMAccountName"] = (obj.attrs["sAMAccountName"] + ".contractor.ext")[: rng.randint(21, 24)]
    elif choice == "userPrincipalName":
        local, domain = obj.attrs["userPrincipalName"].split("@", 1)
        long_local = f"{local}.{obj.attrs['department'].lower()}.external.contractor.temporary.account"
        obj.attrs["userPrincipalName"] = f"{long_local}@{domain}"  # local part > 64
    elif choice == "givenName":
        obj.attrs["givenName"] = (obj.attrs["givenName"] + " ") * 14  # > 64
    else:
        obj.attrs["mailNickname"] = (obj.attrs["mailNickname"] + "_") * 8  # > 64
    return choice


def defect_blank(forest: Forest, obj: Obj) -> str | None:
    if forest.rng.random() < 0.7:
        del obj.attrs["displayName"]
    else:
        obj.attrs["displayName"] = " "  # present but blank: only whitespace
    return "displayName"


def defect_topleveldomain(forest: Forest, obj: Obj) -> str | None:
    if obj.cls in ("user", "inetOrgPerson"):
        local = obj.attrs["userPrincipalName"].split("@", 1)[0]
        obj.attrs["userPrincipalName"] = f"{local}@{forest.local_domain}"  # the classic .local UPN
        return "userPrincipalName"
    if not _mail_enabled(obj):
        return None
    local, _ = _local_and_domain(obj)
    obj.attrs["proxyAddresses"].append(f"smtp:{local}@{forest.local_domain}")
    return "proxyAddresses"


def defect_domainpart(forest: Forest, obj: Obj) -> str | None:
    if not _mail_enabled(obj):
        return None
    local, domain = _local_and_domain(obj)
    label, _, rest = domain.partition(".")
    bad = forest.rng.choice([f"{label}_mail.{rest}", f"-{domain}", f"{label}..{rest}", f"{label}!.{rest}"])
    obj.attrs["proxyAddresses"].append(f"smtp:{local}@{bad}")
    return "proxyAddresses"


def defect_localpart(forest: Forest, obj: Obj) -> str | None:
    if not _mail_enabled(obj):
        return None
    local, domain = _local_and_domain(obj)
    bad = forest.rng.choice([f"{local}.", f".{local}", local.replace(".", "..", 1) + "..x", f"{local}@"])
    target = "userPrincipalName" if "userPrincipalName" in obj.attrs and forest.rng.random() < 0.4 else "mail"
    if target == "userPrincipalName":
        obj.attrs["userPrincipalName"] = f"{bad}@{obj.attrs['userPrincipalName'].split('@', 1)[1]}"
    else:
        _set_primary(obj, f"{bad}@{domain}")
        target = "mail+proxyAddresses"
    return target


def defect_duplicate(forest: Forest, obj: Obj) -> str | None:
    options = []
    if obj.cls in ("user", "inetOrgPerson") and forest.seen["upn"]:
        options.append("userPrincipalName")
    if _mail_enabled(obj) and forest.seen["mail"]:
        options += ["mail+proxyAddresses", "proxyAddresses"]
    if _mail_enabled(obj) and forest.seen["nick"]:
        options.append("mailNickname")
    if not options:
        return None
    choice = forest.rng.choice(options)
    if choice == "userPrincipalName":
        obj.attrs["userPrincipalName"] = forest.rng.choice(forest.seen["upn"])
    elif choice == "mail+proxyAddresses":
        _set_primary(obj, forest.rng.choice(forest.seen["mail"]))
    elif choice == "proxyAddresses":
        obj.attrs["proxyAddresses"].append("smtp:" + forest.rng.choice(forest.seen["mail"]))
    else:
        obj.attrs["mailNickname"] = forest.rng.choice(forest.seen["nick"])
    return choice


def defect_duplicate_cross(forest: Forest, obj: Obj) -> str | None:
    if not _mail_enabled(obj):
        return None
    k = forest.cross_index
    forest.cross_index += 1
    # Names from k alone (not the RNG) so every output plants the same k-th value.
    first, last = FIRST_NAMES[k % len(FIRST_NAMES)], LAST_NAMES[(k * 7) % len(LAST_NAMES)]
    _set_primary(obj, f"{fold(first)}.{fold(last)}.{k:05d}@{forest.mail_domain}")
    return "mail+proxyAddresses"


DEFECTS = {
    "character": defect_character, "format": defect_format, "length": defect_length,
    "blank": defect_blank, "topleveldomain": defect_topleveldomain, "domainpart": defect_domainpart,
    "localpart": defect_localpart, "duplicate": defect_duplicate, "duplicate_cross": defect_duplicate_cross,
}  # fmt: skip


def plant_defect(forest: Forest, obj: Obj) -> bool:
    """Give `obj` one defect of a kind that applies to it; record it. False if none applied."""
    kinds = list(DEFECT_KINDS)
    forest.rng.shuffle(kinds)
    for kind in kinds:
        attribute = DEFECTS[kind](forest, obj)
        if attribute:
            forest.counts["defects"][kind] += 1
            forest.counts["defect_attributes"][f"{kind}:{attribute}"] += 1
            return True
    return False


def remember_clean(forest: Forest, obj: Obj) -> None:
    if "userPrincipalName" in obj.attrs:
        forest.seen["upn"].append(obj.attrs["userPrincipalName"])
    if "mail" in obj.attrs and obj.cls != "contact":
        forest.seen["mail"].append(obj.attrs["mail"])
    if "mailNickname" in obj.attrs:
        forest.seen["nick"].append(obj.attrs["mailNickname"])


# --------------------------------------------------------------------------- excluded objects


def make_excluded(forest: Forest, index: int) -> tuple[str, Obj]:
    source = forest.last_clean_user
    if source is not None and forest.rng.random() < 0.5:
        forest.last_clean_user = None  # one conflict copy per original
        guid = new_guid(forest)
        attrs = dict(source.attrs, objectGUID=guid, objectSid=new_sid(forest, 1100 + index))
        attrs["proxyAddresses"] = list(source.attrs["proxyAddresses"])
        cn = f"{source.cn}\nCNF:{uuid.UUID(bytes_le=guid)}"
        return "cnf_conflict", Obj(source.cls, cn, source.parent, attrs, source.first, source.last)
    tag = f"{forest.rng.getrandbits(64):016x}"
    nick = f"HealthMailbox{tag[:7]}"
    attrs = {
        "displayName": f"HealthMailbox-DC1-{tag[:3]}", "sAMAccountName": f"SM_{tag[:16]}",
        "userPrincipalName": f"{nick}@{forest.local_domain}", "mail": f"{nick}@{forest.local_domain}",
        "mailNickname": nick, "proxyAddresses": [f"SMTP:{nick}@{forest.local_domain}"],
        "userAccountControl": str(UAC_DISABLED), "objectGUID": new_guid(forest),
        "objectSid": new_sid(forest, 1100 + index),
    }  # fmt: skip
    return "health_mailbox", Obj("user", f"HealthMailbox{tag}", f"OU=Users,{forest.suffix}", attrs)


# --------------------------------------------------------------------------- writing

OBJECT_CLASSES = {
    "user": ["top", "person", "organizationalPerson", "user"],
    "inetOrgPerson": ["top", "person", "organizationalPerson", "user", "inetOrgPerson"],
    "contact": ["top", "person", "organizationalPerson", "contact"],
    "group": ["top", "group"],
}
CATEGORY = {"user": "Person", "inetOrgPerson": "Person", "contact": "Person", "group": "Group"}


def ldif_line(name: str, value: str | bytes) -> str:
    if isinstance(value, str) and value and not _UNSAFE.search(value):
        line = f"{name}: {value}"
    else:
        raw = value if isinstance(value, bytes) else value.encode("utf-8")
        line = f"{name}:: {base64.b64encode(raw).decode('ascii')}"
    if len(line) <= 76:
        return line
    # Fold long lines: continuation lines start with one space (ldifde does the same).
    return "\n ".join([line[:76]] + [line[i : i + 75] for i in range(76, len(line), 75)])


def record_pairs(forest: Forest, obj: Obj, dn: str) -> list[tuple[str, str | bytes]]:
    classes = ["top", obj.cls if obj.cls != "inetOrgPerson" else "user"]
    if not forest.slapadd:
        classes = OBJECT_CLASSES[obj.cls]
    pairs: list[tuple[str, str | bytes]] = [("objectClass", c) for c in classes]
    pairs.append(("cn", obj.cn))
    if not forest.slapadd:
        pairs += [("distinguishedName", dn), ("name", obj.cn)]
    category = f"CN={CATEGORY[obj.cls]},CN=Schema,CN=Configuration,{forest.suffix}"
    # Every attribute written here is in the lab schema's MAY list of the class it is written on.
    for name, value in [*obj.attrs.items(), ("objectCategory", category)]:
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name, item))
    return pairs


def write_record(out, forest: Forest, dn: str, pairs, eol: str) -> None:
    lines = [ldif_line("dn", dn)]
    if not forest.slapadd:
        lines.append("changetype: add")
    lines += [ldif_line(name, value) for name, value in pairs]
    text = "\n".join(lines) + "\n\n"  # folded lines already hold "\n "
    out.write(text if eol == "\n" else text.replace("\n", eol))


def container_records(forest: Forest):
    """The suffix entry and the OU tree, parents first (slapadd needs them)."""
    dc = forest.suffix.split(",")[0].split("=", 1)[1]
    head_classes = ["top", "domain"] if forest.slapadd else ["top", "domain", "domainDNS"]
    yield forest.suffix, [*(("objectClass", c) for c in head_classes), ("dc", dc)]
    ous = ["Users", *(f"{site},OU=Users" for site in SITES), "Disabled Users", "Contacts", "Groups",
           "Distribution Lists,OU=Groups"]  # fmt: skip
    for ou in ous:
        dn = f"OU={ou},{forest.suffix}"
        yield dn, [("objectClass", "top"), ("objectClass", "organizationalUnit"), ("ou", ou.split(",")[0])]


# --------------------------------------------------------------------------- driver


def new_forest(seed: int, suffix: str, mail_domain: str, slapadd: bool) -> Forest:
    forest = Forest(random.Random(seed), suffix, mail_domain, slapadd)
    labels = [part.split("=", 1)[1] for part in suffix.split(",")]
    forest.ad_dns = ".".join(labels).lower()
    forest.local_domain = forest.ad_dns if forest.ad_dns.endswith(".local") else f"{labels[0].lower()}.local"
    forest.tenant = mail_domain.split(".")[0]
    forest.sid_prefix = sid_prefix(forest.rng)
    return forest


def next_object(forest: Forest, index: int, defect_rate: float) -> Obj:
    rng = forest.rng
    if rng.random() < EXCLUDED_RATE:
        reason, obj = make_excluded(forest, index)
        forest.counts["idfix_skips" if reason == "health_mailbox" else "excluded"][reason] += 1
        return obj
    roll = rng.random()
    maker = make_user if roll < 0.74 else make_contact if roll < 0.87 else make_group
    obj = maker(forest, index)
    if not (rng.random() < defect_rate and plant_defect(forest, obj)):
        remember_clean(forest, obj)
        if obj.cls in ("user", "inetOrgPerson"):
            forest.last_clean_user = obj
    return obj


def object_kind(obj: Obj) -> str:
    if obj.cls != "group":
        return obj.cls
    return "group_mail" if "mail" in obj.attrs else "group_security"


def generate(
    out,
    count: int,
    seed: int,
    fmt: str = "ldif",
    defect_rate: float = 0.05,
    suffix: str = "DC=corp,DC=example,DC=test",
    mail_domain: str = "example.com",
) -> dict:
    """Write `count` directory objects (plus the suffix and OUs) to the text stream `out`."""
    forest = new_forest(seed, suffix, mail_domain, fmt == "slapadd")
    eol = "\n" if forest.slapadd else "\r\n"  # ldifde writes CRLF
    if not forest.slapadd:
        out.write(eol)  # ldifde starts its files with a blank line
    for dn, pairs in container_records(forest):
        write_record(out, forest, dn, pairs, eol)
        forest.counts["objects"]["container"] += 1
    for index in range(count):
        obj = next_object(forest, index, defect_rate)
        dn = f"CN={escape_rdn(obj.cn)},{obj.parent}"
        if obj.cls in ("user", "inetOrgPerson"):
            forest.recent_users.append(dn)
        write_record(out, forest, dn, record_pairs(forest, obj, dn), eol)
        forest.counts["objects"][object_kind(obj)] += 1
    return summary(forest, count, seed, fmt, defect_rate)


def summary(forest: Forest, count: int, seed: int, fmt: str, defect_rate: float) -> dict:
    counts = forest.counts
    return {
        "count": count, "seed": seed, "format": fmt, "defect_rate": defect_rate, "suffix": forest.suffix,
        "mail_domain": forest.mail_domain, "objects": dict(counts["objects"]),
        "defects": {kind: counts["defects"][kind] for kind in DEFECT_KINDS},
        "defects_total": sum(counts["defects"].values()),
        "defect_attributes": dict(sorted(counts["defect_attributes"].items())),
        "excluded": dict(counts["excluded"]), "idfix_skips": dict(counts["idfix_skips"]),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, required=True, help="directory objects (OUs not counted)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=("ldif", "slapadd"), default="ldif")
    parser.add_argument("--out", required=True, help="output file, '-' for stdout")
    parser.add_argument("--defect-rate", type=float, default=0.05)
    parser.add_argument("--suffix", default="DC=corp,DC=example,DC=test")
    parser.add_argument("--mail-domain", default="example.com", help="routable UPN/mail domain")
    parser.add_argument("--header", default="", help="a comment line written first (ldif format)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8", newline="")  # noqa: SIM115
    try:
        if args.header:
            out.write(f"# {args.header}\r\n" if args.format == "ldif" else f"# {args.header}\n")
        result = generate(out, args.count, args.seed, args.format, args.defect_rate, args.suffix, args.mail_domain)
    finally:
        if out is not sys.stdout:
            out.close()
    seconds = time.perf_counter() - started
    result["seconds"] = round(seconds, 2)
    result["objects_per_second"] = round(args.count / seconds) if seconds else None
    print(json.dumps(result, indent=2), file=sys.stderr if args.out == "-" else sys.stdout)
    return result


if __name__ == "__main__":
    main()
