"""Routable domains come from the Public Suffix List (publicsuffixlist package), not a hand-kept list."""

import pytest

from identityhub.lib.rules import Context, is_routable
from identityhub.lib.rules.domains import clean_domain, domain_error


@pytest.mark.parametrize(
    "domain",
    ["contoso.com", "contoso.co.uk", "school.edu.au", "contoso.app", "contoso.shop", "contoso.swiss",
     "contoso.photography", "contoso.xn--p1ai", "CONTOSO.COM", "contoso.onmicrosoft.com", "x.blogspot.com"],
)  # fmt: skip
def test_routable(domain):
    assert is_routable(domain)


@pytest.mark.parametrize(
    "domain",
    ["contoso.local", "contoso.internal", "contoso.lan", "contoso.corp", "contoso.localdomain",
     "ad.contoso.local", "contoso.home.arpa", "contoso", "co.uk", "com", "contoso.invalidtld"],
)  # fmt: skip
def test_not_routable(domain):
    assert not is_routable(domain)


def test_domain_error_order():
    ctx = Context(verified_domains=frozenset({"contoso.com"}))
    assert domain_error("con_toso.com", ctx, verify=True) == "domainpart"
    assert domain_error("contoso.local", ctx, verify=True) == "topleveldomain"
    assert domain_error("fabrikam.com", ctx, verify=True) == "unverifieddomain"
    assert domain_error("fabrikam.com", ctx, verify=False) is None


def test_clean_domain():
    assert clean_domain("Con_toso..COM-") == "contoso.com"


def test_context_normalises_domains_and_rejects_unknown_ruleset():
    ctx = Context(verified_domains=frozenset({" Contoso.COM. ", "contoso.onmicrosoft.com"}))
    assert ctx.verified_domains == {"contoso.com", "contoso.onmicrosoft.com"}
    assert ctx.only_verified_domain == "contoso.com"  # the initial onmicrosoft domain does not count
    assert Context(verified_domains=frozenset({"a.com", "b.com"})).only_verified_domain is None
    with pytest.raises(ValueError):
        Context(ruleset="hybrid")


def test_a_contacts_external_addresses_are_not_unverified_domains():
    from identityhub.lib.entry import Entry
    from identityhub.lib.rules import Context, check_entry

    contact = Entry(
        dn="CN=Partner,OU=Contacts,DC=corp,DC=contoso,DC=com",
        attributes={
            "objectclass": ["top", "contact"],
            "cn": ["Partner"],
            "displayname": ["Partner"],
            "mail": ["someone@partner-firm.com"],
            "proxyaddresses": ["SMTP:someone@partner-firm.com"],
            "targetaddress": ["SMTP:someone@partner-firm.com"],
            "mailnickname": ["partner"],
        },
    )
    ctx = Context(verified_domains=frozenset({"contoso.com"}))
    assert not [f for f in check_entry(contact, ctx) if f.error == "unverifieddomain"]
