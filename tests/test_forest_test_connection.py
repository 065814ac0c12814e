"""The forest form's "Test connection" button (htmx) against the real DC: success and the four errors."""

import pytest

pytestmark = [pytest.mark.samba, pytest.mark.django_db]


def form_data(lab, **changes):
    data = {
        "name": "corp.example.test",
        "servers": lab.host,
        "port": "636",
        "ca_certificate": lab.ca_cert.read_text(),
        "base_dns": lab.base_dn,
        "bind_user": lab.bind_user,
        "bind_password": lab.password,
        "scan_schedule": "daily",
    }
    data.update(changes)
    return data


def press_test(client, tenant, data, forest=None):
    url = f"/t/{tenant.slug}/forests/{forest.pk}/test/" if forest else f"/t/{tenant.slug}/forests/new/test/"
    response = client.post(url, data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def admin_client(client, personas):
    client.force_login(personas["admin"])
    return client


def test_it_connects(admin_client, tenant, corp_forest):
    body = press_test(admin_client, tenant, form_data(corp_forest))
    assert "Connected to" in body and "TLS: LDAPS" in body and "found" in body


def test_wrong_password(admin_client, tenant, corp_forest):
    body = press_test(admin_client, tenant, form_data(corp_forest, bind_password="wrong-password"))
    assert "Bind refused: the password is wrong." in body


def test_unreachable_host(admin_client, tenant, corp_forest):
    body = press_test(admin_client, tenant, form_data(corp_forest, servers="127.0.0.99", port="389"))
    assert "Cannot reach 127.0.0.99:389: connection refused" in body


def test_tls_failure(admin_client, tenant, corp_forest):
    body = press_test(admin_client, tenant, form_data(corp_forest, ca_certificate=""))
    assert f"TLS with {corp_forest.host}:636 failed" in body


def test_base_dn_not_found(admin_client, tenant, corp_forest):
    missing = "OU=Nowhere," + corp_forest.base_dn
    body = press_test(admin_client, tenant, form_data(corp_forest, base_dns=missing))
    assert f"Base DN &#x27;{missing}&#x27; does not exist on the server." in body


def test_a_saved_forest_is_tested_with_its_stored_password(admin_client, tenant, corp_forest):
    from identityhub.tenants.models import Forest

    data = form_data(corp_forest)
    forest = Forest.objects.create(tenant=tenant, **{k: v for k, v in data.items() if k not in ("port",)}, port=636)
    body = press_test(admin_client, tenant, form_data(corp_forest, bind_password=""), forest=forest)
    assert "Connected to" in body
    assert corp_forest.password not in body


@pytest.mark.parametrize(
    "change",
    [
        {"servers": "127.0.0.99"},
        {"servers": "127.0.0.11:3269"},
        {"port": "389"},
        {"use_starttls": "on", "port": "389"},
        {"ca_certificate": ""},
    ],
)
def test_a_changed_endpoint_needs_the_password_typed_again(admin_client, tenant, corp_forest, change):
    from identityhub.tenants.models import Forest

    data = form_data(corp_forest)
    forest = Forest.objects.create(tenant=tenant, **{k: v for k, v in data.items() if k not in ("port",)}, port=636)
    changed = form_data(corp_forest, bind_password="", **change)
    body = press_test(admin_client, tenant, changed, forest=forest)
    assert "type the bind password again" in body and "Connected to" not in body
    saved = admin_client.post(f"/t/{tenant.slug}/forests/{forest.pk}/", changed)
    assert saved.status_code == 200 and "type the bind password again" in saved.content.decode()
    forest.refresh_from_db()
    assert forest.servers == corp_forest.host and forest.port == 636  # nothing saved
    # Typed again, the same change is tested and saved.
    retyped = {**changed, "bind_password": corp_forest.password}
    assert admin_client.post(f"/t/{tenant.slug}/forests/{forest.pk}/", retyped).status_code == 302


def test_an_unchanged_endpoint_keeps_the_stored_password_when_saving(admin_client, tenant, corp_forest):
    from identityhub.tenants.models import Forest

    data = form_data(corp_forest)
    forest = Forest.objects.create(tenant=tenant, **{k: v for k, v in data.items() if k not in ("port",)}, port=636)
    renamed = form_data(corp_forest, bind_password="", name="renamed.example.test")
    assert admin_client.post(f"/t/{tenant.slug}/forests/{forest.pk}/", renamed).status_code == 302
    forest.refresh_from_db()
    assert forest.name == "renamed.example.test" and forest.bind_password == corp_forest.password
