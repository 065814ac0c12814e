"""Issue 14: what the rules got wrong on real directories (ldifde -x exports, Samba dumps, ldapsearch).

Each test builds the situation from the issue's description; none copies real data.
"""

import pytest

from identityhub.lib.rules import Context, DuplicateFinder, check_entry, exclusion_reason, identity_keys

from .test_rules_support import MT, VERIFIED, codes, make


def dupes(*entries, ctx=None):
    finder = DuplicateFinder(ctx)
    for entry in entries:
        finder.add(entry)
    return list(finder.findings())


# --- 1. deleted objects ----------------------------------------------------------------------

DELETED = [
    make(isDeleted="TRUE", userPrincipalName="gone@contoso.com"),
    make(dn="CN=Jo Smith\\0ADEL:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0,CN=Deleted Objects,DC=contoso,DC=com"),
    make(dn="CN=Jo Smith\\\\0ADEL:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0,OU=Staff,DC=contoso,DC=com"),
    make(dn="CN=Jo Smith\nDEL:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0,OU=Staff,DC=contoso,DC=com"),  # dn:: decoded
    make(dn="CN=Old Group,CN=Deleted Objects,DC=corp,DC=contoso,DC=com"),
    make(isRecycled="TRUE"),
    make("group", isDeleted="true"),
    make("contact", dn="CN=Ext\\0ADEL:1234,CN=Deleted Objects,DC=contoso,DC=com"),
]


@pytest.mark.parametrize("entry", DELETED)
def test_deleted_objects_are_excluded_under_their_own_reason(entry):
    assert exclusion_reason(entry) == "deleted-object"
    assert check_entry(entry, MT) == [] and identity_keys(entry) == []


def test_a_tombstone_never_makes_the_live_owner_a_duplicate():
    live = make(userPrincipalName="jo@contoso.com", mail="jo@contoso.com")
    tombstone = make(isDeleted="TRUE", userPrincipalName="jo@contoso.com", mail="jo@contoso.com")
    assert dupes(live, tombstone) == []


def test_is_deleted_false_and_a_live_ou_named_deleted_are_in_scope():
    assert exclusion_reason(make(isDeleted="FALSE")) is None
    assert exclusion_reason(make(dn="CN=Jo,OU=Deleted Objects Archive,DC=contoso,DC=com")) is None


# --- 2. sAMAccountName across domains --------------------------------------------------------


def _no_upn(sam, domain_dn, **attrs):
    return make(sAMAccountName=sam, userPrincipalName=None, dn=f"CN={sam} x,OU=Staff,{domain_dn}", **attrs)


def test_same_sam_in_two_domains_is_no_duplicate():
    a = _no_upn("jsmith", "DC=emea,DC=contoso,DC=com")
    b = _no_upn("jsmith", "DC=apac,DC=contoso,DC=com")
    c = make(sAMAccountName="jsmith", dn="CN=J,OU=Staff,DC=contoso,DC=com")  # has a UPN
    assert dupes(a, b, c) == []


def test_same_sam_in_one_domain_from_two_sources_collides():
    # The same domain exported twice (two forests with one DNS name, or a lingering object).
    a = _no_upn("jsmith", "DC=contoso,DC=com", source="forest-a")
    b = _no_upn("JSmith", "DC=Contoso,DC=com", source="forest-b")
    found = dupes(a, b)
    assert {(f.rule, f.dn) for f in found} == {("duplicate.samaccountname", a.dn), ("duplicate.samaccountname", b.dn)}


# --- 3. the UPN Entra derives ----------------------------------------------------------------


def test_derived_upn_is_checked_like_a_real_upn():
    user = _no_upn("j smith", "DC=contoso,DC=com")
    found = [f for f in check_entry(user, MT) if f.rule.startswith("upn.derived.")]
    # The value is what AD holds (no UPN), so a fix adds one; the detail names the derived value.
    assert [(f.rule, f.error, f.attribute, f.value) for f in found] == [
        ("upn.derived.character", "character", "userPrincipalName", "")
    ]
    assert "derives j smith@contoso.com from sAMAccountName j smith" in found[0].detail
    assert found[0].suggestion == "jsmith@contoso.com"


def test_derived_upn_in_a_non_routable_or_unverified_domain():
    assert "upn.derived.topleveldomain" in codes(_no_upn("jo", "DC=corp,DC=local"))
    assert "upn.derived.unverifieddomain" in codes(_no_upn("jo", "DC=emea,DC=fabrikam,DC=com"), VERIFIED)
    assert not {c for c in codes(_no_upn("jo", "DC=contoso,DC=com"), VERIFIED) if c.startswith("upn.derived")}


def test_no_derived_upn_when_the_user_has_one_or_is_not_a_user():
    assert not [c for c in codes(make(sAMAccountName="j smith")) if c.startswith("upn.derived")]
    group = make("group", sAMAccountName="sales team", dn="CN=Sales,DC=contoso,DC=com")
    assert not [c for c in codes(group) if c.startswith("upn.derived")]


@pytest.mark.parametrize(
    "other",
    [
        {"userPrincipalName": "JSmith@contoso.com"},
        {"mail": "jsmith@Contoso.com", "userPrincipalName": "x1@contoso.com"},
        {"proxyAddresses": ["smtp:jsmith@contoso.com"], "userPrincipalName": "x2@contoso.com"},
    ],
)
def test_derived_upn_collides_with_upn_mail_or_smtp_of_another_object(other):
    derived = _no_upn("jsmith", "DC=contoso,DC=com")
    holder = make(**other)
    found = dupes(derived, holder)
    mine = [f for f in found if f.dn == derived.dn]
    assert [(f.rule, f.attribute) for f in mine] == [("duplicate.samaccountname", "sAMAccountName")]
    assert "jsmith@contoso.com" in mine[0].detail and "derive" in mine[0].detail
    assert {f.dn for f in found} == {derived.dn, holder.dn}


# --- 5. suggestions ---------------------------------------------------------------------------


def _suggestions(entries, attribute, ctx=MT):
    from identityhub.lib.rules import unique_suggestions

    finder = DuplicateFinder(ctx)
    for entry in entries:
        finder.add(entry)
    found = [(e, f) for e in entries for f in check_entry(e, ctx, is_taken=finder.is_taken)]
    unique_suggestions(found, ctx)
    return [f.suggestion for _, f in found if f.attribute == attribute]


def test_two_holders_of_one_bad_upn_are_not_offered_the_same_new_upn():
    a, b = make(userPrincipalName="j smith@contoso.com"), make(userPrincipalName="J Smith@contoso.com")
    offered = [s for s in _suggestions([a, b], "userPrincipalName") if s]
    assert len({s.lower() for s in offered}) == len(offered)


def test_two_holders_of_one_bad_proxy_are_not_offered_the_same_new_proxy():
    a = make(mailNickname="a", proxyAddresses=["SMTP:a@contoso.com", "smtp:sales team@contoso.com"])
    b = make(mailNickname="b", proxyAddresses=["SMTP:b@contoso.com", "smtp:sales team@contoso.com"])
    offered = [s for s in _suggestions([a, b], "proxyAddresses") if s]
    assert len({s.lower() for s in offered}) == len(offered)


def test_a_suggestion_never_takes_a_value_another_object_holds():
    holder = make("contact", mail="jsmith@contoso.com", proxyAddresses=["SMTP:jsmith@contoso.com"])
    bad = make(userPrincipalName="j smith@contoso.com")
    assert _suggestions([holder, bad], "userPrincipalName") == [None]


GENERATED = "$KJ3000-4F1A2B3C4D5E"


def test_no_upn_is_built_from_a_sam_account_name_ad_generated():
    user = make(sAMAccountName=GENERATED, userPrincipalName=None)
    blank = [
        f for f in check_entry(user, Context(verified_domains=frozenset({"contoso.com"}))) if f.rule == "upn.blank"
    ]
    assert blank and blank[0].suggestion is None
    derived = [f for f in check_entry(user, MT) if f.rule.startswith("upn.derived.")]
    assert derived and all(f.suggestion is None for f in derived)  # reported: Entra does build it


def test_no_mail_nickname_is_built_from_a_generated_sam_account_name():
    contact = make("contact", mail=None, proxyAddresses=["X500:/o=x/cn=y"], mailNickname=None)
    contact.attributes["samaccountname"] = [GENERATED]
    from identityhub.lib.rules.suggestions import nickname_from

    assert nickname_from(contact) != GENERATED


@pytest.mark.parametrize("nick", ["smith (jr.)", "a" * 63 + ".b", "jr. ", "ök."])
def test_mail_nickname_suggestions_never_end_with_a_period(nick):
    found = [f for f in check_entry(make(mailNickname=nick), MT) if f.attribute == "mailNickname"]
    assert found and all(f.suggestion is None or not f.suggestion.endswith(".") for f in found)
    assert any(f.suggestion for f in found)


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("userPrincipalName", "john@contoso.com "),
        ("userPrincipalName", "john@ contoso.com"),
        ("mail", "john@contoso .com"),
        ("mail", "john@contoso.com\t"),
        ("proxyAddresses", ["SMTP:john@contoso.com "]),
    ],
)
def test_one_stray_whitespace_is_one_character_finding(attribute, value):
    user = make(mailNickname="john", **{attribute: value})
    found = [f for f in check_entry(user, MT) if f.attribute == attribute]
    assert [f.error for f in found] == ["character"]
    assert found[0].suggestion.endswith("john@contoso.com")


# --- 6. the Dedicated rule set's scope --------------------------------------------------------

DEDICATED = Context(ruleset="dedicated")


@pytest.mark.parametrize(
    "entry",
    [
        make("contact", mail="ext@fabrikam.com", proxyAddresses=None, mailNickname=None),
        make("group", groupType="8", mail="team@contoso.com", proxyAddresses=None),  # distribution, no proxies
        make("group", mail="sec@contoso.com"),  # security group with mail
        make(mail="j@contoso.com", proxyAddresses=None),
    ],
)
def test_dedicated_checks_every_object_with_mail(entry):
    assert exclusion_reason(entry, DEDICATED) is None
    assert check_entry(entry, DEDICATED) or entry.object_class == "group"


def test_dedicated_checks_a_contact_without_proxies_like_idfix():
    contact = make("contact", mail="ext@fabrikam.com", proxyAddresses=None, mailNickname=None)
    assert {"mailnickname.blank", "targetaddress.blank"} <= codes(contact, DEDICATED)
    assert exclusion_reason(contact, MT) == "not-mail-enabled"  # Entra Connect's own scope is unchanged


def test_dedicated_still_skips_objects_without_mail_and_system_objects():
    assert exclusion_reason(make("contact", mail=None), DEDICATED) == "not-mail-enabled"
    assert exclusion_reason(make(mail="x@contoso.com", isDeleted="TRUE"), DEDICATED) == "deleted-object"
    system = make(mail="sm@contoso.com", mailNickname="SystemMailbox{1f05a927-1234}")
    assert exclusion_reason(system, DEDICATED) == "system-mailbox"


def test_all_keys_hold_the_derived_upn_only_without_a_real_one():
    from identityhub.lib.rules.duplicates import all_keys

    assert ("address", "jo@contoso.com") in all_keys(_no_upn("jo", "DC=contoso,DC=com"))
    with_upn = make(sAMAccountName="jo", userPrincipalName="j.o@contoso.com", dn="CN=Jo,DC=contoso,DC=com")
    assert ("address", "jo@contoso.com") not in all_keys(with_upn)


def test_a_missing_upn_is_hygiene_and_its_derived_value_carries_the_severity():
    # Microsoft: "a valid and unique UPN, or if none, a valid and unique sAMAccountName".
    fine = check_entry(_no_upn("jo", "DC=contoso,DC=com"), VERIFIED)
    assert [(f.rule, f.severity) for f in fine] == [("upn.blank", "hygiene")]
    local = {(f.rule, f.severity) for f in check_entry(_no_upn("jo", "DC=corp,DC=local"), MT)}
    assert local == {("upn.blank", "hygiene"), ("upn.derived.topleveldomain", "degrading")}


def test_a_user_clashing_with_a_group_address_is_blocking_in_both_rule_sets():
    for ctx in (MT, DEDICATED):
        user = make(mail="team@contoso.com", mailNickname="u1")
        group = make(
            "group", mail="other@contoso.com", proxyAddresses=["SMTP:other@contoso.com", "smtp:team@contoso.com"]
        )
        found = {(f.rule, f.severity, f.dn) for f in dupes(user, group, ctx=ctx)}
        assert ("duplicate.group", "blocking", user.dn) in found and ("duplicate.smtp", "degrading", group.dn) in found


def test_details_stay_within_the_column_with_many_holders():
    holders = [
        make(
            proxyAddresses=[f"SMTP:u{i}@contoso.com", "smtp:all@contoso.com"], dn=f"CN={'x' * 80}{i},DC=contoso,DC=com"
        )
        for i in range(12)
    ]
    found = dupes(*holders)
    assert len(found) == 12 and all(len(f.detail) <= 500 and f.detail.endswith("keeps it.") for f in found)
