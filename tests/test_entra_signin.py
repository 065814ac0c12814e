"""Sign in with Microsoft against the OIDC stand-in: the real msal flow, real TLS, real JWKS checks."""

import time
import uuid

import pytest
from django.contrib.auth.models import User

from identityhub.accounts.models import EntraIdentity
from identityhub.accounts.views import SIGNED_IN_AT
from identityhub.tenants.models import Membership, Role

from .entra_support import HOME_TID, PARTNER_TID, STRANGER_TID, mapping, person, sign_in

pytestmark = pytest.mark.django_db


def signed_in_user(client):
    response = client.get("/")
    return response.wsgi_request.user if response.status_code == 200 else None


def test_first_sign_in_creates_the_user_by_oid_and_tid_and_later_ones_refresh_upn_and_name(client, idp):
    ada = person()
    answer = sign_in(client, idp, ada, next_url="/rollout/")
    assert answer.status_code == 302 and answer["Location"] == "/rollout/"
    link = EntraIdentity.objects.get()
    assert (str(link.object_id), str(link.tenant_id), link.upn) == (ada.oid, HOME_TID, "ada@contoso.com")
    assert signed_in_user(client) == link.user
    assert not link.user.has_usable_password()

    client.logout()
    ada.upn, ada.name = "ada.byron@contoso.com", "Ada Byron"
    sign_in(client, idp, ada)
    link.refresh_from_db()
    assert EntraIdentity.objects.count() == 1 and User.objects.count() == 1
    assert (link.upn, link.display_name) == ("ada.byron@contoso.com", "Ada Byron")
    assert link.user.get_full_name() == "Ada Byron"

    # Someone new who inherits the old UPN is another person: never matched by UPN.
    client.logout()
    sign_in(client, idp, person(upn="ada@contoso.com", name="Another Ada"))
    assert EntraIdentity.objects.count() == 2
    assert signed_in_user(client) != link.user


def test_a_partner_tenant_from_the_allowed_list_signs_in(client, idp):
    sign_in(client, idp, person(upn="pat@partner.example", tid=PARTNER_TID))
    assert str(EntraIdentity.objects.get().tenant_id) == PARTNER_TID


def _expired():
    now = int(time.time())
    return {"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}


REFUSALS = {
    "nonce": ({"tamper": {"nonce": "not-the-one-we-sent"}}, "does not belong to this sign-in"),
    "audience": ({"tamper": {"aud": str(uuid.uuid4())}}, "issued for another application"),
    "issuer": ({"tamper": {"iss": f"https://evil.example/{HOME_TID}/v2.0"}}, "issued by https://evil.example"),
    "expired": ({"tamper": _expired()}, "has expired"),
    "signature": ({"sign_with": "rogue"}, "not signed by a key"),
    "state": ({"forge_state": True}, "not started in this browser"),
}


@pytest.mark.parametrize("case", [*REFUSALS, "tenant"])
def test_each_bad_answer_is_refused_with_a_clear_page_and_nobody_signed_in(client, idp, case):
    user = person()
    if case == "tenant":
        user, expected = person(tid=STRANGER_TID), f"tenant {STRANGER_TID} may not sign in"
    else:
        faults, expected = REFUSALS[case]
        if case == "expired":
            faults = {"tamper": _expired()}  # fresh times for this run
        for name, value in faults.items():
            setattr(idp, name, value)
    answer = sign_in(client, idp, user)
    body = answer.content.decode()
    assert answer.status_code == 403, body
    assert "Sign-in refused" in body and expected in body, body
    assert f'data-reason="{case}"' in body
    assert signed_in_user(client) is None
    assert not User.objects.exists() and not EntraIdentity.objects.exists()


def test_an_answer_replayed_or_never_started_here_is_refused(client, idp):
    idp.next_user = person()
    first = sign_in(client, idp, person())
    assert first.status_code == 302
    replay = client.get("/auth/entra/callback/?code=x&state=y")
    assert replay.status_code == 403 and b"not started in this browser" in replay.content


def test_group_mapping_is_applied_then_revoked_at_the_next_sign_in_local_roles_stay(client, idp, tenant, other_tenant):
    admins, readers = str(uuid.uuid4()), str(uuid.uuid4())
    mapping(tenant, admins, Role.ADMIN)
    mapping(other_tenant, readers, Role.AUDITOR)
    ada = person(groups=[admins, readers])
    sign_in(client, idp, ada)
    user = signed_in_user(client)
    roles = {(m.tenant.slug, m.role, m.source) for m in user.memberships.all()}
    assert roles == {("acme", "admin", "mapped"), ("globex", "auditor", "mapped")}
    assert client.get("/t/acme/forests/new/").status_code == 200  # admin may edit

    # A lead of Globex by hand: the mapping never overrides or removes it.
    Membership.objects.filter(user=user, tenant=other_tenant).update(role=Role.LEAD, source="local")
    client.logout()
    ada.groups = [readers]  # removed from the admins group in Entra
    sign_in(client, idp, ada)
    roles = {(m.tenant.slug, m.role, m.source) for m in user.memberships.all()}
    assert roles == {("globex", "lead", "local")}
    assert client.get("/t/acme/").status_code == 404


def test_app_roles_map_too_the_strongest_role_wins_and_another_entra_tenant_s_mapping_does_not_apply(
    client, idp, tenant, other_tenant
):
    group = str(uuid.uuid4())
    mapping(tenant, "IdentityHub.Auditor", Role.AUDITOR, kind="app_role")
    mapping(tenant, group, Role.ADMIN)
    mapping(other_tenant, "IdentityHub.Auditor", Role.AUDITOR, kind="app_role", entra_tenant_id=PARTNER_TID)
    sign_in(client, idp, person(groups=[group], roles=["IdentityHub.Auditor"]))
    memberships = list(signed_in_user(client).memberships.values_list("tenant__slug", "role"))
    assert memberships == [("acme", "admin")]


def test_groups_overage_reads_the_groups_from_graph(client, idp, tenant):
    idp.group_limit = 3
    groups = [str(uuid.uuid4()) for _ in range(5)]
    mapping(tenant, groups[4], Role.LEAD)
    ada = person(groups=groups)
    sign_in(client, idp, ada)
    assert idp.member_objects_calls == [ada.oid]
    assert list(signed_in_user(client).memberships.values_list("role", "source")) == [("lead", "mapped")]


def test_a_sign_in_older_than_the_max_age_must_sign_in_again(client, idp, settings, tenant):
    group = str(uuid.uuid4())
    mapping(tenant, group, Role.AUDITOR)
    sign_in(client, idp, person(groups=[group]))
    assert client.get("/t/acme/").status_code == 200
    settings.ENTRA_SESSION_MAX_AGE = 600
    session = client.session
    session[SIGNED_IN_AT] = time.time() - 601
    session.save()
    answer = client.get("/t/acme/")
    assert answer.status_code == 302 and answer["Location"].startswith("/login/")
    assert signed_in_user(client) is None


def test_sign_out_ends_the_session_and_offers_entra_s_end_session_endpoint(client, idp):
    sign_in(client, idp, person())
    answer = client.post("/logout/")
    body = answer.content.decode()
    assert answer.status_code == 200
    assert f"{idp.url}/organizations/oauth2/v2.0/logout?post_logout_redirect_uri=" in body
    assert signed_in_user(client) is None


def test_login_page_shows_the_microsoft_button_beside_local_login_by_default(client, idp):
    body = client.get("/login/").content.decode()
    assert 'id="sign-in-microsoft"' in body and 'id="id_password"' in body


def test_local_login_false_leaves_only_the_button_and_superusers_break_glass(client, idp, settings, personas):
    settings.LOCAL_LOGIN = False
    body = client.get("/login/").content.decode()
    assert 'id="sign-in-microsoft"' in body and 'id="id_password"' not in body
    refused = client.post("/login/", {"username": "admin", "password": "pw-admin"})
    assert refused.status_code == 200 and b"break-glass" in refused.content
    assert signed_in_user(client) is None
    assert client.post("/login/", {"username": "root", "password": "pw-root"}).status_code == 302
    assert signed_in_user(client) == personas["superuser"]
    client.logout()
    # The admin's own login page is the documented break-glass door: the same backends guard it.
    personas["admin"].is_staff = True
    personas["admin"].save()
    assert client.post("/admin/login/", {"username": "admin", "password": "pw-admin"}).status_code == 200
    assert signed_in_user(client) is None
    assert client.post("/admin/login/", {"username": "root", "password": "pw-root"}).status_code == 302
    assert signed_in_user(client) == personas["superuser"]


def test_local_login_false_ends_existing_password_sessions_of_non_superusers(client, settings, personas):
    client.force_login(personas["admin"])
    settings.LOCAL_LOGIN = False
    assert signed_in_user(client) is None


def test_without_entra_settings_the_button_is_absent_and_its_urls_404(client, db):
    assert b"sign-in-microsoft" not in client.get("/login/").content
    assert client.get("/auth/entra/login/").status_code == 404
    assert client.get("/auth/entra/callback/").status_code == 404


def test_a_client_certificate_works_instead_of_a_secret_and_a_wrong_secret_is_named(client, idp, settings):
    settings.ENTRA_CLIENT_SECRET = "not-the-secret"
    refused = sign_in(client, idp, person())
    assert refused.status_code == 403 and b"Invalid client secret" in refused.content
    settings.ENTRA_CLIENT_SECRET = ""
    settings.ENTRA_CLIENT_CERTIFICATE, settings.ENTRA_CLIENT_CERTIFICATE_THUMBPRINT = idp.use_certificate("ECDSA")
    unusable = sign_in(client, idp, person())
    assert unusable.status_code == 502 and b"needs an RSA private key" in unusable.content
    settings.ENTRA_CLIENT_CERTIFICATE, settings.ENTRA_CLIENT_CERTIFICATE_THUMBPRINT = idp.use_certificate()
    assert sign_in(client, idp, person()).status_code == 302
    assert signed_in_user(client).entra_identity.upn == "ada@contoso.com"


def test_a_sign_in_cancelled_at_microsoft_says_so(client, idp):
    idp.deny = True
    answer = sign_in(client, idp, person())
    assert answer.status_code == 403 and b"did not sign you in: access_denied" in answer.content
    assert signed_in_user(client) is None


def test_an_unreachable_entra_gives_a_page_naming_the_host_not_a_500(client, idp, settings):
    settings.ENTRA_AUTHORITY_HOST = "127.0.0.1:9"  # discard port: nothing listens
    answer = client.get("/auth/entra/login/")
    assert answer.status_code == 502 and b"Cannot" in answer.content and b"127.0.0.1:9" in answer.content


def test_overage_whose_groups_graph_will_not_give_is_refused_not_signed_in_without_roles(client, idp, tenant):
    idp.group_limit, idp.graph_denies = 1, True
    answer = sign_in(client, idp, person(groups=[str(uuid.uuid4()), str(uuid.uuid4())]))
    assert answer.status_code == 403 and b"more groups than fit in a token" in answer.content
    assert signed_in_user(client) is None


def test_a_user_disabled_in_identityhub_is_refused(client, idp):
    ada = person()
    sign_in(client, idp, ada)
    User.objects.update(is_active=False)
    client.logout()
    answer = sign_in(client, idp, ada)
    assert answer.status_code == 403 and b"disabled" in answer.content
    assert signed_in_user(client) is None


def test_one_tenant_configured_uses_its_own_endpoints_and_refuses_the_others(client, idp, settings):
    settings.ENTRA_ALLOWED_TENANTS, settings.ENTRA_TENANT_ID = [], HOME_TID
    assert sign_in(client, idp, person()).status_code == 302
    assert signed_in_user(client) is not None
    client.logout()
    answer = sign_in(client, idp, person(upn="pat@partner.example", tid=PARTNER_TID))
    assert answer.status_code == 403 and f"tenant {PARTNER_TID} may not sign in".encode() in answer.content


def test_a_key_rollover_is_followed_and_a_made_up_key_id_is_refused(client, idp, monkeypatch):
    import identityhub.lib.entra as entra

    monkeypatch.setattr(entra, "JWKS_REFRESH_COOLDOWN", 0)  # the default waits 30 s between re-reads
    assert sign_in(client, idp, person()).status_code == 302  # the key set is now cached
    client.logout()
    idp.rotate_key()
    assert sign_in(client, idp, person()).status_code == 302
    client.logout()
    idp.header_kid = "made-up"
    answer = sign_in(client, idp, person())
    assert answer.status_code == 403 and b"not signed by a key" in answer.content
