"""identityhub.lib.graph against the Graph stand-in: real TLS, real msal, no mocks."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

import pytest
import requests
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from identityhub.lib import graph as g
from tests.graph_standin import graph_standin, provisioning_error, run_graph_standin, user

RSA = trustme.KeyType.RSA


standin = pytest.fixture(graph_standin, name="standin")  # the Graph stand-in, started and stopped


@pytest.fixture
def waits():
    return []  # the back-off's sleeps, recorded instead of slept


@pytest.fixture
def make_client(standin, waits):
    clients = []

    def make(**overrides):
        state = standin.state
        kwargs = {"client_secret": state.client_secret, "sleep": waits.append, **standin.client_kwargs()}
        kwargs.update(overrides)
        client = g.GraphClient(state.tenant_id, kwargs.pop("client_id", state.client_id), **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def foreign_ca_file(tmp_path):
    path = tmp_path / "someone-elses-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- token -------------------------------------------------------------------------------------


def test_token_is_acquired_once_and_reused_from_the_cache(standin, client):
    client.get("/organization")
    client.get("/domains")
    list(client.get_all("/users"))
    assert standin.token_requests == 1
    token = standin.seen("/organization")[0].headers["Authorization"]
    assert token.startswith("Bearer ") and token == standin.seen("/domains")[0].headers["Authorization"]


def test_token_request_is_client_credentials_for_the_graph_host(standin, client):
    client.access_token()
    form = next(r.form for r in standin.requests if r.method == "POST")
    assert form["grant_type"] == ["client_credentials"]
    assert form["scope"] == [f"{standin.url}/.default"]
    assert form["client_secret"] == [standin.state.client_secret]


def test_a_token_close_to_expiry_is_renewed(standin, client):
    standin.state.token_lifetime = 60  # msal renews tokens that expire within five minutes
    client.get("/organization")
    client.get("/organization")
    assert standin.token_requests == 2


def test_certificate_credential(standin, make_client):
    # Entra takes RSA certificates for app credentials; trustme's default is EC.
    app_cert = trustme.CA().issue_cert("identityhub-app", key_type=RSA)
    cert_pem = app_cert.cert_chain_pems[0].bytes()
    standin.state.certificate_pem = cert_pem
    thumbprint = x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA1()).hex()
    client = make_client(
        client_secret=None,
        certificate_pem=app_cert.private_key_pem.bytes().decode(),
        certificate_thumbprint=thumbprint,
    )
    assert client.get("/organization")["value"][0]["id"] == standin.state.tenant_id
    assert "client_assertion" in next(r.form for r in standin.requests if r.method == "POST")


def test_a_certificate_the_app_does_not_have_is_refused(standin, make_client):
    registered = trustme.CA().issue_cert("registered", key_type=RSA)
    other = trustme.CA().issue_cert("other", key_type=RSA)
    standin.state.certificate_pem = registered.cert_chain_pems[0].bytes()
    other_pem = other.cert_chain_pems[0].bytes()
    client = make_client(
        client_secret=None,
        certificate_pem=other.private_key_pem.bytes().decode(),
        certificate_thumbprint=x509.load_pem_x509_certificate(other_pem).fingerprint(hashes.SHA1()).hex(),
    )
    with pytest.raises(g.GraphAuthError, match="AADSTS700027"):
        client.access_token()


def test_a_key_msal_cannot_sign_with_is_an_auth_error(make_client):
    ec_key = trustme.CA().issue_cert("ec").private_key_pem.bytes().decode()  # EC, not RSA
    client = make_client(client_secret=None, certificate_pem=ec_key, certificate_thumbprint="ab" * 20)
    with pytest.raises(g.GraphAuthError, match="client assertion"):
        client.access_token()


def test_wrong_secret_is_an_auth_error_with_microsofts_reason(make_client):
    client = make_client(client_secret="not-the-secret")
    with pytest.raises(g.GraphAuthError) as caught:
        client.get("/organization")
    message = str(caught.value)
    assert "AADSTS7000215" in message and "invalid_client" in message
    assert "Trace ID" not in message  # shortened to the first line


def test_unknown_tenant_and_unknown_client(standin, make_client):
    with pytest.raises(g.GraphAuthError, match="AADSTS90002"):
        g.GraphClient(
            "00000000-0000-0000-0000-000000000000",
            standin.state.client_id,
            client_secret="x",
            **standin.client_kwargs(),
        ).access_token()
    with pytest.raises(g.GraphAuthError, match="AADSTS700016"):
        make_client(client_id="11111111-2222-3333-4444-555555555555").access_token()


def test_constructing_a_client_does_not_touch_the_network(standin, make_client):
    make_client()
    assert standin.requests == []


def test_either_a_secret_or_a_certificate():
    with pytest.raises(ValueError, match="either"):
        g.GraphClient("t", "c")
    with pytest.raises(ValueError, match="thumbprint"):
        g.GraphClient("t", "c", certificate_pem="-----BEGIN PRIVATE KEY-----")


# -- GETs, paging, $select, $count -------------------------------------------------------------


def test_get_all_follows_next_links_to_the_end(standin, client):
    standin.state.max_page_size = 2  # 5 users -> 3 pages
    users = list(client.get_all("/users", {"$select": "id,userPrincipalName", "$top": "999"}))
    assert [u["userPrincipalName"] for u in users] == [u["userPrincipalName"] for u in standin.state.users]
    pages = standin.seen("/users")
    assert len(pages) == 3
    assert all(p.query["$select"] == ["id,userPrincipalName"] for p in pages)  # carried by nextLink


def test_thousands_of_users_page_at_999(standin, client):
    standin.state.users = [user(f"u{i}@contoso.com", synced=i % 2 == 0) for i in range(2100)]
    objects = list(g.iter_directory_objects(client, "users"))
    assert len(objects) == 2100 and len({o["id"] for o in objects}) == 2100
    assert len(standin.seen("/users")) == 3


def test_directory_objects_are_selected_per_kind(standin, client):
    for kind in g.KINDS:
        objects = list(g.iter_directory_objects(client, kind))
        assert len(objects) == len(getattr(standin.state, kind))
        query = standin.seen(f"/{kind}")[0].query
        assert query["$top"] == ["999"]
        assert set(query["$select"][0].split(",")) == set(g.SELECT_FIELDS[kind])
    assert "onPremisesImmutableId" in g.SELECT_FIELDS["users"]
    assert "userPrincipalName" not in g.SELECT_FIELDS["groups"]  # Graph would answer 400


def test_selecting_a_property_the_type_lacks_is_graphs_400(client):
    with pytest.raises(g.GraphError, match="userPrincipalName.*microsoft.graph.group") as caught:
        client.get("/groups", {"$select": "id,userPrincipalName"})
    assert caught.value.status == 400 and not isinstance(caught.value, g.GraphPermissionError)


def test_count_sends_consistency_level_and_reads_plain_text(standin, client):
    assert client.count("/users") == 5
    assert client.count("/users", "onPremisesSyncEnabled eq true") == 3
    for seen in standin.seen("/users/$count"):
        assert seen.headers["ConsistencyLevel"] == "eventual"
    assert standin.seen("/users/$count")[1].query["$filter"] == ["onPremisesSyncEnabled eq true"]
    with pytest.raises(g.GraphError, match="400"):
        client.get("/users/$count")  # the stand-in, like Graph, wants the header


def test_fetch_counts(client):
    assert g.fetch_counts(client) == {
        "users": {"synced": 3, "cloud_only": 2},
        "groups": {"synced": 2, "cloud_only": 1},
        "contacts": {"synced": 1, "cloud_only": 1},
    }


def test_the_token_never_follows_a_next_link_to_another_host(client):
    with pytest.raises(g.GraphError, match="evil.example"):
        client.get("https://evil.example/v1.0/users?$skiptoken=1")


# -- throttling and server errors --------------------------------------------------------------


def test_429_waits_as_long_as_retry_after_says(standin, client, waits):
    standin.fault("/organization", 429, times=2, retry_after="7")
    assert client.get("/organization")["value"]
    assert waits == [7, 7]
    assert len(standin.seen("/organization")) == 3


def test_retry_after_is_capped_and_503_honours_it_too(standin, client, waits):
    standin.fault("/domains", 503, retry_after="86400")
    standin.fault("/domains", 429)  # no Retry-After: exponential back-off
    assert list(client.get_all("/domains"))
    assert waits == [g.RETRY_AFTER_CAP, 2 * g.BACKOFF_BASE]


def test_500_then_success(standin, client, waits):
    standin.fault("/users", 500)
    assert len(list(client.get_all("/users"))) == 5
    assert waits == [g.BACKOFF_BASE]


def test_500_forever_gives_up_after_bounded_retries(standin, make_client, waits):
    standin.fault("/users", 500, times=None)
    client = make_client(max_retries=3)
    with pytest.raises(g.GraphError, match="after 4 attempts") as caught:
        list(client.get_all("/users"))
    assert caught.value.status == 500
    assert len(standin.seen("/users")) == 4
    assert waits == [1, 2, 4]


def test_a_fault_mid_paging_resumes_at_the_same_page(standin, client, waits):
    standin.state.max_page_size = 2
    pages = iter(client.get_all("/users"))
    first_two = [next(pages), next(pages)]
    standin.fault("/users", 504, retry_after="1")
    rest = list(pages)
    assert len(first_two + rest) == 5 and waits == [1]


# -- permissions ---------------------------------------------------------------------------------


def test_403_names_the_missing_permission(standin, client):
    standin.state.permissions = {"User.Read.All"}
    assert list(client.get_all("/users"))
    with pytest.raises(g.GraphPermissionError) as caught:
        g.fetch_domains(client)
    error = caught.value
    assert error.permission == "Domain.Read.All" and error.status == 403
    assert "Authorization_RequestDenied" in str(error) and "Directory.Read.All" in str(error)


@pytest.mark.parametrize(
    ("path", "permission"),
    [("/organization", "Organization.Read.All"), ("/groups", "Group.Read.All"), ("/contacts", "OrgContact.Read.All")],
)
def test_401_names_the_permission_for_the_path(standin, client, path, permission):
    standin.fault(path, 401)
    with pytest.raises(g.GraphPermissionError, match=permission) as caught:
        client.get(path)
    assert "InvalidAuthenticationToken" in str(caught.value)


def test_revoked_token_is_a_401(standin, client):
    client.get("/organization")
    standin.revoke_tokens()
    with pytest.raises(g.GraphPermissionError, match="401"):
        client.count("/contacts")


def test_required_permission_of_paths_and_next_links():
    assert g.required_permission("/users/$count") == "User.Read.All"
    assert g.required_permission("https://graph.microsoft.com/v1.0/contacts?$skiptoken=x") == "OrgContact.Read.All"
    assert g.required_permission("/usersX") is None


# -- network and TLS -----------------------------------------------------------------------------


def test_unreachable_host_is_a_connection_error_naming_it(standin, make_client):
    dead = f"127.0.0.1:{free_port()}"
    with pytest.raises(g.GraphConnectionError, match=dead) as caught:
        make_client(authority_host=dead).access_token()
    assert caught.value.host == dead and not isinstance(caught.value, g.GraphTLSError)


def test_unreachable_graph_is_retried_then_a_connection_error(standin, make_client, waits):
    dead = f"127.0.0.1:{free_port()}"
    standin.state.expected_scope = f"https://{dead}/.default"
    client = make_client(base_url=f"https://{dead}/v1.0", max_retries=2)
    with pytest.raises(g.GraphConnectionError, match=f"{dead} after 3 attempts.*refused"):
        client.get("/organization")
    assert waits == [1, 2]


def test_untrusted_ca_is_a_clear_tls_error(standin, make_client, foreign_ca_file):
    for ca_bundle in (None, foreign_ca_file):  # certifi's store, then some other private CA
        with pytest.raises(g.GraphTLSError, match="CERTIFICATE_VERIFY_FAILED") as caught:
            make_client(ca_bundle=ca_bundle).get("/organization")
        assert caught.value.host == standin.host
        assert "CA bundle" in str(caught.value)
    assert standin.token_requests == 0


def test_requests_ca_bundle_in_the_environment_does_not_override_ours(
    standin, make_client, monkeypatch, foreign_ca_file
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", foreign_ca_file)
    monkeypatch.setenv("CURL_CA_BUNDLE", foreign_ca_file)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")  # a dead proxy
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    report = g.pull_health(make_client())
    assert report.sync_enabled


def test_the_trap_is_real_for_a_session_that_trusts_the_environment(standin, monkeypatch, foreign_ca_file):
    # Why GraphClient turns trust_env off: here the environment beats the session's verify.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", foreign_ca_file)
    session = requests.Session()
    session.verify = standin.ca_path
    with pytest.raises(requests.exceptions.SSLError):
        session.get(f"{standin.url}/{standin.state.tenant_id}/v2.0/.well-known/openid-configuration")
    session.close()


# -- end to end ----------------------------------------------------------------------------------


def test_pull_health_end_to_end(standin, client):
    state = standin.state
    state.contacts.append(
        {
            **state.contacts[0],
            "id": "c-3",
            "displayName": "Dup",
            "onPremisesProvisioningErrors": [provisioning_error("ProxyAddress", "smtp:one@partner.example")],
        }
    )
    report = g.pull_health(client)

    assert report.sync_enabled is True
    assert report.last_sync == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert report.last_password_sync.tzinfo is not None
    assert report.verified_domains == ["contoso.com", "contoso.onmicrosoft.com", "fabrikam.com"]
    assert {d["name"]: d["authentication_type"] for d in report.domains}["fabrikam.com"] == "Federated"
    assert report.counts == {
        "users": {"synced": 3, "cloud_only": 2},
        "groups": {"synced": 2, "cloud_only": 1},
        "contacts": {"synced": 2, "cloud_only": 1},
    }
    assert [(e["object_type"], e["property"]) for e in report.provisioning_errors] == [
        ("user", "UserPrincipalName"),
        ("group", "ProxyAddress"),
        ("contact", "ProxyAddress"),
    ]
    ben = report.provisioning_errors[0]
    assert ben["upn"] == "ben@contoso.onmicrosoft.com" and ben["immutable_id"] and ben["value"] == "ben@contoso.com"
    assert ben["occurred"] == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)

    identities = set(report.cloud_only_identities)
    assert {
        ("upn", "dee@contoso.com"),
        ("smtp", "dee@contoso.onmicrosoft.com"),
        ("mail", "team@contoso.com"),
    } <= identities
    assert ("upn", "ada@contoso.com") not in identities  # synced objects are not cloud-only
    assert not any(value.startswith("sip") for _, value in identities)
    assert len(identities) == len(report.cloud_only_identities)  # no duplicates

    data = json.loads(json.dumps(report.to_json()))
    assert data["last_sync"] == "2026-11-24T09:00:00+00:00"
    assert data["provisioning_errors"][0]["occurred"] == "2026-11-20T08:30:00+00:00"
    assert ["upn", "eve@contoso.onmicrosoft.com"] in data["cloud_only_identities"]
    assert standin.token_requests == 1


def test_a_tenant_that_never_synced(standin, client):
    standin.state.sync_enabled = None
    standin.state.last_sync = standin.state.last_password_sync = None
    report = g.pull_health(client)
    assert (report.sync_enabled, report.last_sync, report.last_password_sync) == (False, None, None)


def test_the_stand_in_stops_by_itself(tmp_path):
    with run_graph_standin(tmp_path) as server:
        port = int(server.host.rsplit(":", 1)[1])
        # keep a connection open: stop() must still return
        session = requests.Session()
        session.trust_env = False
        session.get(f"{server.url}/nowhere", verify=server.ca_path)
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    session.close()


def test_parse_datetime_accepts_graphs_seven_digit_fractions():
    parsed = g.parse_datetime("2026-11-24T10:15:00.1234567Z")
    assert parsed.tzinfo is not None and parsed.microsecond == 123456
