"""The Dedicated rule set (sync-rules.md §3.5), with IdFix's Dedicated bugs corrected."""

from identityhub.lib.rules import check_entry, exclusion_reason

from .test_rules_support import DEDICATED, MT, codes, findings_for, make


def test_only_mail_enabled_objects_are_in_scope():
    assert exclusion_reason(make(mail=None), DEDICATED) == "not-mail-enabled"
    assert check_entry(make(mail=None, displayName=" "), DEDICATED) == []
    assert exclusion_reason(make(mail=None), MT) is None


def test_multi_tenant_only_rules_do_not_run():
    user = make(mail="j@contoso.com", userPrincipalName="a b@contoso.local", sAMAccountName="a*b", mailNickname="j")
    assert not {c for c in codes(user, DEDICATED) if c.startswith(("upn.", "samaccountname."))}


def test_dedicated_alias_characters():
    user = make(mail="j@contoso.com", mailNickname="j!smith")
    assert "mailnickname.dedicated.character" in codes(user, DEDICATED)
    assert "mailnickname.character" not in codes(user, DEDICATED)
    assert "mailnickname.dedicated.character" not in codes(user, MT)


def test_display_name_edge_whitespace():
    [finding] = findings_for(
        make(mail="j@contoso.com", displayName=" John ", mailNickname="j"), "displayname.dedicated.character", DEDICATED
    )
    assert finding.suggestion == "John"


def test_group_needs_display_name():
    group = make("group", mail="g@contoso.com", proxyAddresses=["SMTP:g@contoso.com"], mailNickname="g",
                 dn="CN=Sales Team,OU=G,DC=contoso,DC=com")  # fmt: skip
    [finding] = findings_for(group, "displayname.blank", DEDICATED)
    assert finding.suggestion == "Sales Team"


def test_target_address_required_without_mailbox():
    contact = make("contact", mail="ext@fabrikam.com", mailNickname="ext", targetAddress=None)
    [finding] = findings_for(contact, "targetaddress.blank", DEDICATED)
    assert finding.suggestion == "SMTP:ext@fabrikam.com"
    assert not findings_for(
        make(mail="j@contoso.com", mailNickname="j", homeMDB="CN=DB1"), "targetaddress.blank", DEDICATED
    )


def test_mail_rules_apply_in_dedicated():
    assert "mail.character" in codes(make(mail="j smith@contoso.com", mailNickname="j"), DEDICATED)
