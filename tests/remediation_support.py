"""A sandbox OU in the CORP lab forest for tests that write to AD, and a tenant scanning only it."""

import uuid

import ldap3
import pytest

from identityhub.scans import pipeline
from identityhub.scans.models import Finding, ScanRun
from identityhub.scans.sources import entries_for
from identityhub.tenants.models import Forest

from .ldap_proxy import LdapProxy


class Sandbox:
    """An OU of its own in the CORP lab, scanned as the tenant's only forest, removed afterwards."""

    def __init__(self, lab):
        self.lab = lab
        self.conn = lab.connection()
        self.ou = f"OU=Fix{uuid.uuid4().hex[:8]},{lab.lab_ou}"
        assert self.conn.add(self.ou, ["top", "organizationalUnit"])
        self.dns = []

    def user(self, name, **attrs):
        dn = f"CN={name},{self.ou}"
        sam = (name.replace(" ", "").lower() + uuid.uuid4().hex)[:18]
        values = {"sAMAccountName": sam, "displayName": name, **attrs}
        assert self.conn.add(dn, ["top", "user"], values), self.conn.result
        self.dns.append(dn)
        return dn

    def value(self, dn, attribute):
        self.conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=[attribute])
        return sorted(str(v) for v in self.conn.response[0]["attributes"].get(attribute, []))

    def set(self, dn, attribute, values):
        assert self.conn.modify(dn, {attribute: [(ldap3.MODIFY_REPLACE, values)]})

    def reconnect(self):
        """After the DC was killed and restarted: the old connection died with it."""
        self.conn = self.lab.connection()

    def close(self):
        for dn in reversed(self.dns):
            self.conn.delete(dn)
        self.conn.delete(self.ou)
        self.conn.unbind()


@pytest.fixture
def sandbox(corp_forest):
    box = Sandbox(corp_forest)
    yield box
    box.close()


@pytest.fixture
def fix_tenant(db, personas, tenant):
    tenant.verified_domains = ["corp.example.com"]
    tenant.save()
    return tenant


@pytest.fixture
def sandbox_forest(fix_tenant, corp_forest, sandbox):
    # The global catalog reads; writes must go to 389.
    return forest_of_sandbox(fix_tenant, corp_forest, sandbox, corp_forest.host, port=3268)


@pytest.fixture
def proxy(corp_forest):
    """The fault-injecting relay (tests/ldap_proxy.py) in front of the CORP DC."""
    with LdapProxy((corp_forest.host, 389), delay=3.0) as relay:
        yield relay


@pytest.fixture
def proxied_forest(fix_tenant, corp_forest, sandbox, proxy, settings):
    settings.LDAP_TIMEOUT = 1  # the client's time-out, below the relay's delay
    return forest_of_sandbox(fix_tenant, corp_forest, sandbox, proxy.address)


def forest_of_sandbox(tenant, corp_forest, sandbox, servers: str, port: int = 389) -> Forest:
    """The tenant's forest: the CORP lab's sandbox OU, read through `servers` (the DC, or a relay in front)."""
    return Forest.objects.create(
        tenant=tenant,
        name="corp.example.test",
        servers=servers,
        port=port,
        base_dns=corp_forest.base_dn,
        include_ous=sandbox.ou,
        bind_user=corp_forest.bind_user,
        bind_password=corp_forest.password,
    )


def scan(forest):
    run = ScanRun.objects.create(tenant=forest.tenant, forest=forest)
    run = pipeline.execute(run.pk, entries_for)
    assert run.status == "completed", run.error
    return run


def finding_on(dn, attribute):
    return Finding.objects.filter(dn__iexact=dn, attribute=attribute).exclude(error="duplicate").first()
