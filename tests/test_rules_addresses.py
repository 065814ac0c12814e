"""mail, proxyAddresses and targetAddress: SMTP judged as e-mail, other proxy types by their own syntax."""

import pytest

from identityhub.lib.rules import RULES

from .test_rules_support import MT, VERIFIED, codes, findings_for, make


def proxy_codes(*proxies, ctx=MT, **attrs):
    return {c for c in codes(make(proxyAddresses=list(proxies), mailNickname="j", **attrs), ctx) if "proxy" in c}


# --- mail -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mail", ["john@contoso.com", "o'brien+news@contoso.com", "a_b-c@sub.contoso.co.uk"])
def test_valid_mail(mail):
    assert not {c for c in codes(make(mail=mail)) if c.startswith("mail.")}


@pytest.mark.parametrize(
    ("mail", "code"),
    [
        ("john smith@contoso.com", "mail.character"),
        ("john(x)@contoso.com", "mail.character"),
        ("jöhn@contoso.com", "mail.nonascii"),
        ("john", "mail.format"),
        ("john.@contoso.com", "mail.localpart"),
        ("john@contoso..com", "mail.domainpart"),
        ("john@contoso.local", "mail.topleveldomain"),
        ("x" * 250 + "@contoso.com", "mail.length"),
    ],
)
def test_invalid_mail(mail, code):
    assert code in codes(make(mail=mail))


def test_mail_in_unverified_domain_degrades():
    [finding] = findings_for(make(mail="john@fabrikam.com"), "mail.unverifieddomain", VERIFIED)
    assert finding.severity == "degrading" and finding.suggestion == "john@contoso.com"


# --- SMTP proxies ---------------------------------------------------------------------------


def test_valid_smtp_proxies():
    assert proxy_codes("SMTP:john@contoso.com", "smtp:j.smith@contoso.co.uk", "smtp:o'brien@contoso.com") == set()


@pytest.mark.parametrize(
    ("proxy", "code"),
    [
        ("smtp:john smith@contoso.com", "proxy.smtp.character"),
        ("SMTP:user:M@contoso.com", "proxy.smtp.character"),  # Microsoft's own example
        ("smtp:a;b@contoso.com", "proxy.smtp.character"),
        ("smtp:jöhn@contoso.com", "proxy.smtp.nonascii"),
        ("smtp:john", "proxy.smtp.format"),
        ("smtp:.john@contoso.com", "proxy.smtp.localpart"),
        ("smtp:john@con_toso.com", "proxy.smtp.domainpart"),
        ("smtp:john@contoso.local", "proxy.smtp.topleveldomain"),
        ("smtp:" + "x" * 250 + "@contoso.com", "proxy.length"),
        ("john@contoso.com", "proxy.format"),
        (":john@contoso.com", "proxy.format"),
        ("smtp:", "proxy.format"),
    ],
)
def test_invalid_smtp_proxies(proxy, code):
    assert code in proxy_codes(proxy)


def test_one_finding_per_bad_value():
    found = findings_for(
        make(proxyAddresses=["smtp:a b@contoso.com", "smtp:c d@contoso.com", "SMTP:ok@contoso.com"]),
        "proxy.smtp.character",
    )
    assert [f.value for f in found] == ["smtp:a b@contoso.com", "smtp:c d@contoso.com"]
    assert [f.suggestion for f in found] == ["smtp:ab@contoso.com", "smtp:cd@contoso.com"]


def test_proxy_in_unverified_domain_is_degrading():
    assert proxy_codes("smtp:j@fabrikam.com", ctx=VERIFIED) == {"proxy.smtp.unverifieddomain"}
    assert RULES["proxy.smtp.unverifieddomain"].severity == "degrading"


# --- other proxy types ----------------------------------------------------------------------

EXCHANGE_X500 = "X500:/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=O'Brien J"
EXCHANGE_X400 = "X400:c=US;a= ;p=Contoso;o=Exchange;s=O'Brien;g=John;"


@pytest.mark.parametrize(
    "proxy",
    [EXCHANGE_X500, EXCHANGE_X400, "SIP:john@contoso.com", "EUM:1234;phone-context=DialPlan.contoso.com",
     "NOTES:John Smith/Contoso@Domain", "CCMAIL:Smith, John at Contoso", "MS:CONTOSO/EXCHANGE/JSMITH"],
)  # fmt: skip
def test_exchange_generated_proxies_pass(proxy):
    assert proxy_codes(proxy) == set()


@pytest.mark.parametrize(
    ("proxy", "code"),
    [
        ("X500:/o=Contoso/cn=[bad]", "proxy.x500.character"),
        ("X500:/o=Contoso/cn=a\tb", "proxy.x500.character"),
        ('X400:c=US;s="x";', "proxy.x400.character"),
        ("SIP:john smith@contoso.com", "proxy.sip.character"),
        ("SIP:john", "proxy.sip.format"),
        ("EUM:12<34>", "proxy.other.character"),
        ("X500:/o=Contoso/cn=Jöhn", "proxy.nonascii"),
    ],
)
def test_invalid_typed_proxies(proxy, code):
    assert code in proxy_codes(proxy)


# --- object-level proxy rules ---------------------------------------------------------------


def test_more_than_one_primary_smtp():
    user = make(mail="b@contoso.com", proxyAddresses=["SMTP:a@contoso.com", "SMTP:b@contoso.com", "smtp:c@contoso.com"])
    [finding] = findings_for(user, "proxy.multipleprimary")
    assert finding.value == "SMTP:a@contoso.com"  # the one matching mail stays primary
    assert finding.suggestion == "smtp:a@contoso.com"


def test_primary_prefix_is_case_sensitive():
    assert "proxy.multipleprimary" not in proxy_codes("SMTP:a@contoso.com", "smtp:b@contoso.com")


@pytest.mark.parametrize(("count", "found"), [(300, False), (301, True)])
def test_proxy_count_large_attribute(count, found):
    proxies = [f"smtp:u{i}@contoso.com" for i in range(count)]
    hits = findings_for(make(proxyAddresses=proxies, mailNickname="u"), "proxy.count")
    assert bool(hits) is found
    if found:
        assert hits[0].error == "length" and hits[0].value == "301" and hits[0].severity == "blocking"


@pytest.mark.parametrize(("count", "found"), [(15, False), (16, True)])
def test_certificate_count(count, found):
    user = make(userCertificate=[b"\x30\x82" + bytes([i]) for i in range(count)])
    assert bool(findings_for(user, "usercertificate.count")) is found
    assert bool(findings_for(make(userSMIMECertificate=[b"c"] * count), "usersmimecertificate.count")) is found


def test_group_member_limit():
    members = [f"CN=u{i}" for i in range(250_000)]
    [finding] = findings_for(make("group", member=members), "group.membercount")
    assert finding.value == "250000"
    assert not findings_for(make("group", member=members[:-1]), "group.membercount")


# --- targetAddress --------------------------------------------------------------------------


def test_valid_target_addresses():
    for value in ("SMTP:john@contoso.mail.onmicrosoft.com", "smtp:ext@fabrikam.com", "X400:c=US;p=X;"):
        assert not {c for c in codes(make(targetAddress=value), VERIFIED) if c.startswith("targetaddress")}


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("SMTP:john smith@fabrikam.com", "targetaddress.smtp.character"),
        ("SMTP:john@fabrikam.local", "targetaddress.smtp.topleveldomain"),
        ("john@fabrikam.com", "targetaddress.format"),
        ("X400:c=US (x)", "targetaddress.character"),
        ("SMTP:" + "x" * 250 + "@fabrikam.com", "targetaddress.length"),
    ],
)
def test_invalid_target_addresses(value, code):
    assert code in codes(make(targetAddress=value))


def test_target_address_is_not_judged_against_tenant_domains():
    assert "targetaddress.smtp.unverifieddomain" not in RULES
    assert not codes(make(targetAddress="SMTP:ext@fabrikam.com"), VERIFIED)


def test_target_address_missing_prefix_suggestion():
    [finding] = findings_for(make(targetAddress="ext@fabrikam.com"), "targetaddress.format")
    assert finding.suggestion == "SMTP:ext@fabrikam.com"
