"""lib/directory.py against the real Samba AD DCs: binding, the four clear errors, paged reading."""

import pytest

from identityhub.lib import directory
from identityhub.lib.directory import DirectorySettings

pytestmark = pytest.mark.samba


def settings_for(forest, **changes):
    values = {
        "servers": [forest.host],
        "bind_user": forest.bind_user,
        "bind_password": forest.password,
        "base_dns": [forest.base_dn],
        "port": 636,
        "ca_certificate": forest.ca_cert.read_text(),
        "timeout": 5,
    }
    values.update(changes)
    return DirectorySettings(**values)


def test_it_binds_over_ldaps_with_the_forests_ca(corp_forest):
    report = directory.test_connection(settings_for(corp_forest))
    assert report.tls == "LDAPS"
    assert report.vendor == "Active Directory"
    assert corp_forest.base_dn in report.naming_contexts


def test_it_binds_with_starttls_on_389(corp_forest):
    report = directory.test_connection(settings_for(corp_forest, port=389, use_starttls=True))
    assert report.tls == "StartTLS"


def test_a_wrong_password_is_named(corp_forest):
    with pytest.raises(directory.BindError, match="the password is wrong"):
        directory.test_connection(settings_for(corp_forest, bind_password="not-the-password"))


def test_an_unreachable_host_is_named():
    # Nothing listens on 127.0.0.99: the connection is refused at once.
    settings = DirectorySettings(servers=["127.0.0.99"], bind_user="x", bind_password="y", port=389, timeout=3)
    with pytest.raises(directory.UnreachableError, match=r"Cannot reach 127\.0\.0\.99:389: connection refused"):
        directory.test_connection(settings)


def test_a_host_name_that_does_not_resolve_is_named_as_dns():
    # ldap3 reports a DNS failure as "invalid server address"; the message must say what it is. (A
    # faked exception: a real lookup of an unknown name would leave this machine.)
    from ldap3.core.exceptions import LDAPSocketOpenError

    error = directory._explain_socket_error(LDAPSocketOpenError("invalid server address"), "dc01.contoso.local", 636)
    assert isinstance(error, directory.UnreachableError)
    assert str(error) == "Cannot reach dc01.contoso.local:636: the host name does not resolve (DNS)."


def test_an_untrusted_certificate_is_a_tls_failure(corp_forest):
    # Without the lab CA the DC's self-signed certificate cannot be verified.
    with pytest.raises(directory.TlsError, match=f"TLS with {corp_forest.host}:636 failed"):
        directory.test_connection(settings_for(corp_forest, ca_certificate=""))


def test_starttls_with_an_untrusted_certificate_is_a_tls_failure(corp_forest):
    with pytest.raises(directory.TlsError, match="StartTLS"):
        directory.test_connection(settings_for(corp_forest, port=389, use_starttls=True, ca_certificate=""))


def test_a_missing_base_dn_is_named(corp_forest):
    missing = "OU=Nowhere," + corp_forest.base_dn
    with pytest.raises(directory.BaseDnNotFoundError, match="does not exist on the server"):
        directory.test_connection(settings_for(corp_forest, base_dns=[missing]))


def test_the_next_dc_is_tried_when_the_first_is_down(corp_forest):
    settings = settings_for(corp_forest, servers=["127.0.0.99", corp_forest.host])
    assert directory.test_connection(settings).server == f"{corp_forest.host}:636"


def test_it_streams_the_lab_in_pages_without_referrals_or_computers(corp_forest):
    conn = directory.connect(settings_for(corp_forest))
    try:
        entries = list(directory.iter_entries(conn, [corp_forest.lab_ou], ["cn", "mail"], page_size=50))
    finally:
        conn.unbind()
    seeded = [e for e in corp_forest.seed.entries if e.kind in ("user", "inetOrgPerson", "contact", "group")]
    assert len(entries) == len(seeded)
    assert all(e.guid and isinstance(e.first("objectGUID"), bytes) for e in entries)
    assert not any("computer" in [c.lower() for c in e.object_classes] for e in entries)


def test_excluded_containers_are_dropped(corp_forest):
    conn = directory.connect(settings_for(corp_forest))
    contacts = "OU=Contacts," + corp_forest.lab_ou
    try:
        entries = list(directory.iter_entries(conn, [corp_forest.lab_ou], ["cn"], exclude=[contacts]))
    finally:
        conn.unbind()
    assert entries and not any(e.dn.lower().endswith(contacts.lower()) for e in entries)


def test_a_whole_domain_read_skips_the_configuration_referral(corp_forest):
    conn = directory.connect(settings_for(corp_forest))
    try:
        dns = [e.dn for e in directory.iter_entries(conn, [corp_forest.base_dn], ["cn"])]
    finally:
        conn.unbind()
    assert dns and all(dn.upper().endswith(corp_forest.base_dn.upper()) for dn in dns)


def test_the_reader_process_decodes_entries_exactly_as_ldap3_does(corp_forest, monkeypatch):
    # The forked reader decodes search entries itself (directory._lean_entries); reading in this
    # process goes through ldap3's own decoding. Every entry, name and value must be the same:
    # the lab holds non-ASCII names, binary GUIDs and SIDs, and multi-valued proxies.
    from identityhub.scans.sources import RULE_ATTRIBUTES

    def read_all():
        conn = directory.connect(settings_for(corp_forest))
        try:
            return {e.dn: e.attributes for e in directory.iter_entries(conn, [corp_forest.lab_ou], RULE_ATTRIBUTES)}
        finally:
            conn.unbind()

    assert directory.READ_AHEAD
    lean = read_all()
    monkeypatch.setattr(directory, "READ_AHEAD", False)
    assert read_all() == lean
    assert any(not dn.isascii() for dn in lean) or any(
        not v.isascii() for attrs in lean.values() for vs in attrs.values() for v in vs if isinstance(v, str)
    )
    assert all(isinstance(attrs["objectsid"][0], bytes) for attrs in lean.values() if "objectsid" in attrs)
    assert any(len(attrs.get("proxyaddresses", [])) > 1 for attrs in lean.values())
