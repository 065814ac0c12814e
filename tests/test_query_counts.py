"""Regression guards of issue 18: the SQL queries a page runs do not grow with the number of findings.

Each page is requested at two sizes of the same forest (a scan of SMALL objects, then a rescan of
LARGE, with many more findings, OUs and rules' rows) with an empty cache both times (the cold
request, which computes the counts). The larger forest may not take more queries than the smaller
one did, and no page more than its ceiling: an N+1 (a query per finding, per OU, per forest) or a
per-row count shows up as a difference.
"""

import uuid

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from identityhub.lib.entry import Entry
from identityhub.scans import pipeline
from identityhub.scans.models import Finding, ScanRun

pytestmark = pytest.mark.django_db(transaction=True)

SMALL, LARGE = 12, 120  # objects; each has three findings (a space in the UPN, .local, a bad character)

# Ceilings: what each page needs today with a few queries' room. Not a timing: a count.
PAGES = {
    "tenant overview": ("/t/acme/", 20),
    "findings": ("/t/acme/findings/", 16),
    "findings page 2": ("/t/acme/findings/?page=2&per_page=25", 16),
    "findings by rule": ("/t/acme/findings/?rule=upn.topleveldomain", 16),
    "findings search": ("/t/acme/findings/?q=smith", 16),
    "rollout": ("/t/acme/rollout/", 20),
    "portfolio": ("/rollout/", 8),
    "health": ("/t/acme/health/", 25),
    "changes": ("/t/acme/changes/", 16),
    "API findings": ("/api/tenants/acme/findings/", 12),
}


def entries(count):
    guids = [uuid.UUID(int=i + 1) for i in range(count)]  # the same objects in both scans, more in the second
    for i, guid in enumerate(guids):
        name = f"Smith{i}"
        yield Entry(
            dn=f"CN={name},OU=Team{i % 7},OU=Sales,DC=corp,DC=acme,DC=com",
            attributes={
                "objectclass": ["top", "user"],
                "objectguid": [guid.bytes_le],
                "cn": [name],
                "samaccountname": [name.lower()],
                "displayname": [name],
                "userprincipalname": [f"{name.lower()} x@corp{i}.local"],
                "mail": [f"{name.lower()}(at)acme.com"],
            },
        )


def scan(forest, count):
    run = ScanRun.objects.create(tenant=forest.tenant, forest=forest)
    batch = list(entries(count))
    return pipeline.execute(run.pk, lambda s, prepare: map(prepare, batch))


def queries_of(client, path) -> int:
    cache.clear()  # the cold request: counts computed, not remembered
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return len(captured.captured_queries)


def object_page(forest):
    finding = Finding.objects.filter(forest=forest).order_by("pk").first()
    return finding.get_absolute_url()


def test_page_queries_do_not_grow_with_the_findings(client, personas, forest, django_assert_max_num_queries):
    client.force_login(personas["lead"])  # may edit: the rows' action buttons are rendered too
    scan(forest, SMALL)
    small_findings = Finding.objects.filter(forest=forest).open().count()
    pages = {**PAGES, "object page": (object_page(forest), 16)}
    small = {name: queries_of(client, path) for name, (path, _ceiling) in pages.items()}

    scan(forest, LARGE)
    assert Finding.objects.filter(forest=forest).open().count() >= 5 * small_findings
    for name, (path, ceiling) in pages.items():
        assert small[name] <= ceiling, f"{name}: {small[name]} queries, ceiling {ceiling}"
        cache.clear()
        with django_assert_max_num_queries(small[name], info=f"{name} ({path}) at {LARGE} objects"):
            assert client.get(path).status_code == 200, name


@pytest.mark.usefixtures("shared_cache")
def test_a_warm_findings_list_does_not_count_again(client, personas, forest):
    """The chips' GROUP BY and the pager's COUNT run once per change of the findings, not per request."""
    client.force_login(personas["lead"])
    scan(forest, SMALL)
    cold = queries_of(client, "/t/acme/findings/")
    with CaptureQueriesContext(connection) as captured:
        client.get("/t/acme/findings/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="findings")
    sql = [q["sql"] for q in captured.captured_queries]
    counting = [s for s in sql if "scans_finding" in s and ("GROUP BY" in s or "COUNT(" in s.upper())]
    assert not counting, counting
    assert len(sql) < cold


def test_counts_follow_a_change_at_once(client, personas, forest):
    """An accepted finding leaves the open counts on the next request (the version moved)."""
    from identityhub.remediation import actions

    client.force_login(personas["lead"])
    scan(forest, SMALL)
    rule = "upn.topleveldomain"
    url = f"/t/acme/findings/?rule={rule}"
    before = client.get(url).context["table"].paginator.count
    assert before == Finding.objects.filter(forest=forest, rule=rule).open().count() > 0
    actions.accept(Finding.objects.filter(forest=forest, rule=rule).open().first(), personas["lead"])
    assert client.get(url).context["table"].paginator.count == before - 1
    chips = {row["rule"]: row["n"] for row in client.get("/t/acme/findings/").context["rule_counts"]}
    assert chips[rule] == before - 1


def test_without_a_shared_cache_counts_are_computed_each_time(client, personas, forest, settings):
    """`make run` has no Redis: the worker that finishes a scan cannot reach the web process's memory,
    so a per-process cache would show old counts; there the counts are not cached."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    client.force_login(personas["lead"])
    scan(forest, SMALL)
    url = "/t/acme/findings/?rule=upn.topleveldomain"
    before = client.get(url).context["table"].paginator.count
    Finding.objects.filter(forest=forest, rule="upn.topleveldomain").update(status=Finding.Status.ACCEPTED)
    assert before > 0 and client.get(url).context["table"].paginator.count == 0


def test_counts_follow_a_fix_re_read_from_ad_at_once(client, personas, forest):
    """A write re-reads its object and merges its findings (remediation.recheck): the counts follow."""
    from identityhub.remediation.recheck import refresh_object

    client.force_login(personas["lead"])
    scan(forest, SMALL)
    url = "/t/acme/findings/"
    before = client.get(url).context["table"].paginator.count
    fixed = next(entries(1))  # Smith0, as a fix left it: every value valid now
    fixed.attributes.update(userprincipalname=["smith0@acme.com"], mail=["smith0@acme.com"])
    refresh_object(forest, fixed, uuid.UUID(int=1))
    after = Finding.objects.filter(forest=forest).open().count()
    assert after < before
    assert client.get(url).context["table"].paginator.count == after
