"""userPrincipalName: Microsoft's characters, 113/64/48 lengths, format, routable and verified domains."""

import pytest

from identityhub.lib.rules import Context

from .test_rules_support import MT, VERIFIED, codes, findings_for, make


def upn_codes(upn, ctx=MT, cls="user"):
    return {c for c in codes(make(cls, userPrincipalName=upn), ctx) if c.startswith("upn.")}


@pytest.mark.parametrize(
    "upn",
    [
        "john.smith@contoso.com",
        "o'brien@contoso.com",  # apostrophe is allowed (Entra password-policy doc)
        "a!b#c^d~e_f-g@contoso.com",
        "J.Smith@Contoso.COM",
        "x" * 64 + "@contoso.com",
        "user@" + "a" * 36 + ".contoso.com",  # 48 after the @
        "user@contoso.onmicrosoft.com",
        "user@sub.contoso.co.uk",
    ],
)
def test_valid_upns(upn):
    assert upn_codes(upn) == set()


@pytest.mark.parametrize(
    ("upn", "code"),
    [
        ("john smith@contoso.com", "upn.character"),
        ("john&co@contoso.com", "upn.character"),
        ("a%b@contoso.com", "upn.character"),
        ("a+b@contoso.com", "upn.character"),
        ("a$b@contoso.com", "upn.character"),  # not in Microsoft's allowed list
        ("jöhn@contoso.com", "upn.nonascii"),
        ("josé@contoso.com", "upn.nonascii"),
        ("john.smith", "upn.format"),
        ("@contoso.com", "upn.format"),
        ("john@", "upn.format"),
        ("a@b@contoso.com", "upn.format"),
        (".john@contoso.com", "upn.localpart"),
        ("john.@contoso.com", "upn.localpart"),
        ("jo..hn@contoso.com", "upn.localpart"),
        ("john@contoso_corp.com", "upn.domainpart"),
        ("john@-contoso.com", "upn.domainpart"),
        ("john@contoso..com", "upn.domainpart"),
        ("john@contoso.local", "upn.topleveldomain"),
        ("john@contoso", "upn.topleveldomain"),
        ("x" * 65 + "@contoso.com", "upn.localpart.length"),
        ("user@" + "a" * 37 + ".contoso.com", "upn.domainpart.length"),
    ],
)
def test_invalid_upns(upn, code):
    assert code in upn_codes(upn)


def test_113_total_limit():
    # 64 + 1 + 48 = 113, so the total rule only fires together with one of the split rules.
    upn = "x" * 64 + "@" + "a" * 44 + ".com"
    assert len(upn) == 113 and upn_codes(upn) == set()
    assert {"upn.length", "upn.localpart.length"} <= upn_codes("x" * 65 + "@" + "a" * 44 + ".com")


def test_each_problem_reported_once():
    assert upn_codes("jöhn smith@contoso.com") == {"upn.nonascii", "upn.character"}


def test_blank_upn_is_hygiene_with_sam_suggestion():
    # Issue 14: the derived UPN (upn.derived.*) carries the severity; the blank itself is hygiene.
    user = make(userPrincipalName=None, sAMAccountName="jsmith")
    [finding] = findings_for(user, "upn.blank", VERIFIED)
    assert finding.severity == "hygiene" and finding.suggestion == "jsmith@contoso.com"
    assert findings_for(user, "upn.blank", MT)[0].suggestion is None  # no verified domain known


def test_unverified_domain_when_tenant_domains_known():
    assert upn_codes("john@fabrikam.com", VERIFIED) == {"upn.unverifieddomain"}
    assert upn_codes("john@contoso.com", VERIFIED) == set()
    assert upn_codes("john@CONTOSO.com", VERIFIED) == set()
    assert upn_codes("john@fabrikam.com", MT) == set()  # routable, nothing known about the tenant


def test_subdomain_needs_its_own_entry_in_tenant():
    # Entra verifies each domain name; a subdomain is added (auto-verified) but must be in the list.
    assert upn_codes("john@eu.contoso.com", VERIFIED) == {"upn.unverifieddomain"}
    sub = Context(verified_domains=frozenset({"contoso.com", "eu.contoso.com"}))
    assert upn_codes("john@eu.contoso.com", sub) == set()


def test_non_routable_wins_over_unverified():
    assert upn_codes("john@contoso.local", VERIFIED) == {"upn.topleveldomain"}


def test_upn_rules_apply_to_inetorgperson_not_to_contacts_or_groups():
    assert "upn.character" in upn_codes("a b@contoso.com", cls="inetOrgPerson")
    assert upn_codes("a b@contoso.com", cls="contact") == set()


def test_upn_suggestion_swaps_non_routable_domain():
    user = make(userPrincipalName="John.Smith@contoso.local")
    [finding] = findings_for(user, "upn.topleveldomain", VERIFIED)
    assert finding.severity == "degrading"
    assert finding.suggestion == "John.Smith@contoso.com"
    assert finding.attribute == "userPrincipalName" and finding.value == "John.Smith@contoso.local"


def test_upn_suggestion_cleans_everything_at_once():
    user = make(userPrincipalName="Jöhn  Smith.@contoso.com")
    [finding] = findings_for(user, "upn.nonascii")
    assert finding.suggestion == "JohnSmith@contoso.com"


def test_upn_too_long_is_truncated_before_the_at():
    user = make(userPrincipalName="x" * 70 + "@contoso.com")
    [finding] = findings_for(user, "upn.localpart.length")
    assert finding.suggestion == "x" * 64 + "@contoso.com"
