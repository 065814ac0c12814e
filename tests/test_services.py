"""The real services the suite runs on: PostgreSQL and Redis when configured (always in CI)."""

import os

import pytest
from django.core.cache import cache, caches
from django.db import connection

from .services import require


@pytest.mark.django_db
def test_database_is_postgresql_when_configured():
    require(os.environ.get("DATABASE_URL", "").startswith("postgres"), "DATABASE_URL does not name PostgreSQL")
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        assert "PostgreSQL" in cursor.fetchone()[0]


def test_cache_round_trips_through_redis():
    require(bool(os.environ.get("REDIS_URL")), "REDIS_URL is not set")
    assert caches["default"].__class__.__name__ == "RedisCache"
    cache.set("identityhub-test-key", {"answer": 42}, 30)
    assert cache.get("identityhub-test-key") == {"answer": 42}
    cache.delete("identityhub-test-key")


def test_the_cache_makes_one_redis_client_not_one_per_operation():
    """Django's Redis cache builds a redis client (and its ~170 response callbacks) per operation."""
    require(bool(os.environ.get("REDIS_URL")), "REDIS_URL is not set")
    backend = caches["default"]._cache
    cache.set("identityhub-test-key", 1, 30)
    first = backend.get_client("identityhub-test-key")
    assert cache.get("identityhub-test-key") == 1
    assert backend.get_client("identityhub-test-key") is first
    assert backend.get_client("identityhub-test-key", write=True) is first  # one server: one pool
    cache.delete("identityhub-test-key")
