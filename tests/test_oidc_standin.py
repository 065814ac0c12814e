"""The OIDC stand-in itself: what it publishes is what Entra publishes, and it checks what Entra checks."""

import base64
import hashlib
import secrets
import uuid
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from .oidc_standin import EntraUser, run_oidc_standin


@pytest.fixture
def idp(tmp_path):
    with run_oidc_standin(tmp_path) as server:
        yield server


def _get(idp, path, **kwargs):
    return requests.get(f"{idp.url}{path}", verify=idp.ca_path, timeout=10, allow_redirects=False, **kwargs)


def test_discovery_is_tenant_specific_and_tls_needs_the_test_ca(idp):
    tid = str(uuid.uuid4())
    doc = _get(idp, f"/{tid}/v2.0/.well-known/openid-configuration").json()
    assert doc["issuer"] == f"{idp.url}/{tid}/v2.0"
    assert doc["jwks_uri"].endswith(f"/{tid}/discovery/v2.0/keys")
    assert (
        _get(idp, "/organizations/v2.0/.well-known/openid-configuration").json()["issuer"].endswith("/{tenantid}/v2.0")
    )
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{idp.url}/{tid}/v2.0/.well-known/openid-configuration", timeout=10)


def test_code_flow_with_pkce_gives_an_id_token_signed_by_a_published_key(idp):
    tid = str(uuid.uuid4())
    idp.next_user = EntraUser("ada@contoso.com", "Ada Lovelace", tid, groups=["g1"], roles=["Auditor"])
    verifier = secrets.token_urlsafe(43)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "client_id": idp.client_id,
        "redirect_uri": "https://app.example/cb",
        "state": "s1",
        "nonce": "n1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    answer = _get(idp, f"/{tid}/oauth2/v2.0/authorize", params=params)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == ["s1"]
    form = {
        "client_id": idp.client_id,
        "client_secret": idp.client_secret,
        "grant_type": "authorization_code",
        "code": query["code"][0],
        "redirect_uri": "https://app.example/cb",
    }
    token_url = f"{idp.url}/{tid}/oauth2/v2.0/token"
    wrong = requests.post(token_url, data=form | {"code_verifier": "wrong"}, verify=idp.ca_path, timeout=10)
    assert wrong.status_code == 400 and "Code_Verifier" in wrong.json()["error_description"]
    # The code was spent by the failed attempt, as Entra does: start again.
    answer = _get(idp, f"/{tid}/oauth2/v2.0/authorize", params=params)
    form["code"] = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    tokens = requests.post(token_url, data=form | {"code_verifier": verifier}, verify=idp.ca_path, timeout=10).json()
    keys = jwt.PyJWKClient(f"{idp.url}/{tid}/discovery/v2.0/keys", ssl_context=_context(idp))
    key = keys.get_signing_key_from_jwt(tokens["id_token"]).key
    claims = jwt.decode(tokens["id_token"], key, algorithms=["RS256"], audience=idp.client_id, issuer=idp.issuer(tid))
    assert (claims["oid"], claims["tid"], claims["upn"], claims["nonce"]) == (
        idp.next_user.oid,
        tid,
        "ada@contoso.com",
        "n1",
    )
    assert claims["groups"] == ["g1"] and claims["roles"] == ["Auditor"]


def test_overage_replaces_groups_with_claim_sources_and_graph_lists_them(idp):
    tid = str(uuid.uuid4())
    groups = [str(uuid.uuid4()) for _ in range(4)]
    idp.group_limit = 3
    user = EntraUser("ben@contoso.com", "Ben", tid, groups=groups)
    claims = idp.id_token_claims(user, audience=idp.client_id, nonce=None)
    assert "groups" not in claims
    assert claims["_claim_names"] == {"groups": "src1"}
    assert "getMemberObjects" in claims["_claim_sources"]["src1"]["endpoint"]


def _context(idp):
    import ssl

    return ssl.create_default_context(cafile=idp.ca_path)
