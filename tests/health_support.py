"""Helpers of the health tests: point the app at the Graph stand-in, connect a tenant, scan entries."""

import uuid

import pytest

from identityhub.health.matching import anchor_of
from identityhub.health.models import GraphConnection
from identityhub.lib.entry import Entry
from identityhub.scans import pipeline
from identityhub.scans.models import ScanRun

from .graph_standin import run_graph_standin


@pytest.fixture
def standin(tmp_path, settings):
    """The Graph stand-in, with the app's GRAPH_* settings aimed at it."""
    with run_graph_standin(tmp_path) as server:
        point_at(settings, server)
        yield server


def point_at(settings, standin, max_retries=1):
    """GRAPH_* settings aimed at the stand-in (as GRAPH_AUTHORITY_HOST etc. would in the environment)."""
    settings.GRAPH_AUTHORITY_HOST = standin.host
    settings.GRAPH_BASE_URL = standin.graph_url
    settings.GRAPH_CA_BUNDLE = standin.ca_path
    settings.GRAPH_MAX_RETRIES = max_retries


def connect(tenant, standin, **extra):
    tenant.entra_tenant_id = standin.state.tenant_id
    tenant.save(update_fields=["entra_tenant_id"])
    return GraphConnection.objects.create(
        tenant=tenant, client_id=standin.state.client_id, client_secret=standin.state.client_secret, **extra
    )


def ad_user(name, *, upn, mail=None, proxies=(), guid=None, country=None):
    attributes = {
        "objectclass": ["top", "person", "organizationalPerson", "user"],
        "objectguid": [(guid or uuid.uuid4()).bytes_le],
        "cn": [name],
        "samaccountname": [name.lower()[:20]],
        "displayname": [name],
        "userprincipalname": [upn],
    }
    if mail:
        attributes["mail"] = [mail]
        attributes["mailnickname"] = [name.lower()]
    if proxies:
        attributes["proxyaddresses"] = list(proxies)
    if country is not None:
        attributes["c"] = [country]
    return Entry(dn=f"CN={name},OU=Staff,DC=corp,DC=acme,DC=example", attributes=attributes, source="corp")


def ad_group(name, *, mail, guid=None):
    attributes = {
        "objectclass": ["top", "group"],
        "objectguid": [(guid or uuid.uuid4()).bytes_le],
        "cn": [name],
        "samaccountname": [name],
        "displayname": [name],
        "grouptype": ["-2147483640"],
        "mail": [mail],
        "mailnickname": [name.lower()],
        "proxyaddresses": [f"SMTP:{mail}"],
    }
    return Entry(dn=f"CN={name},OU=Groups,DC=corp,DC=acme,DC=example", attributes=attributes, source="corp")


def scan(forest, entries) -> ScanRun:
    run = ScanRun.objects.create(tenant=forest.tenant, forest=forest)
    return pipeline.execute(run.pk, lambda s, prepare: map(prepare, entries))


def synced_as(cloud_object: dict, guid: uuid.UUID) -> dict:
    """Make a stand-in user the synced twin of the on-prem object with this objectGUID."""
    cloud_object["onPremisesImmutableId"] = anchor_of(guid)
    return cloud_object
