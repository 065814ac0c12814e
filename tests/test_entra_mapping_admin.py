"""Role mappings as superusers edit them in the admin, and the ENTRA_* settings' own checks."""

import uuid

import pytest
from django.core.exceptions import ValidationError

from identityhub.tenants.models import Membership, RoleMapping

from .test_deploy import PRODUCTION_ENV, _manage

TID = str(uuid.uuid4())


def test_a_group_is_named_by_its_object_id_not_its_display_name(tenant):
    by_name = RoleMapping(tenant=tenant, entra_tenant_id=TID, kind="group", value="IdentityHub Admins", role="admin")
    with pytest.raises(ValidationError, match="object ID"):
        by_name.full_clean()
    group = uuid.uuid4()
    by_id = RoleMapping(tenant=tenant, entra_tenant_id=TID, kind="group", value=f" {str(group).upper()} ", role="admin")
    by_id.full_clean()
    assert by_id.value == str(group)  # tokens carry lower-case GUIDs
    RoleMapping(
        tenant=tenant, entra_tenant_id=TID, kind="app_role", value="IdentityHub.Admin", role="admin"
    ).full_clean()


def test_superusers_edit_mappings_in_the_tenant_admin_and_memberships_show_their_source(client, personas, tenant):
    client.force_login(personas["superuser"])
    page = client.get(f"/admin/tenants/tenant/{tenant.pk}/change/").content.decode()
    assert "Roles from Entra ID" in page and 'name="role_mappings-0-value"' in page
    # Membership source is not editable: what the admin gives by hand is local.
    assert 'name="memberships-0-source"' not in page
    assert set(Membership.objects.values_list("source", flat=True)) == {"local"}
    client.force_login(personas["admin"])  # not staff: no admin
    assert client.get(f"/admin/tenants/tenant/{tenant.pk}/change/").status_code == 302


@pytest.mark.parametrize(
    "env, message",
    [
        ({"ENTRA_CLIENT_ID": "c", "ENTRA_CLIENT_SECRET": "s"}, "needs ENTRA_TENANT_ID or ENTRA_ALLOWED_TENANTS"),
        ({"ENTRA_CLIENT_ID": "c", "ENTRA_TENANT_ID": TID}, "one of ENTRA_CLIENT_SECRET and ENTRA_CLIENT_CERTIFICATE"),
        (
            {"ENTRA_CLIENT_ID": "c", "ENTRA_CLIENT_SECRET": "s", "ENTRA_ALLOWED_TENANTS": f"{TID},contoso.com"},
            "given by ID (a GUID), not 'contoso.com'",
        ),
    ],
)
def test_incomplete_entra_settings_stop_the_start_with_the_reason(env, message):
    result = _manage("check", env={**PRODUCTION_ENV, **env})
    assert result.returncode != 0 and message in result.stderr


def test_complete_entra_settings_pass_the_deploy_check():
    env = {**PRODUCTION_ENV, "ENTRA_CLIENT_ID": str(uuid.uuid4()), "ENTRA_CLIENT_SECRET": "s", "ENTRA_TENANT_ID": TID}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env={**env, "LOCAL_LOGIN": "false"})
    assert result.returncode == 0, result.stderr
