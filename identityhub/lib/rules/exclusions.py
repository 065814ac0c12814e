"""Objects Entra Connect's default sync rules never export (Entra Connect sync: understanding the
default configuration, https://learn.microsoft.com/en-us/entra/identity/hybrid/connect/concept-azure-ad-connect-sync-default-configuration).

Unlike IdFix we do not skip by CN prefix ("Guest WiFi Users" is a real group), we do skip users
without sAMAccountName and AAD_ accounts, and we keep security groups without mail, exactly as
Entra Connect does.
"""

from __future__ import annotations

from identityhub.lib.entry import SYNCED_CLASSES, Entry

from .model import Context
from .values import number, object_class, text, texts

# msExchRecipientTypeDetails bits Entra Connect filters out of users: public folder, system
# attendant, system mailbox, legacy groups, mailbox plan, discovery mailbox.
EXCHANGE_SYSTEM_RECIPIENTS = 0x21C07000
ROLE_GROUP = 0x40000000
SECURITY_GROUP = 0x80000000


def exclusion_reason(entry: Entry, ctx: Context | None = None) -> str | None:
    """A stable reason code when Entra Connect would not sync the entry, else None.

    With the Dedicated rule set only mail-enabled objects are in scope (IdFix's Dedicated filter).
    """
    reason = _common_reason(entry) or _CLASS_REASONS.get(object_class(entry), _no_reason)(entry)
    if reason is None and ctx is not None and ctx.ruleset == "dedicated" and not text(entry, "mail"):
        return "not-mail-enabled"
    return reason


def _common_reason(entry: Entry) -> str | None:
    if object_class(entry) not in SYNCED_CLASSES:
        return "not-synced-class"  # computers (and gMSAs) derive from user but sync only as devices
    if entry.values("isCriticalSystemObject"):
        return "critical-system-object"  # the default rule tests presence, not TRUE
    if "\\0acnf:" in entry.dn.lower() or "\ncnf:" in entry.dn.lower():
        return "conflict-object"
    return None


def _user_reason(entry: Entry) -> str | None:
    sam = text(entry, "sAMAccountName")
    nickname = text(entry, "mailNickname")
    if not sam:
        return "no-samaccountname"
    if sam.lower().startswith(("aad_", "msol_")) or sam.lower() == "support_388945a0":
        return "sync-service-account"
    if nickname.lower().startswith("systemmailbox{") or _is_cas_mailbox(sam) or _is_cas_mailbox(nickname):
        return "system-mailbox"
    if number(entry, "msExchRecipientTypeDetails") & EXCHANGE_SYSTEM_RECIPIENTS:
        return "exchange-system-recipient"
    return None


def _contact_reason(entry: Entry) -> str | None:
    hidden = text(entry, "msExchHideFromAddressLists").upper() == "TRUE"
    if hidden and "(MSOL)" in text(entry, "displayName").upper():
        return "msol-contact"
    if _is_cas_mailbox(text(entry, "mailNickname")):
        return "system-mailbox"
    if not is_mail_enabled(entry):
        return "not-mail-enabled"
    return None


def _group_reason(entry: Entry) -> str | None:
    if text(entry, "sAMAccountName").lower() == "msol_ad_sync_richcoexistence":
        return "sync-service-account"
    if number(entry, "msExchRecipientTypeDetails") & ROLE_GROUP:
        return "role-group"
    is_security = number(entry, "groupType") & SECURITY_GROUP
    if not is_security and not is_mail_enabled(entry):
        return "not-mail-enabled"  # distribution groups must be mail-enabled
    return None


def _no_reason(entry: Entry) -> None:
    return None


_CLASS_REASONS = {
    "user": _user_reason, "inetOrgPerson": _user_reason, "contact": _contact_reason, "group": _group_reason,
}  # fmt: skip


def is_mail_enabled(entry: Entry) -> bool:
    """Entra Connect's test: proxyAddresses present and an SMTP proxy or mail holding an '@'."""
    proxies = texts(entry, "proxyAddresses")
    if not proxies:
        return False
    smtp_at = any(p.lower().startswith("smtp:") and "@" in p for p in proxies)
    return smtp_at or "@" in text(entry, "mail")


def _is_cas_mailbox(name: str) -> bool:
    return name.upper().startswith("CAS_") and "}" in name
