"""Point the app at the OIDC stand-in, and walk the sign-in's two legs through the real code path."""

import uuid
from urllib.parse import urlsplit

import pytest
import requests

from identityhub.tenants.models import RoleMapping

from .oidc_standin import EntraUser, run_oidc_standin

HOME_TID = str(uuid.uuid4())  # the Entra tenant allowed to sign in
PARTNER_TID = str(uuid.uuid4())  # a second allowed one (ENTRA_ALLOWED_TENANTS)
STRANGER_TID = str(uuid.uuid4())  # not allowed


@pytest.fixture
def idp(tmp_path, settings):
    with run_oidc_standin(tmp_path) as server:
        settings.ENTRA_CLIENT_ID = server.client_id
        settings.ENTRA_CLIENT_SECRET = server.client_secret
        settings.ENTRA_TENANT_ID = ""
        settings.ENTRA_ALLOWED_TENANTS = [HOME_TID, PARTNER_TID]
        settings.ENTRA_AUTHORITY_HOST = server.host
        settings.ENTRA_GRAPH_BASE_URL = server.graph_url
        settings.ENTRA_CA_BUNDLE = server.ca_path  # the test CA is trusted here only
        yield server


def person(upn="ada@contoso.com", name="Ada Lovelace", tid=HOME_TID, **kwargs) -> EntraUser:
    return EntraUser(upn, name, tid, **kwargs)


def sign_in(client, idp, user: EntraUser, next_url: str = ""):
    """Start at /auth/entra/login/, let the stand-in sign ``user`` in, return the callback's answer."""
    idp.next_user = user
    start = client.get("/auth/entra/login/" + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302, start.content
    authorize = requests.get(start["Location"], verify=idp.ca_path, timeout=10, allow_redirects=False)
    assert authorize.status_code == 302, authorize.text
    back = urlsplit(authorize.headers["Location"])
    return client.get(f"{back.path}?{back.query}")


def mapping(tenant, value, role, *, kind=RoleMapping.Kind.GROUP, entra_tenant_id=HOME_TID) -> RoleMapping:
    return RoleMapping.objects.create(tenant=tenant, entra_tenant_id=entra_tenant_id, kind=kind, value=value, role=role)
