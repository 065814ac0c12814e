"""Counts of a tenant's findings, computed once after each change instead of on every request.

The findings list (rule chips and the pager's total), the tenant overview and the rollout page all
count open findings grouped some way. At a million objects each such GROUP BY reads half a million
rows (≈200 ms), and the pages asked on every request, htmx reloads included (issue 18). Here each
grouping is computed once and kept in the cache under the tenant's *findings version*, which every
write to the tenant's findings replaces: saves (a model signal), a completed scan (scan_completed),
and the bulk updates of remediation and health pulls, which call `changed()`. The version is a
random token, set again after the write commits too, so that a count computed between the write
and its commit is not kept. A write that forgot to call `changed()` would show old counts for at
most TTL seconds.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable

from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction

TTL = 300  # seconds: the bound on a missed change, not what keeps counts fresh


def _version_key(tenant_id: int) -> str:
    return f"findings-version:{tenant_id}"


def changed(tenant_id: int) -> None:
    """The tenant's findings changed: counts computed before are not asked for any more."""
    key = _version_key(tenant_id)
    cache.set(key, uuid.uuid4().hex, None)
    transaction.on_commit(lambda: cache.set(key, uuid.uuid4().hex, None))


def connect() -> None:
    """Writes that go through the models: a saved finding, a completed scan, a removed forest."""
    from django.db.models.signals import post_delete, post_save

    from identityhub.tenants.models import Forest

    from .models import Finding
    from .signals import scan_completed, scan_reviewed

    post_save.connect(lambda instance, **kw: changed(instance.tenant_id), sender=Finding, weak=False)
    post_delete.connect(lambda instance, **kw: changed(instance.tenant_id), sender=Forest, weak=False)
    for signal in (scan_completed, scan_reviewed):
        signal.connect(lambda scan, **kw: changed(scan.tenant_id), weak=False)


def _version(tenant_id: int) -> str:
    key = _version_key(tenant_id)
    version = cache.get(key)
    if version is None:
        cache.add(key, uuid.uuid4().hex, None)
        version = cache.get(key) or ""
    return version


def key_of(tenant, version: str, name: str) -> str:
    """The cache key of the count `name` under the tenant's findings `version`. The tenant's creation
    time keeps a cache that outlives the database (tests, a restored backup) from answering for
    another tenant that got the same id."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    return f"findings-counts:{tenant.pk}:{tenant.created.timestamp()}:{version}:{digest}"


def cached(tenant, name: str, compute: Callable[[], object]):
    """compute() once per version of the tenant's findings; `name` says which count (and its filter).

    Without a shared cache (no REDIS_URL: `make run` on SQLite) a scan finished by the worker
    process could not tell the web process's memory that the counts changed: computed each time."""
    return cached_many(tenant, {name: compute})[name]


def cached_many(tenant, computes: dict[str, Callable[[], object]]) -> dict[str, object]:
    """cached() of several counts a page shows: one round trip to the cache for the version and one
    for all the values, instead of two per count (the rollout page shows half a dozen)."""
    if isinstance(caches["default"], LocMemCache):
        return {name: compute() for name, compute in computes.items()}
    version = _version(tenant.pk)
    keys = {name: key_of(tenant, version, name) for name in computes}
    found = cache.get_many(list(keys.values()))
    return {name: found[key] if key in found else _compute_once(key, computes[name]) for name, key in keys.items()}


# After a change, every request in flight before the first count is kept would run the same
# GROUP BY (≈200 ms of the database at a million objects): as many at once as there are workers
# (and threads) serving, each as slow as the database shared between them (a cache stampede).
# One request computes; the others wait for its result, at most WAIT seconds, then compute it
# themselves (the first one's worker died, or its query is slow): a bounded wait.
WAIT = 5.0
POLL = 0.02


def claim_of(key: str) -> str:
    return key + ":computing"


def _compute_once(key: str, compute: Callable[[], object]):
    claim = claim_of(key)
    if cache.add(claim, 1, int(WAIT) + 1):
        try:
            value = compute()
            cache.set(key, value, TTL)
            return value
        finally:
            cache.delete(claim)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        time.sleep(POLL)
        value = cache.get(key)
        if value is not None:
            return value
        if cache.get(claim) is None:  # done since the read above, or gave up (an error)
            value = cache.get(key)
            if value is not None:
                return value
            break
    value = compute()
    cache.set(key, value, TTL)
    return value


OPEN = "open:forest-rule-severity"


def open_counts(tenant) -> list[tuple[int, str, str, int]]:
    """The tenant's open findings as (forest id, rule, severity, n): one GROUP BY per change, from
    which the overview, the rollout page and the readiness score take their figures."""
    return cached(tenant, OPEN, lambda: count_open(tenant))


def count_open(tenant) -> list[tuple[int, str, str, int]]:
    """open_counts() counted now: for cached_many() with OPEN."""
    from django.db.models import Count

    from .models import Finding

    rows = Finding.objects.filter(tenant=tenant).open().order_by().values_list("forest", "rule", "severity")
    return list(rows.annotate(n=Count("id")).values_list("forest", "rule", "severity", "n"))


def open_by_severity(tenant, forest_id: int | None = None, rows=None) -> dict[str, int]:
    """By severity, from open_counts() (or its `rows`, when the caller has them already)."""
    out: dict[str, int] = {}
    for forest, _rule, severity, n in open_counts(tenant) if rows is None else rows:
        if forest_id is None or forest == forest_id:
            out[severity] = out.get(severity, 0) + n
    return out
