"""Shared fixtures: the personas of the URL x role matrix, and the real services the tests use."""

import pytest

from identityhub.tenants.models import Forest, Membership, Role, Tenant

from .services import require

# The directory lab (Samba AD DCs, slapd) and the browser are plugins of their own.
pytest_plugins = [
    "tests.browser",
    "tests.lab.fixtures",
    "tests.remediation_support",
    "tests.entra_support",
    "tests.journey_support",
    "tests.health_support",
]

__all__ = ["require"]


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    # PBKDF2 costs ~0.3 s per user; the matrix creates dozens of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def shared_cache(settings):
    """Counts and rows are kept only in a shared cache (Redis, as in production and CI); with the
    LocMemCache of a bare `make run` they are computed on every view, so a test of what a warm page
    does not recompute needs REDIS_URL."""
    require(bool(settings.REDIS_URL), "REDIS_URL is not set: counts are kept only in a shared cache")


@pytest.fixture
def tenant(db):
    return Tenant.objects.create(name="Acme", slug="acme", verified_domains=["acme.com"])


@pytest.fixture
def other_tenant(db):
    return Tenant.objects.create(name="Globex", slug="globex")


@pytest.fixture
def forest(tenant):
    return Forest.objects.create(
        tenant=tenant,
        name="corp.acme.example",
        servers="127.0.0.11",
        port=389,
        base_dns="DC=corp,DC=acme,DC=example",
        bind_user="svc-idhub@corp.acme.example",
        bind_password="S3cret-bind-pw!",
    )


def _member(django_user_model, username, tenant, role):
    user = django_user_model.objects.create_user(username, password="pw-" + username)
    if tenant is not None:
        Membership.objects.create(user=user, tenant=tenant, role=role)
    return user


@pytest.fixture
def personas(db, django_user_model, tenant, other_tenant):
    """Users of tenant Acme in each role, plus an admin of another tenant and a superuser."""
    return {
        "lead": _member(django_user_model, "lead", tenant, Role.LEAD),
        "auditor": _member(django_user_model, "auditor", tenant, Role.AUDITOR),
        "admin": _member(django_user_model, "admin", tenant, Role.ADMIN),
        "outsider": _member(django_user_model, "outsider", other_tenant, Role.ADMIN),
        "superuser": django_user_model.objects.create_superuser("root", password="pw-root"),
    }
