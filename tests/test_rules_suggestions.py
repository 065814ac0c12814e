"""check_value() and suggestion vetting: a suggestion is offered only when it passes every rule."""

from identityhub.lib.rules import Context, DuplicateFinder, check_entry, check_value

from .test_rules_support import MT, VERIFIED, findings_for, make


def test_check_value_accepts_good_value():
    assert check_value(make(), "userPrincipalName", "john.smith@contoso.com", VERIFIED) == []


def test_check_value_reports_every_rule():
    found = check_value(make(), "userPrincipalName", "jöhn smith@contoso.local", VERIFIED)
    assert {f.rule for f in found} == {"upn.nonascii", "upn.character", "upn.topleveldomain"}
    assert all(f.suggestion is None and f.attribute == "userPrincipalName" for f in found)


def test_check_value_is_case_insensitive_on_attribute_names():
    assert check_value(make(), "USERPRINCIPALNAME", "a b@contoso.com", MT)[0].attribute == "userPrincipalName"


def test_check_value_unknown_attribute_is_acceptable():
    assert check_value(make(), "info", "anything at all", MT) == []


def test_check_value_reports_taken_values():
    taken = {("address", "john@contoso.com")}
    found = check_value(make(), "mail", "John@Contoso.com", MT, lambda kind, value: (kind, value) in taken)
    assert [f.rule for f in found] == ["duplicate.mail"]


def test_check_value_ignores_values_the_entry_already_holds():
    user = make(mail="john@contoso.com")
    always = lambda kind, value: True  # noqa: E731
    assert check_value(user, "userPrincipalName", "john@contoso.com", MT, always) == []


def test_suggestion_withheld_when_it_would_still_fail():
    # Removing characters leaves nothing usable: no suggestion rather than a bad one.
    [finding] = findings_for(make(userPrincipalName="john@contoso.local"), "upn.topleveldomain", MT)
    assert finding.suggestion is None  # no verified domain to substitute
    two = Context(verified_domains=frozenset({"contoso.com", "fabrikam.com"}))
    assert findings_for(make(userPrincipalName="john@contoso.local"), "upn.topleveldomain", two)[0].suggestion is None


def test_suggestion_withheld_when_another_fix_is_impossible():
    [finding] = findings_for(make(mail="a b@c@contoso.com"), "mail.character")
    assert finding.suggestion is None  # two @: no rule can choose


def test_a_doubled_at_is_made_one_in_every_address_attribute():
    user = make(
        userPrincipalName="mei.davis@@contoso.com",
        mail="mei.davis@@contoso.com",
        proxyAddresses=["SMTP:mei.davis@@@contoso.com"],
    )
    suggested = {f.rule: f.suggestion for f in check_entry(user, VERIFIED) if f.rule.endswith(".format")}
    assert suggested == {
        "upn.format": "mei.davis@contoso.com",
        "mail.format": "mei.davis@contoso.com",
        "proxy.smtp.format": "SMTP:mei.davis@contoso.com",
    }
    # Two separate '@': no fix is obvious, so none is offered.
    [finding] = findings_for(make(mail="mei@davis@contoso.com"), "mail.format")
    assert finding.suggestion is None


def test_suggestion_withheld_when_taken():
    finder = DuplicateFinder(VERIFIED)
    finder.add(make(userPrincipalName="john@contoso.com"))
    user = make(userPrincipalName="john@contoso.local")
    [finding] = [f for f in check_entry(user, VERIFIED, finder.is_taken) if f.rule == "upn.topleveldomain"]
    assert finding.suggestion is None
    [free] = [f for f in check_entry(user, VERIFIED) if f.rule == "upn.topleveldomain"]
    assert free.suggestion == "john@contoso.com"


def test_all_findings_on_one_value_share_one_suggestion():
    found = check_entry(make(userPrincipalName=".jöhn@contoso.local"), VERIFIED)
    assert {f.suggestion for f in found} == {"john@contoso.com"}


def test_every_offered_suggestion_passes_check_value():
    users = [
        make(userPrincipalName="Jöhn Smith.@contoso.local", mail="j ohn@contoso.local", mailNickname=".jö hn",
             proxyAddresses=["smtp:a b@contoso.local", "SMTP:x@contoso.com", "SMTP:y@contoso.com", "X500:/o=[x]"],
             displayName=" ", sAMAccountName="j*smith", givenName="x" * 70),
        make("contact", mail="ext@fabrikam.com", targetAddress="ext@fabrikam.com", mailNickname="a:b"),
    ]  # fmt: skip
    for user in users:
        for finding in check_entry(user, VERIFIED):
            if finding.suggestion is not None:
                assert check_value(user, finding.attribute, finding.suggestion, VERIFIED) == [], finding
