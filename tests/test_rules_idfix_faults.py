"""One test per IdFix fault listed in sync-rules.md §2-§5 and §8: we follow Microsoft, not IdFix."""

import pytest

from identityhub.lib.rules import DuplicateFinder, check_entry, exclusion_reason, is_routable
from identityhub.lib.rules.domains import is_routable as cached_is_routable

from .test_rules_support import DEDICATED, MT, VERIFIED, codes, findings_for, make


def dupes(*entries):
    finder = DuplicateFinder()
    for entry in entries:
        finder.add(entry)
    return list(finder.findings())


# --- §4 docs vs code ------------------------------------------------------------------------


def test_fault_4_1_upn_64_48_split_not_checked():
    assert "upn.localpart.length" in codes(make(userPrincipalName="x" * 65 + "@contoso.com"))
    assert "upn.domainpart.length" in codes(make(userPrincipalName="x@" + "a" * 45 + ".com"))


def test_fault_4_2_mailmatch_documented_but_not_implemented():
    contact = make("contact", mail="ext@fabrikam.com", mailNickname="ext", targetAddress="SMTP:other@fabrikam.com")
    [finding] = findings_for(contact, "targetaddress.mailmatch", DEDICATED)
    assert finding.suggestion == "SMTP:ext@fabrikam.com"


@pytest.mark.parametrize("nick", [".jsmith", "jsmith."])
def test_fault_4_3_dedicated_mailnickname_period_rule_never_fires(nick):
    assert "mailnickname.dedicated.period" in codes(make(mail="j@contoso.com", mailNickname=nick), DEDICATED)


def test_fault_4_4_dedicated_mailnickname_blank_only_for_contacts():
    user = make(mail="j.smith@contoso.com", mailNickname=None, homeMDB="CN=DB1")
    [finding] = findings_for(user, "mailnickname.blank", DEDICATED)
    assert finding.suggestion == "j.smith"


def test_fault_4_5_display_name_255_given_name_63_and_blank_for_any_object():
    assert codes(make(displayName="x" * 256, givenName="x" * 64)) == set()
    assert "displayname.blank" not in codes(make("contact", displayName=None))


def test_fault_4_6_target_address_limit_255():
    value = "SMTP:" + "x" * 238 + "@fabrikam.com"
    assert len(value) == 256 and "targetaddress.length" not in codes(make(targetAddress=value))


def test_fault_4_7_sam_checked_as_if_it_blocked_sync():
    # A valid UPN still creates the account: sAMAccountName problems are hygiene, never blocking.
    [finding] = findings_for(make(sAMAccountName="j*smith"), "samaccountname.character")
    assert finding.severity == "hygiene"


def test_fault_4_8_apostrophe_flagged_in_upn():
    assert codes(make(userPrincipalName="o'brien@contoso.com")) == set()


def test_fault_4_9_cn_prefix_exclusions_hide_real_objects():
    for entry in (make("group", cn="Guest WiFi Users"), make(cn="Administrators Team"), make(cn="support_desk")):
        assert exclusion_reason(entry) is None


# --- §5 GitHub issues -----------------------------------------------------------------------


@pytest.mark.parametrize("tld", ["edu.au", "cloud", "gmbh", "si", "swiss", "africa", "app", "shop", "ltd", "law"])
def test_issues_1_5_10_11_38_59_96_stale_tld_list(tld):
    assert codes(make(userPrincipalName=f"j@contoso.{tld}")) == set()


def test_issue_12_spaces_in_x400_x500_flagged():
    assert codes(make(mailNickname="j", proxyAddresses=["X500:/o=Contoso/ou=First Group/cn=J Smith"])) == set()


def test_issue_16_parentheses_in_x500_flagged():
    proxy = "X500:/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=jsmith"
    assert codes(make(mailNickname="j", proxyAddresses=[proxy])) == set()


def test_issue_79_apostrophe_in_x500_flagged():
    proxy = "X500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=abc-O'Brien"
    assert codes(make(mailNickname="j", proxyAddresses=[proxy])) == set()


def test_issues_13_46_apostrophe_in_smtp_addresses():
    assert (
        codes(make(mail="o'brien@contoso.com", mailNickname="obrien", proxyAddresses=["SMTP:o'brien@contoso.com"]))
        == set()
    )


def test_issues_40_76_only_one_duplicate_holder_shown():
    # IdFix showed the first holder only for EDIT rows; a mailbox (COMPLETE) was never shown.
    holders = [make(mail="dup@contoso.com", mailNickname=f"m{i}", homeMDB="CN=DB1") for i in range(3)]
    assert sorted(f.dn for f in dupes(*holders)) == sorted(h.dn for h in holders)


def test_issues_21_29_duplicates_judged_on_fixed_values():
    # IdFix registered values after fixing them: "a b" and "ab" collided although distinct in Entra.
    assert dupes(make(proxyAddresses=["smtp:a b@contoso.com"]), make(proxyAddresses=["smtp:ab@contoso.com"])) == []


def test_issues_29_40_proxy_duplicate_casing():
    found = dupes(make(proxyAddresses=["SMTP:Dup@contoso.com"]), make(proxyAddresses=["smtp:dup@CONTOSO.com"]))
    assert len(found) == 2


def test_issue_39_dedicated_target_address_blank_with_mailbox():
    user = make(mail="j@contoso.com", mailNickname="j", homeMDB="CN=DB1,CN=Databases")
    assert "targetaddress.blank" not in codes(user, DEDICATED)


def test_issue_18_blank_display_name_on_objects_without_one():
    assert "displayname.blank" not in codes(make("group", displayName=None, cn="ADFS certificate sharing"))


# --- §2 and §3: query and rule engine -------------------------------------------------------


def test_recipient_type_details_compared_as_hex_text():
    assert exclusion_reason(make(msExchRecipientTypeDetails=str(0x1000))) == "exchange-system-recipient"


def test_users_without_sam_and_aad_accounts_not_skipped():
    assert exclusion_reason(make(sAMAccountName=None)) == "no-samaccountname"
    assert exclusion_reason(make(sAMAccountName="AAD_4f2c1e")) == "sync-service-account"


def test_cas_prefix_without_brace_skipped():
    assert exclusion_reason(make(sAMAccountName="CAS_team")) is None


def test_security_groups_without_mail_skipped():
    group = make("group", groupType="-2147483646", displayName=" ")
    assert exclusion_reason(group) is None
    assert "displayname.blank" in codes(group)


def test_inetorgperson_denied_user_rules():
    person = make("inetOrgPerson", userPrincipalName="a b@contoso.com", sAMAccountName="x" * 21)
    assert {"upn.character", "samaccountname.length"} <= codes(person)


def test_unanchored_smtp_match_judges_x500_as_smtp():
    assert codes(make(mailNickname="j", proxyAddresses=["X500:/o=Contoso/cn=smtp:legacy"])) == set()


def test_idn_and_long_tlds_rejected_by_regex():
    assert is_routable("contoso.xn--p1ai") and is_routable("contoso.travelersinsurance")


def test_edu_au_two_label_entry_never_matched():
    assert is_routable("school.edu.au") and not is_routable("edu.au")


def test_tld_list_reread_for_every_value():
    cached_is_routable.cache_clear()
    for _ in range(3):
        check_entry(make(userPrincipalName="j@contoso.com", mail="j@contoso.com"), MT)
    assert cached_is_routable.cache_info().hits >= 5


def test_dedicated_mail_nickname_blank_fix_ignores_the_address():
    # IdFix built givenName.sn; Exchange (and we) take the primary address's name.
    contact = make(
        "contact",
        mail="Ext.Person@fabrikam.com",
        proxyAddresses=["SMTP:Ext.Person@fabrikam.com"],
        mailNickname=None,
        givenName="E",
        sn="P",
    )
    assert findings_for(contact, "mailnickname.blank", DEDICATED)[0].suggestion == "Ext.Person"


# --- §8 gaps between IdFix and Entra --------------------------------------------------------


def test_gap_uniqueness_never_crosses_attributes():
    found = dupes(make(userPrincipalName="x@contoso.com"), make("contact", mail="X@contoso.com"),
                  make(proxyAddresses=["smtp:x@CONTOSO.com"]))  # fmt: skip
    assert sorted(f.rule for f in found) == ["duplicate.mail.address", "duplicate.smtp", "duplicate.upn"]


def test_gap_large_attributes_not_counted():
    user = make(proxyAddresses=[f"smtp:u{i}@contoso.com" for i in range(400)], userCertificate=[b"c"] * 20)
    assert {"proxy.count", "usercertificate.count"} <= codes(user)


def test_gap_upn_suffix_not_checked_against_verified_domains():
    assert "upn.unverifieddomain" in codes(make(userPrincipalName="j@fabrikam.com"), VERIFIED)


def test_gap_group_member_limit_never_checked():
    assert "group.membercount" in codes(make("group", member=["CN=x"] * 250_000))
