"""Every URL of the project, as every kind of user: login redirect, 404, 403 or allowed.

URLs are found by walking the URL resolver, so a new URL joins the matrix by itself. A view
declares the permission it needs through `tenant_view(perm)`; a URL whose view declares none must
be listed in PUBLIC or AUTHENTICATED below, or this test fails.
"""

import re
import uuid

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from identityhub.accounts.signin import user_for
from identityhub.health.models import ProvisioningError, SyncSnapshot
from identityhub.lib.entra import Identity
from identityhub.remediation.models import ApplyRun, Change, Waiver
from identityhub.reports.models import ExportJob
from identityhub.rollout.models import Webhook
from identityhub.scans.models import DirectoryObject, Finding, ScanRun
from identityhub.tenants.models import Role, RoleMapping

# URL name -> how the view is reachable without a tenant permission.
PUBLIC = {"login", "logout", "entra-login", "entra-callback"}  # the Entra ones: tests/test_entra_signin.py
AUTHENTICATED = {"tenant-list", "rollout-portfolio"}  # any logged-in user; shows only their own tenants
# The REST API (reports/api.py, every route under api/): its views carry tenant_permission like the
# pages; anonymous calls answer 401 (token authentication) instead of a login redirect.
API_PREFIX = "api/"
AUTHENTICATED |= {"api-tenant-list", "api-schema", "api-docs"}

# Which role may do what (mirrors tenants.models.PERMISSIONS, written out so a change is noticed).
ALLOWED = {
    "view": {"lead", "auditor", "admin", "superuser"},
    "edit": {"admin", "superuser"},
    "export": {"lead", "auditor", "admin", "superuser"},
    "progress": {"lead", "superuser"},
    "webhooks": {"lead", "admin", "superuser"},
}


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            if p.namespace == "admin":
                continue  # Django's admin guards itself (staff only)
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def project_urls():
    return [(route, p) for route, p in _walk(get_resolver().url_patterns) if p.name]


def _kwargs_for(route, objects):
    """Fill a route's converters from the objects of tenant Acme."""
    values = {}
    for name in re.findall(r"<(?:\w+:)?(\w+)>", route):
        if name not in objects:
            pytest.fail(f"URL {route}: no test object for <{name}>; add one to the matrix fixture")
        values[name] = objects[name]
    return values


def _request(client, url):
    # POST-only views (test connection, apply, ...) answer 405 to GET: ask them with POST.
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url, {})
    return response


@pytest.fixture
def url_objects(forest, settings, tmp_path):
    """One object of tenant Acme for every kind of URL parameter."""
    scan = ScanRun.objects.create(tenant=forest.tenant, forest=forest, status="completed")
    obj = DirectoryObject.objects.create(
        scan=scan, forest=forest, guid=uuid.uuid4(), dn="CN=x,DC=corp", object_class="user", ou="DC=corp"
    )
    finding = Finding.objects.create(
        tenant=forest.tenant,
        forest=forest,
        key="k",
        guid=obj.guid,
        dn=obj.dn,
        object_class="user",
        ou="DC=corp",
        rule="upn.character",
        severity="blocking",
        error="character",
        attribute="userPrincipalName",
        value="a b@x.com",
        first_seen=timezone.now(),
        last_seen=timezone.now(),
    )
    user = User.objects.create_user("matrix-requester")
    change = Change.objects.create(
        tenant=forest.tenant,
        forest=forest,
        finding=finding,
        guid=obj.guid,
        dn=obj.dn,
        attribute="userPrincipalName",
        old_values=["a b@x.com"],
        new_values=["ab@x.com"],
        action="edit",
        requested_by=user,
        result="awaiting",
    )
    run = ApplyRun.objects.create(tenant=forest.tenant, requested_by=user, status="completed")
    webhook = Webhook.objects.create(tenant=forest.tenant, url="http://127.0.0.1:9/", events=["step.completed"])
    settings.MEDIA_ROOT = tmp_path / "media"
    waiver = Waiver.objects.create(
        tenant=forest.tenant, finding=finding, justification="j", expires_on=timezone.localdate(), created_by=user
    )
    snapshot = SyncSnapshot.objects.create(tenant=forest.tenant, taken=timezone.now(), sync_enabled=True)
    error = ProvisioningError.objects.create(snapshot=snapshot, object_id="o1", object_type="user")
    job = ExportJob.objects.create(tenant=forest.tenant, kind="workbook", created_by=user, status="completed")
    job.file.save("findings.xlsx", ContentFile(b"xlsx"), save=False)
    job.pdf.save("pack.pdf", ContentFile(b"%PDF"), save=True)
    return {
        "slug": forest.tenant.slug,
        "pk": forest.pk,
        "scan_id": scan.pk,
        "guid": obj.guid,
        "finding_id": finding.pk,
        "change_id": change.pk,
        "run_id": run.pk,
        "forest_id": forest.pk,
        "object_id": obj.pk,
        "waiver_id": waiver.pk,
        "snapshot_id": snapshot.pk,
        "error_id": error.pk,
        "job_id": job.pk,
        "code": "monitoring",
        "kind": "ldf",
        "webhook_id": webhook.pk,
    }


def test_every_url_is_classified():
    for route, pattern in project_urls():
        perm = getattr(pattern.callback, "tenant_permission", None)
        assert perm or pattern.name in PUBLIC | AUTHENTICATED, (
            f"{route} ({pattern.name}) declares no permission: wrap it in tenant_view() or list it here"
        )
        if perm:
            assert perm in ALLOWED, f"{route}: unknown permission {perm}"


# Users whose role in Acme comes from a mapping applied at sign-in with Entra ID (no local membership).
MAPPED = {"mapped-lead": Role.LEAD, "mapped-auditor": Role.AUDITOR, "mapped-admin": Role.ADMIN}
ENTRA_TID = str(uuid.uuid4())
ENTRA_BACKEND = "identityhub.accounts.backends.EntraBackend"


@pytest.fixture
def mapped_personas(tenant):
    """Signed in through the sign-in code (accounts.signin.user_for): a group for two, an app role for one."""
    lead_group, admin_group = str(uuid.uuid4()), str(uuid.uuid4())
    RoleMapping.objects.create(tenant=tenant, entra_tenant_id=ENTRA_TID, kind="group", value=lead_group, role="lead")
    RoleMapping.objects.create(tenant=tenant, entra_tenant_id=ENTRA_TID, kind="group", value=admin_group, role="admin")
    RoleMapping.objects.create(
        tenant=tenant, entra_tenant_id=ENTRA_TID, kind="app_role", value="IdentityHub.Auditor", role="auditor"
    )
    claims = {
        "mapped-lead": {"groups": [lead_group]},
        "mapped-auditor": {"roles": ["IdentityHub.Auditor"]},
        "mapped-admin": {"groups": [admin_group]},
    }
    users = {}
    for who, extra in claims.items():
        identity = Identity(oid=str(uuid.uuid4()), tid=ENTRA_TID, upn=f"{who}@contoso.com", name=who, **extra)
        users[who] = user_for(identity)
        membership = users[who].memberships.get()
        assert (membership.tenant, membership.role, membership.source) == (tenant, MAPPED[who], "mapped")
    return users


@pytest.mark.parametrize("who", ["anonymous", "outsider", "lead", "auditor", "admin", "superuser", *MAPPED])
def test_url_role_matrix(client, personas, mapped_personas, url_objects, who):
    if who in MAPPED:
        client.force_login(mapped_personas[who], backend=ENTRA_BACKEND)
        who = MAPPED[who]  # the same answers as the local persona of that role
    elif who != "anonymous":
        client.force_login(personas[who])
    checked = 0
    for route, pattern in project_urls():
        if pattern.name in PUBLIC:
            continue
        url = "/" + route
        for name, value in _kwargs_for(route, url_objects).items():
            url = re.sub(rf"<(?:\w+:)?{name}>", str(value), url)
        response = _request(client, url)
        status = response.status_code
        perm = getattr(pattern.callback, "tenant_permission", None)
        where = f"{who} {url} ({pattern.name}, needs {perm or 'login'}) -> {status}"
        if who == "anonymous" and route.startswith(API_PREFIX):
            assert status == 401, where
        elif who == "anonymous":
            assert status == 302 and "/login/" in response["Location"], where
        elif perm is None:
            assert status == 200, where
        elif who == "outsider":
            assert status == 404, where
        elif who in ALLOWED[perm]:
            # Allowed: anything but a refusal (an empty POST may well be a 400 "bad input").
            assert status not in (401, 403, 404) and status < 500, where
        else:
            assert status == 403, where
        checked += 1
    assert checked >= 5


def test_outsider_sees_only_own_tenants(client, personas):
    client.force_login(personas["outsider"])
    body = client.get("/").content.decode()
    assert "Globex" in body and "Acme" not in body


@pytest.mark.parametrize("who", ["anonymous", "outsider", "lead", "auditor", "admin", "superuser"])
def test_only_editors_decide_on_a_held_scan(client, personas, forest, who):
    # The matrix above asks these URLs of a completed scan; here of one that waits for a decision.
    names = {"scan-confirm", "scan-reject"}
    assert {p.callback.tenant_permission for _, p in project_urls() if p.name in names} == {"edit"}
    if who != "anonymous":
        client.force_login(personas[who])
    for name in sorted(names):
        held = ScanRun.objects.create(tenant=forest.tenant, forest=forest, status="held", objects_before=5)
        response = client.post(f"/t/{forest.tenant.slug}/scans/{held.pk}/{name.removeprefix('scan-')}/")
        held.refresh_from_db()
        if who in ALLOWED["edit"]:
            assert response.status_code == 302 and held.status != "held", (who, name)
        else:
            expected = {"anonymous": 302, "outsider": 404}.get(who, 403)
            assert response.status_code == expected and held.status == "held", (who, name)
