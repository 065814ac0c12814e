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


def _read_scope(scan: ScanRun) -> tuple[directory.DirectorySettings, list[str], dict]:
    """The forest's connection settings, the bases a read starts from and its other keyword
    arguments; the scope is recorded on the scan (what its picture covers)."""
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
    return settings, bases, {"search_filter": search_filter, "exclude": forest.exclude_ou_list, "source": forest.name}


def _record_watermark(scan: ScanRun, conn) -> None:
    """Where the DC stands before the full read, and the scope and rules it reads with: what the
    next delta continues from. A server that is not an AD DC gives none (deltas then run full)."""
    from .delta import picture_context

    try:
        mark = directory.watermark(conn).as_dict()
    except directory.FullScanNeeded:
        return
    ScanRun.objects.filter(pk=scan.pk).update(watermark={**mark, "context": picture_context(scan.forest)})


def _from_ldap(scan: ScanRun, prepare) -> Iterator:
    settings, bases, options = _read_scope(scan)
    conn = directory.connect(settings)
    try:
        _record_watermark(scan, conn)
        # prepare (the rules, the rows to store) runs in the directory reader process.
        yield from directory.iter_entries(conn, bases, RULE_ATTRIBUTES, prepare=prepare, **options)
    finally:
        conn.unbind()


def changes_for(scan: ScanRun, mark: dict, prepare: Callable[[Entry], Any]):
    """(new watermark, changes since `mark`) of the scan's forest (see delta.run_delta).

    The watermark's DC is asked first: USNs are local to one DC, and another one means a full
    scan (directory.FullScanNeeded, raised before anything is read).
    """
    settings, bases, options = _read_scope(scan)
    watermark = directory.Watermark.from_dict(mark)
    conn = _connect_preferring(settings, watermark.host)
    try:
        new_mark, changes = directory.iter_changes(conn, watermark, bases, RULE_ATTRIBUTES, prepare=prepare, **options)
    except BaseException:
        conn.unbind()
        raise
    return new_mark, _closing(conn, changes)


def _connect_preferring(settings: directory.DirectorySettings, host: str):
    if host and host in settings.servers:
        try:
            return directory.connect(settings, server=host)
        except (directory.UnreachableError, directory.TlsError):
            pass  # another DC answers; its watermark will not match and a full scan runs
    return directory.connect(settings)


def _closing(conn, changes: Iterator) -> Iterator:
    try:
        yield from changes
    finally:
        conn.unbind()
