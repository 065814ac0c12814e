"""Tenant-wide uniqueness: identity_keys() and the streaming DuplicateFinder."""

from identityhub.lib.rules import DuplicateFinder, identity_keys

from .test_rules_support import DEDICATED, make


def dupes(*entries, ctx=None):
    finder = DuplicateFinder(ctx)
    for entry in entries:
        finder.add(entry)
    return list(finder.findings())


def test_keys_are_case_insensitive_and_share_the_address_namespace():
    user = make(userPrincipalName="John@Contoso.com", mail="J.Smith@contoso.com",
                proxyAddresses=["SMTP:J.Smith@Contoso.com", "X500:/o=A/cn=B", "SIP:John@contoso.com"],
                mailNickname="JSmith")  # fmt: skip
    keys = {(kind, norm, attr) for kind, norm, attr, _raw in identity_keys(user)}
    assert keys == {
        ("address", "john@contoso.com", "userPrincipalName"),
        ("address", "j.smith@contoso.com", "mail"),
        ("address", "j.smith@contoso.com", "proxyAddresses"),
        ("x500", "/o=a/cn=b", "proxyAddresses"),
        ("sip", "john@contoso.com", "proxyAddresses"),
        ("mailnickname", "jsmith", "mailNickname"),
    }


def test_every_holder_is_flagged_across_sources():
    a = make(source="forest-a", userPrincipalName="a@contoso.com", mail="shared@contoso.com")
    b = make(source="forest-b", userPrincipalName="b@contoso.com", mail="SHARED@contoso.com")
    c = make(source="forest-c", userPrincipalName="c@contoso.com", mail="Shared@Contoso.com")
    found = dupes(a, b, c, make(userPrincipalName="d@contoso.com"))
    assert sorted((f.source, f.rule, f.value) for f in found) == [
        ("forest-a", "duplicate.mail", "shared@contoso.com"),
        ("forest-b", "duplicate.mail", "SHARED@contoso.com"),
        ("forest-c", "duplicate.mail", "Shared@Contoso.com"),
    ]
    assert {f.dn for f in found} == {a.dn, b.dn, c.dn}
    assert {f.guid for f in found} == {a.guid, b.guid, c.guid}


def test_upn_clashes_with_smtp_proxy_of_another_object():
    user = make(userPrincipalName="sales@contoso.com")
    group = make("group", proxyAddresses=["smtp:Sales@contoso.com"])
    found = {(f.rule, f.severity, f.dn) for f in dupes(user, group)}
    # Resiliency does not quarantine a user's value that clashes with a group's SMTP address: the
    # user fails (blocking); the group keeps its address (degrading: the clash is still reported).
    assert found == {("duplicate.group", "blocking", user.dn), ("duplicate.smtp", "degrading", group.dn)}
    other_user = make(userPrincipalName="x@contoso.com")
    found = {(f.rule, f.severity) for f in dupes(other_user, make(proxyAddresses=["smtp:X@contoso.com"]))}
    assert found == {("duplicate.upn", "degrading"), ("duplicate.smtp", "degrading")}


def test_one_object_never_clashes_with_itself():
    user = make(userPrincipalName="j@contoso.com", mail="j@contoso.com",
                proxyAddresses=["SMTP:j@contoso.com", "smtp:J@CONTOSO.COM"])  # fmt: skip
    assert dupes(user) == []


def test_smtp_and_other_proxy_types_are_different_namespaces():
    assert dupes(make(proxyAddresses=["SIP:j@contoso.com"]), make(userPrincipalName="j@contoso.com")) == []
    found = dupes(make(proxyAddresses=["X500:/o=A/cn=B"]), make(proxyAddresses=["x500:/O=A/CN=B"]))
    assert [f.rule for f in found] == ["duplicate.proxy", "duplicate.proxy"]


def test_sam_must_be_unique_only_without_upn():
    assert dupes(make(sAMAccountName="jsmith"), make(sAMAccountName="JSMITH")) == []
    found = dupes(
        make(sAMAccountName="jsmith", userPrincipalName=None), make(sAMAccountName="JSmith", userPrincipalName=None)
    )
    assert {f.rule for f in found} == {"duplicate.samaccountname"}


def test_mail_nickname_and_target_address_uniqueness():
    found = dupes(make(mailNickname="jo"), make("contact", mailNickname="JO", targetAddress="SMTP:x@f.com"),
                  make("contact", mailNickname="other", targetAddress="smtp:X@F.com"))  # fmt: skip
    assert sorted(f.rule for f in found) == ["duplicate.mailnickname"] * 2 + ["duplicate.targetaddress"] * 2


def test_excluded_objects_hold_no_keys():
    assert dupes(make(mail="x@contoso.com", isCriticalSystemObject="TRUE"), make(mail="x@contoso.com")) == []


def test_dedicated_ignores_upn_namespace():
    a = make(mail="a@contoso.com", userPrincipalName="x@contoso.com")
    b = make(mail="x@contoso.com", userPrincipalName="b@contoso.com")
    assert dupes(a, b, ctx=DEDICATED) == []
    assert len(dupes(a, b)) == 2


def test_is_taken_answers_normalised_keys():
    finder = DuplicateFinder()
    finder.add(make(userPrincipalName="John@Contoso.com"))
    assert finder.is_taken("address", "john@contoso.com")
    assert not finder.is_taken("address", "jane@contoso.com")
