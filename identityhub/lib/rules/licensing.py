"""Licence readiness on the on-prem side: a user needs a usage location to be licensed in Entra ID.

Which attribute feeds usageLocation: Entra Connect's default inbound rule "In from AD - User
Common" flows the user's ``c`` attribute (the two-letter country code; ``co`` is the country's
name, ``countryCode`` the numeric ISO code) into the mechanical attribute usageLocation:
https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-sync-attributes-synchronized
("usageLocation: mechanical property, the user's country/region, used for licence assignment") and
https://learn.microsoft.com/entra/identity/hybrid/connect/concept-azure-ad-connect-sync-default-configuration
(the default rules; a custom rule such as IIF(IsNullOrEmpty([c]),"US",[c]) is how admins default
it). Entra Cloud Sync's default attribute mapping takes usageLocation from ``c`` as well (check a
customised mapping). The value must be a two-letter ISO 3166-1 code:
https://learn.microsoft.com/graph/api/resources/user (usageLocation).

Registered in the catalogue by catalogue.py's last lines; checks.py judges c with judge_country().
"""

from __future__ import annotations

from iso3166 import countries_by_alpha2

from identityhub.lib.entry import Entry

from .catalogue import BOTH, Rule
from .model import Context

SOURCE = "https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-sync-attributes-synchronized"
COUNTRY = "c"  # what sync derives usageLocation from

RULES = [
    Rule(
        "usagelocation.missing", "degrading", "blank", (COUNTRY,), BOTH,
        "The user has no country (c), so Entra ID gets no usage location",
        "Sync derives usageLocation from c (default rule In from AD - User Common). Without a usage "
        "location no licence can be assigned: group-based licensing fails for the user.",
        "Set c to the user's two-letter ISO 3166 country code (e.g. DE, US, GB).",
        SOURCE,
    ),
    Rule(
        "usagelocation.invalid", "degrading", "format", (COUNTRY,), BOTH,
        "The user's country (c) is not a two-letter ISO 3166 code",
        "Sync derives usageLocation from c; Entra ID takes only a two-letter ISO 3166-1 country code "
        "there, so the user cannot be licensed with this value.",
        "Use the ISO 3166-1 alpha-2 code (GB, not UK; DE, not Germany or DEU).",
        SOURCE,
    ),
]  # fmt: skip


def is_country_code(value: str | None) -> bool:
    """A two-letter ISO 3166-1 code, as usageLocation takes it (upper case, e.g. "DE")."""
    return bool(value) and len(value) == 2 and value in countries_by_alpha2


def judge_country(value: str, entry: Entry, ctx: Context) -> list[str]:
    """The user's c as the source of usageLocation; only when the tenant tracks licence readiness
    (Context.licence_readiness), since many directories leave c empty until licences matter."""
    if not ctx.licence_readiness:
        return []
    if not value.strip():
        return ["usagelocation.missing"]
    return [] if is_country_code(value.upper()) else ["usagelocation.invalid"]
