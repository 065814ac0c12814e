"""Forest create/edit: validation, encryption at rest, and the password never coming back."""

from django.db import connection

from identityhub.tenants.models import Forest

FORM = {
    "name": "fabrikam.example",
    "servers": "127.0.0.12\n127.0.0.13",
    "port": "636",
    "base_dns": "DC=fabrikam,DC=example",
    "bind_user": "svc@fabrikam.example",
    "bind_password": "Very-Secret-9",
    "scan_schedule": "daily",
}


def test_it_creates_a_forest_with_an_encrypted_password(client, personas, tenant):
    client.force_login(personas["admin"])
    response = client.post(f"/t/{tenant.slug}/forests/new/", FORM)
    assert response.status_code == 302
    forest = Forest.objects.get(name="fabrikam.example")
    assert forest.server_list == ["127.0.0.12", "127.0.0.13"]
    assert forest.bind_password == "Very-Secret-9"
    with connection.cursor() as cursor:
        cursor.execute("SELECT bind_password FROM tenants_forest WHERE id = %s", [forest.pk])
        stored = cursor.fetchone()[0]
    assert "Very-Secret-9" not in stored and stored.startswith("gAAAA")  # a Fernet token


def test_it_never_renders_the_stored_password(client, personas, forest):
    client.force_login(personas["admin"])
    body = client.get(f"/t/{forest.tenant.slug}/forests/{forest.pk}/").content.decode()
    assert "S3cret-bind-pw!" not in body
    assert "A password is stored" in body


def test_it_keeps_the_stored_password_when_left_blank(client, personas, forest):
    client.force_login(personas["admin"])
    # Same servers, port and TLS: a schedule or scope change needs no password.
    data = dict(FORM, name=forest.name, servers=forest.servers, port=str(forest.port), bind_password="")
    response = client.post(f"/t/{forest.tenant.slug}/forests/{forest.pk}/", data)
    assert response.status_code == 302
    forest.refresh_from_db()
    assert forest.bind_password == "S3cret-bind-pw!"
    assert forest.scan_schedule == "daily"
    # Another port: the stored password is not sent there unless typed again.
    response = client.post(f"/t/{forest.tenant.slug}/forests/{forest.pk}/", dict(data, port="636"))
    assert response.status_code == 200 and "type the bind password again" in response.content.decode()
    forest.refresh_from_db()
    assert forest.port == 389


def test_it_requires_a_password_for_a_new_forest(client, personas, tenant):
    client.force_login(personas["admin"])
    response = client.post(f"/t/{tenant.slug}/forests/new/", dict(FORM, bind_password=""))
    assert response.status_code == 200
    assert "The bind password is required." in response.content.decode()
    assert not Forest.objects.exists()


def test_it_rejects_bad_dns_filters_and_certificates(client, personas, tenant):
    client.force_login(personas["admin"])
    data = dict(FORM, base_dns="not a dn", extra_filter="department=Sales", ca_certificate="junk")
    body = client.post(f"/t/{tenant.slug}/forests/new/", data).content.decode()
    assert "is not a valid DN" in body
    assert "An LDAP filter in parentheses" in body
    assert "Not a PEM certificate" in body
    assert not Forest.objects.exists()


def test_a_lead_cannot_change_a_forest(client, personas, forest):
    client.force_login(personas["lead"])
    response = client.post(f"/t/{forest.tenant.slug}/forests/{forest.pk}/", dict(FORM, name="x"))
    assert response.status_code == 403
    forest.refresh_from_db()
    assert forest.name == "corp.acme.example"


def test_another_tenants_forest_is_not_found(client, personas, forest, other_tenant):
    client.force_login(personas["outsider"])
    assert client.get(f"/t/{forest.tenant.slug}/forests/{forest.pk}/").status_code == 404
    # Nor through the outsider's own tenant slug: the forest is looked up inside the tenant.
    assert client.get(f"/t/{other_tenant.slug}/forests/{forest.pk}/").status_code == 404


def test_test_connection_reports_an_invalid_form(client, personas, tenant):
    client.force_login(personas["admin"])
    response = client.post(f"/t/{tenant.slug}/forests/new/test/", dict(FORM, servers=""), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Fix the form first" in body and "<html" not in body
