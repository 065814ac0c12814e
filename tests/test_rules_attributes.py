"""displayName, givenName, sn and the Graph-limited fields, mailNickname, sAMAccountName."""

import pytest

from identityhub.lib.rules.catalogue import GRAPH_LENGTHS

from .test_rules_support import codes, findings_for, make


@pytest.mark.parametrize(("name", "limit"), list(GRAPH_LENGTHS.items()))
def test_graph_length_limits(name, limit):
    code = f"{name.lower()}.length"
    assert code not in codes(make(**{name: "x" * limit}))
    [finding] = findings_for(make(**{name: "x" * (limit + 1)}), code)
    assert finding.attribute == name and finding.suggestion == "x" * limit


def test_display_name_length_is_256():
    assert not findings_for(make(displayName="x" * 256), "displayname.length")
    [finding] = findings_for(make(displayName="x" * 257), "displayname.length")
    assert finding.suggestion == "x" * 256


def test_blank_display_name_is_built_from_names():
    [finding] = findings_for(make(displayName="  ", givenName="John", sn="Smith"), "displayname.blank")
    assert finding.severity == "blocking" and finding.suggestion == "John Smith"


def test_blank_display_name_falls_back_to_cn_from_dn():
    [finding] = findings_for(make(displayName=" ", dn=r"CN=Smith\, John,OU=x,DC=contoso,DC=com"), "displayname.blank")
    assert finding.suggestion == "Smith, John"


def test_absent_display_name_is_fine_in_multi_tenant():
    assert "displayname.blank" not in codes(make("group", displayName=None))


# --- mailNickname ---------------------------------------------------------------------------


@pytest.mark.parametrize("nick", ["jsmith", "john.smith", "o'brien", "a-b_c", "x" * 64])
def test_valid_mail_nickname(nick):
    assert not {c for c in codes(make(mailNickname=nick)) if c.startswith("mailnickname")}


@pytest.mark.parametrize(
    ("nick", "code", "suggestion"),
    [
        (".jsmith", "mailnickname.period", "jsmith"),
        ("john smith", "mailnickname.character", "johnsmith"),
        ("john@smith", "mailnickname.character", "johnsmith"),
        ("jöhn", "mailnickname.nonascii", "john"),
        ("x" * 65, "mailnickname.length", "x" * 64),
    ],
)
def test_invalid_mail_nickname(nick, code, suggestion):
    [finding] = findings_for(make(mailNickname=nick), code)
    assert finding.suggestion == suggestion


def test_trailing_period_is_not_a_multi_tenant_error():
    assert "mailnickname.period" not in codes(make(mailNickname="jsmith."))


def test_invalid_alias_characters_degrade():
    assert findings_for(make(mailNickname="a b"), "mailnickname.character")[0].severity == "degrading"


def test_proxies_without_mail_nickname_do_not_sync():
    user = make(mail="John.Smith@contoso.com", proxyAddresses=["SMTP:John.Smith@contoso.com"])
    [finding] = findings_for(user, "mailnickname.missing")
    assert finding.severity == "degrading" and finding.suggestion == "John.Smith"
    assert not findings_for(make(mail="j@contoso.com"), "mailnickname.missing")  # not mail-enabled: fine


# --- sAMAccountName -------------------------------------------------------------------------


@pytest.mark.parametrize("char", list("[]\\\"|,/:<>+=;?*'"))
def test_sam_forbidden_characters(char):
    [finding] = findings_for(make(sAMAccountName=f"j{char}smith"), "samaccountname.character")
    assert finding.severity == "hygiene" and finding.suggestion == "jsmith"


def test_sam_length_is_20_for_users_only():
    assert not findings_for(make(sAMAccountName="x" * 20), "samaccountname.length")
    assert findings_for(make(sAMAccountName="x" * 21), "samaccountname.length")[0].suggestion == "x" * 20
    assert not findings_for(make("group", sAMAccountName="x" * 40), "samaccountname.length")
