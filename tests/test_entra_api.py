"""The API accepts Entra access tokens issued for IdentityHub (Bearer), with roles from app roles."""

import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.contrib.auth.models import User

from identityhub.accounts.models import EntraIdentity
from identityhub.tenants.models import Role

from .entra_support import HOME_TID, PARTNER_TID, STRANGER_TID, mapping, person

pytestmark = pytest.mark.django_db

READER_ROLE = "IdentityHub.Reader"


@pytest.fixture
def reader_mapping(tenant):
    return mapping(tenant, READER_ROLE, Role.AUDITOR, kind="app_role")


def client_credentials_token(idp, service_principal) -> str:
    """What a reporting job with client credentials gets from the token endpoint."""
    idp.next_user = service_principal
    answer = requests.post(
        f"{idp.url}/{HOME_TID}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": idp.client_id,
            "client_secret": idp.client_secret,
            "scope": f"api://{idp.client_id}/.default",
        },
        verify=idp.ca_path,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_a_job_with_a_client_credentials_token_reads_its_tenant_with_the_mapped_role(
    client, idp, tenant, other_tenant, reader_mapping
):
    job = person(upn="", name="", roles=[READER_ROLE])
    headers = bearer(client_credentials_token(idp, job))
    listing = client.get("/api/tenants/", headers=headers)
    assert listing.status_code == 200, listing.content
    assert [(t["slug"], t["role"]) for t in listing.json()["results"]] == [("acme", "auditor")]
    assert client.get("/api/tenants/acme/findings/", headers=headers).status_code == 200
    assert client.get("/api/tenants/globex/findings/", headers=headers).status_code == 404
    link = EntraIdentity.objects.get()
    assert str(link.object_id) == job.oid and link.user.memberships.get().source == "mapped"


def test_the_app_id_uri_is_an_accepted_audience_and_a_removed_app_role_removes_the_role(
    client, idp, tenant, reader_mapping
):
    job = person(roles=[READER_ROLE])
    token = idp.access_token(job, audience=f"api://{idp.client_id}")
    assert client.get("/api/tenants/acme/", headers=bearer(token)).status_code == 200
    job.roles = []
    assert client.get("/api/tenants/acme/", headers=bearer(idp.access_token(job))).status_code == 404


def _expired():
    now = int(time.time())
    return {"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}


@pytest.mark.parametrize(
    "case, expected",
    [
        ("graph audience", "issued for another application"),
        ("other app", "issued for another application"),
        ("expired", "expired"),
        ("other key", "not signed by a key"),
        ("stranger tenant", "may not sign in"),
        ("wrong issuer", "issued by https://evil.example"),
        ("issuer of another allowed tenant", "issued by https://127.0.0.1"),
        ("alg none", "not signed by a key"),
        ("HS256 with the public key", "not signed by a key"),
    ],
)
def test_tokens_not_for_this_app_or_not_valid_are_refused(client, idp, tenant, reader_mapping, case, expected):
    job = person(roles=[READER_ROLE])
    token = {
        "graph audience": lambda: idp.access_token(job, audience="https://graph.microsoft.com"),
        "other app": lambda: idp.access_token(job, audience=str(uuid.uuid4())),
        "expired": lambda: idp.access_token(job, **_expired()),
        "other key": lambda: idp.access_token(job, key="rogue"),
        "stranger tenant": lambda: idp.access_token(person(tid=STRANGER_TID, roles=[READER_ROLE])),
        "wrong issuer": lambda: idp.access_token(job, iss=f"https://evil.example/{HOME_TID}/v2.0"),
        "issuer of another allowed tenant": lambda: idp.access_token(job, iss=idp.issuer(PARTNER_TID)),
        "alg none": lambda: _forged(idp, job, "none", None),
        "HS256 with the public key": lambda: _forged(idp, job, "HS256", _public_pem(idp)),
    }[case]()
    answer = client.get("/api/tenants/acme/", headers=bearer(token))
    assert answer.status_code == 401, answer.content
    assert expected in answer.json()["detail"]
    assert not User.objects.exists()


def _forged(idp, job, algorithm, key):
    """The app's claims, signed the way an attacker without the tenant's private key could."""
    claims = jwt.decode(idp.access_token(job), options={"verify_signature": False})
    header = {"alg": algorithm, "typ": "JWT", "kid": idp.kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    # PyJWT refuses to make these at all, so they are put together by hand.
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest() if key else b""
    return f"{signing_input}.{_b64(signature)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _public_pem(idp):
    return idp.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def test_a_token_with_groups_overage_is_refused_with_the_way_out(client, idp, tenant):
    idp.group_limit = 1
    token = idp.access_token(person(groups=[str(uuid.uuid4()), str(uuid.uuid4())]))
    answer = client.get("/api/tenants/", headers=bearer(token))
    assert answer.status_code == 401 and "app role" in answer.json()["detail"]


def test_bearer_tokens_are_refused_when_entra_is_not_configured(client, db):
    answer = client.get("/api/tenants/", headers=bearer("eyJhbGciOiJub25lIn0.e30."))
    assert answer.status_code == 401 and "not configured" in answer.json()["detail"]
