"""Smoke tests of the directory lab harness itself (tests/lab)."""

from __future__ import annotations

import os
import ssl
from collections import Counter

import ldap3
import pytest
from ldap3.core.exceptions import LDAPException

from tests.lab import seed as seedmod
from tests.lab import slapd as slapdmod
from tests.lab.fixtures import require


def _entries(conn: ldap3.Connection, base: str, search_filter: str, attributes) -> list[dict]:
    gen = conn.extend.standard.paged_search(base, search_filter, attributes=attributes, paged_size=500, generator=True)
    # Samba/AD yield searchResRef items in subtree searches; only entries count.
    return [r for r in gen if r["type"] == "searchResEntry"]


def _values(entry: dict, attribute: str) -> list[str]:
    value = entry["attributes"].get(attribute, [])
    return [str(v) for v in (value if isinstance(value, list) else [value])]


# --- pure -------------------------------------------------------------------------------------


def test_seed_is_deterministic():
    first = seedmod.build_seed("CORP", "DC=corp,DC=example,DC=test")
    again = seedmod.build_seed("CORP", "DC=corp,DC=example,DC=test")
    assert first == again
    assert {d.kind for d in first.defects} == set(seedmod.KINDS)


def test_seed_has_no_unplanned_duplicates():
    seeds = [seedmod.build_seed(n, f"DC={n.lower()},DC=example,DC=test") for n in seedmod.FOREST_DOMAINS]
    excluded = {e.dn for s in seeds for e in s.exclusions}
    planted = {(d.attribute, d.value.lower()) for s in seeds for d in s.defects if d.kind == "duplicate"}
    seen = Counter()
    for s in seeds:
        for entry in s.entries:
            if entry.dn in excluded:
                continue
            for attr in (
                "sAMAccountName",
                "userPrincipalName",
                "mail",
                "mailNickname",
                "proxyAddresses",
                "targetAddress",
            ):
                values = entry.attributes.get(attr, [])
                for value in values if isinstance(values, list) else [values]:
                    seen[(attr, value.lower())] += 1
    assert {key for key, n in seen.items() if n > 1} == planted


IDFIX_CN_PREFIXES = ("admini", "cas_{", "discoverysearchmailbox", "federatedemail", "guest", "httpconnector",
                     "krbtgt", "iusr_", "iwam", "msol", "support_", "systemmailbox", "wwioadmini", "healthmailbox",
                     "exchange online-applicationaccount")  # fmt: skip


def test_no_seeded_object_is_excluded_by_accident():
    """IdFix's CN-prefix exclusions are broad: a defect on such an object would go unseen."""
    seed = seedmod.build_seed("CORP", "DC=corp,DC=example,DC=test")
    excluded = {e.dn for e in seed.exclusions}
    for entry in seed.entries:
        cn = str(entry.attributes.get("cn", "")).lower()
        if entry.dn not in excluded:
            assert not cn.startswith(IDFIX_CN_PREFIXES) and not cn.endswith("$"), entry.dn
    assert not excluded & {d.dn for d in seed.defects}


def test_missing_tool_skips_or_fails_under_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require("samba is not installed")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        require("samba is not installed")
    require(None)


# --- Samba ------------------------------------------------------------------------------------


@pytest.mark.samba
def test_simple_bind_on_389(samba_forests):
    for forest in samba_forests.values():
        conn = forest.connection()
        conn.search("", "(objectClass=*)", search_scope=ldap3.BASE, attributes=["defaultNamingContext"])
        assert conn.entries[0].defaultNamingContext.value.lower() == forest.base_dn.lower()
        conn.unbind()


@pytest.mark.samba
@pytest.mark.parametrize("tls", ["ldaps", "starttls"])
def test_tls_validates_the_dc_certificate(samba_forests, tls):
    corp, fabrikam = samba_forests["CORP"], samba_forests["FABRIKAM"]
    conn = corp.connection(tls=tls)
    # tls_started is only set by StartTLS; for ldaps the socket itself is the proof.
    assert conn.bound and isinstance(conn.socket, ssl.SSLSocket)
    conn.unbind()
    # Proof that validation happens: the other forest's CA must not be trusted for this DC.
    server = ldap3.Server(
        corp.host,
        port=636 if tls == "ldaps" else 389,
        use_ssl=tls == "ldaps",
        tls=ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(fabrikam.ca_cert)),
        get_info="NO_INFO",
    )
    wrong = ldap3.Connection(server, corp.bind_user, corp.password, raise_exceptions=True)
    with pytest.raises(LDAPException):
        wrong.open()
        wrong.start_tls()


@pytest.mark.samba
def test_exchange_attributes_read_and_write(corp_forest):
    conn = corp_forest.connection()
    dn = f"CN=Schema Smoke,{corp_forest.lab_ou}"
    attrs = {
        "mailNickname": "schema.smoke",
        "targetAddress": "SMTP:schema.smoke@example.net",
        "msExchRecipientTypeDetails": "2147483648",  # > 2^31: proves Integer8, not Integer
        "msExchHideFromAddressLists": "TRUE",
        "homeMDB": "CN=Mailbox Database 01,CN=Databases,CN=Exchange",
    }
    conn.add(dn, ["top", "contact"], attrs)
    try:
        conn.modify(dn, {"mailNickname": [(ldap3.MODIFY_REPLACE, ["schema.smoke2"])]})
        conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=list(attrs))
        got = {k: _values(conn.response[0], k) for k in attrs}
        assert got == {k: [v] for k, v in attrs.items()} | {"mailNickname": ["schema.smoke2"]}
        # Samba enforces the rangeUpper we gave mailNickname.
        with pytest.raises(LDAPException):
            conn.modify(dn, {"mailNickname": [(ldap3.MODIFY_REPLACE, ["n" * 65])]})
    finally:
        conn.delete(dn)
        conn.unbind()


@pytest.mark.samba
def test_seeded_counts_match_seed(samba_forests):
    for forest in samba_forests.values():
        conn = forest.connection()
        found = _entries(conn, forest.lab_ou, "(objectClass=*)", ["objectClass"])
        counts = Counter(_values(e, "objectClass")[-1] for e in found)
        assert dict(counts) == forest.seed.counts()
        # The DNs the seed records are the DNs the DC returns (scan tests compare them).
        assert {e["dn"] for e in found} == {e.dn for e in forest.seed.entries}
        conn.unbind()


@pytest.mark.samba
def test_planted_values_are_in_the_directory(samba_forests):
    for forest in samba_forests.values():
        conn = forest.connection()
        planted = [(d.dn, d.attribute, d.value) for d in forest.seed.defects]
        planted += [(v.dn, v.attribute, v.value) for v in forest.seed.valid]
        for dn, attribute, value in planted:
            conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=[attribute])
            stored = _values(conn.response[0], attribute)
            assert (value in stored) if value is not None else stored == [], (dn, attribute)
        for exclusion in forest.seed.exclusions:
            conn.search(exclusion.dn, "(objectClass=*)", search_scope=ldap3.BASE,
                        attributes=["isCriticalSystemObject"])  # fmt: skip
            if exclusion.preexisting:
                assert _values(conn.response[0], "isCriticalSystemObject") == ["TRUE"]
        conn.unbind()


@pytest.mark.samba
def test_cross_forest_duplicates_exist_in_both(samba_forests):
    filters = [f"(mail={seedmod.CROSS_FOREST_MAIL})", f"(proxyAddresses={seedmod.CROSS_FOREST_PROXY})",
               f"(userPrincipalName={seedmod.CROSS_FOREST_UPN})"]  # fmt: skip
    for forest in samba_forests.values():
        conn = forest.connection()
        for search_filter in filters:
            # Samba may return an entry twice for some proxy filters: count distinct DNs.
            dns = {e["dn"] for e in _entries(conn, forest.base_dn, search_filter, ["cn"])}
            assert len(dns) == 1, (forest.name, search_filter)
        conn.unbind()


@pytest.mark.samba
def test_dirsync_works(corp_forest):
    conn = corp_forest.connection()
    sync = conn.extend.microsoft.dir_sync(corp_forest.base_dn, "(objectClass=contact)", attributes=["cn"])
    while sync.more_results:
        sync.loop()
    assert sync.cookie
    conn.unbind()


@pytest.mark.samba
def test_stop_and_start_keep_the_data(corp_forest):
    dn = corp_forest.seed.defects[0].dn
    corp_forest.stop()
    assert not corp_forest.running
    with pytest.raises(LDAPException):
        corp_forest.connection(connect_timeout=1)
    assert corp_forest.start() < 30
    conn = corp_forest.connection()
    conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["cn"])
    assert len(conn.response) == 1
    conn.unbind()


@pytest.mark.samba
def test_a_dc_left_stopped_is_restarted_for_the_next_test(fabrikam_forest):
    fabrikam_forest.stop()  # deliberately not restarted: the next test checks the plugin did it


@pytest.mark.samba
def test_every_dc_is_running_again(samba_forests):
    assert all(forest.running for forest in samba_forests.values())
    samba_forests["FABRIKAM"].connection().unbind()


# --- slapd ------------------------------------------------------------------------------------


@pytest.mark.slapd
def test_slapd_loads_ldif_and_pages(slapd_directory, tmp_path):
    suffix = "DC=volume,DC=example,DC=test"
    ldif = tmp_path / "users.ldif"
    ldif.write_text(slapdmod.users_ldif(suffix, 2500))
    handle = slapd_directory(ldif, suffix=suffix)
    conn = handle.connection()
    pages, total, cookie = 0, 0, None
    while pages == 0 or cookie:
        conn.search(suffix, "(objectClass=user)", attributes=["sAMAccountName", "objectGUID"],
                    paged_size=1000, paged_cookie=cookie)  # fmt: skip
        pages, total = pages + 1, total + len(conn.entries)
        cookie = conn.result["controls"]["1.2.840.113556.1.4.319"]["value"]["cookie"]
    assert (pages, total) == (3, 2500)
    conn.search(suffix, "(mailNickname=user001234)", attributes=["mail"])
    assert _values(conn.response[0], "mail") == ["user001234@corp.example.com"]
    conn.unbind()


@pytest.mark.slapd
def test_start_slapd_outside_pytest_stops_by_pid(tmp_path):
    require(slapdmod.tools_missing())
    handle = slapdmod.start_slapd(tmp_path / "sl", "DC=bench,DC=example,DC=test")
    pid = handle.process.pid
    try:
        assert handle.url.startswith("ldap://127.0.0.1:")
        conn = handle.connection()
        conn.search("DC=bench,DC=example,DC=test", "(objectClass=*)", search_scope=ldap3.BASE)
        assert len(conn.entries) == 1
    finally:
        handle.stop()
    assert not handle.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
