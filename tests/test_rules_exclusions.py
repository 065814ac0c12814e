"""Objects Entra Connect never syncs (sync-rules.md §6.4) are excluded and never checked."""

import pytest

from identityhub.lib.rules import check_entry, exclusion_reason, identity_keys

from .test_rules_support import MT, make


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (make(isCriticalSystemObject="TRUE"), "critical-system-object"),
        (make("group", isCriticalSystemObject="TRUE"), "critical-system-object"),
        (make(dn="CN=John\\0ACNF:5f2e...,OU=x,DC=contoso,DC=com"), "conflict-object"),
        (make(sAMAccountName=None), "no-samaccountname"),
        (make(sAMAccountName="AAD_1234abcd"), "sync-service-account"),
        (make(sAMAccountName="MSOL_0123abcd"), "sync-service-account"),
        (make(sAMAccountName="SUPPORT_388945a0"), "sync-service-account"),
        (make(mailNickname="SystemMailbox{1f05a927-...}"), "system-mailbox"),
        (make(sAMAccountName="CAS_{abc}"), "system-mailbox"),
        (make(msExchRecipientTypeDetails="8388608"), "exchange-system-recipient"),  # 0x800000 discovery
        (make(msExchRecipientTypeDetails="536870912"), "exchange-system-recipient"),  # 0x20000000
        (make("contact", displayName="Jo (MSOL)", msExchHideFromAddressLists="TRUE"), "msol-contact"),
        (make("contact", proxyAddresses=None, mail=None), "not-mail-enabled"),
        (make("contact", proxyAddresses=["X500:/o=x"], mail="nomail"), "not-mail-enabled"),
        (make("group", sAMAccountName="MSOL_AD_Sync_RichCoexistence"), "sync-service-account"),
        (make("group", msExchRecipientTypeDetails=str(0x40000000)), "role-group"),
        (make("group", groupType="2"), "not-mail-enabled"),  # distribution group without addresses
        (make("computer"), "not-synced-class"),
        (make("user", objectClass=["top", "foreignSecurityPrincipal"]), "not-synced-class"),
    ],
)
def test_excluded(entry, reason):
    assert exclusion_reason(entry) == reason
    assert check_entry(entry, MT) == []
    assert identity_keys(entry) == []


@pytest.mark.parametrize(
    "entry",
    [
        make(),
        make(sAMAccountName="CAS_user"),  # CAS_ without '}' is an ordinary account
        make(msExchRecipientTypeDetails="1"),  # user mailbox
        make("contact"),
        make("contact", proxyAddresses=["X500:/o=x"], mail="ext@fabrikam.com"),
        make("group"),  # security group without mail
        make("group", groupType="2", proxyAddresses=["SMTP:dl@contoso.com"]),
        make("inetOrgPerson"),
    ],
)
def test_synced(entry):
    assert exclusion_reason(entry) is None
