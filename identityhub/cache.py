"""The shared cache (Redis), with one redis client per connection pool instead of one per operation.

Django's RedisCacheClient makes a new redis.Redis for every cache operation, and each builds its table
of ~170 response callbacks: five or more times on every signed-in request of the findings list (the
session, the counts' version and values, the rows), ~0.3 ms of its CPU (issue 18). A redis client
holds no connection of its own (its pool does) and is safe to share, so one per pool serves them all.
"""

from django.core.cache.backends import redis


class _Client(redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}  # connection pool -> its redis client

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:
            client = self._clients[pool] = self._client(connection_pool=pool)
        return client


class RedisCache(redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _Client
