"""Issue 18: after a change of a tenant's findings, the requests that arrive together compute each
count once between them (one GROUP BY of half a million rows at a million objects), not once each;
a claimant that fails or dies costs the others a bounded wait, never a wrong or missing count."""

import threading
import time

from identityhub.scans import counts


def run_together(n: int, call) -> list:
    """`n` threads that call `call()` at the same moment; their results (or exceptions)."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except Exception as error:  # noqa: BLE001 - the test reads it
            results[i] = error

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def slow_count(calls: list, fail: bool = False):
    def compute():
        calls.append(threading.get_ident())
        time.sleep(0.3)  # a GROUP BY that takes a while: the others arrive meanwhile
        if fail:
            raise RuntimeError("the database went away")
        return [("rule", "blocking", 42)]

    return compute


def test_requests_arriving_together_after_a_change_count_once(tenant, shared_cache):
    counts.changed(tenant.pk)
    calls: list = []
    compute = slow_count(calls)
    results = run_together(8, lambda: counts.cached(tenant, "rule-chips:[]", compute))
    assert results == [[("rule", "blocking", 42)]] * 8
    assert len(calls) == 1, f"{len(calls)} requests ran the same count"


def test_a_claimant_that_fails_leaves_the_others_to_count(tenant, shared_cache):
    counts.changed(tenant.pk)
    calls: list = []
    failing, working = slow_count(calls, fail=True), slow_count(calls)
    first = threading.Event()

    def call():
        # The first caller's count fails; the ones that waited for it count for themselves.
        if not first.is_set():
            first.set()
            return counts.cached(tenant, "rule-chips:[]", failing)
        time.sleep(0.05)
        return counts.cached(tenant, "rule-chips:[]", working)

    results = run_together(4, call)
    assert sum(isinstance(r, RuntimeError) for r in results) == 1
    assert [r for r in results if not isinstance(r, RuntimeError)] == [[("rule", "blocking", 42)]] * 3


def test_a_claim_left_by_a_dead_worker_costs_a_bounded_wait(tenant, shared_cache, monkeypatch):
    from django.core.cache import cache

    monkeypatch.setattr(counts, "WAIT", 0.5)
    counts.changed(tenant.pk)
    name = "rule-chips:[]"
    # The worker that claimed this count was killed before it stored a result or let go of its claim.
    key = counts.key_of(tenant, counts._version(tenant.pk), name)
    cache.add(counts.claim_of(key), 1, 60)
    calls: list = []
    started = time.monotonic()
    assert counts.cached(tenant, name, slow_count(calls)) == [("rule", "blocking", 42)]
    waited = time.monotonic() - started
    assert len(calls) == 1 and 0.5 <= waited < 3, waited
    assert cache.get(key) == [("rule", "blocking", 42)]  # kept for the requests after it
