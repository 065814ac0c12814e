"""Where a scan's entries come from: the forest over LDAP, or an uploaded ldifde/csvde export."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from identityhub.lib import directory
from identityhub.lib.entry import Entry
from identityhub.lib.ldif import read_export

from .models import ScanRun

# What the rules read, beyond what lib.directory always reads.
RULE_ATTRIBUTES = [
    "cn",
    "displayName",
    "givenName",
    "sn",
    "mail",
    "mailNickname",
    "proxyAddresses",
    "sAMAccountName",
    "targetAddress",
    "userPrincipalName",
    "userCertificate",
    "msExchHideFromAddressLists",
    "legacyExchangeDN",
    "name",
    "objectSid",
    "c",  # the country: sync derives usageLocation from it (rules/licensing.py)
]


def directory_settings(forest) -> directory.DirectorySettings:
    return directory.DirectorySettings(
        servers=forest.server_list,
        bind_user=forest.bind_user,
        bind_password=forest.bind_password,
        base_dns=forest.base_dn_list,
        port=forest.port,
        use_starttls=forest.use_starttls,
        ca_certificate=forest.ca_certificate,
    )


def entries_for(scan: ScanRun, prepare: Callable[[Entry], Any]) -> Iterator:
    """prepare(entry) for every entry of the scan's source (see pipeline.run_scan)."""
    if scan.source == ScanRun.Source.UPLOAD:
        return _from_upload(scan, prepare)
    return _from_ldap(scan, prepare)


def _from_upload(scan: ScanRun, prepare) -> Iterator:
    with scan.upload.open("rb") as handle:
        yield from map(prepare, read_export(handle, source=scan.forest.name))


def _from_ldap(scan: ScanRun, prepare) -> Iterator:
    forest = scan.forest
    settings = directory_settings(forest)
    bases = forest.include_ou_list or forest.base_dn_list
    search_filter = directory.scope_filter(forest.extra_filter)
    ScanRun.objects.filter(pk=scan.pk).update(
        scope={
            "servers": forest.server_list,
            "port": forest.port,
            "bases": bases,
            "exclude": forest.exclude_ou_list,
            "filter": search_filter,
        }
    )
    conn = directory.connect(settings)
    try:
        # prepare (the rules, the rows to store) runs in the directory reader process.
        yield from directory.iter_entries(
            conn,
            bases,
            RULE_ATTRIBUTES,
            search_filter=search_filter,
            exclude=forest.exclude_ou_list,
            source=forest.name,
            prepare=prepare,
        )
    finally:
        conn.unbind()
