"""Issue 18: a deep page of the findings list costs what a shallow one does, or is not read at all.

A page is read from the ORDER BY's index with OFFSET: page 5,000 of half a million findings sorted by
value skipped 250,000 index entries, each with its heap row (343 ms at one client, 8 s at fifty).
A page nearer the end of the list is read backwards from the end (the last page costs what the first
does); a page farther than paging.MAX_DEPTH rows from both ends is not read: the list says how to
reach those findings (narrow the filter, reverse the sort, export).
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from identityhub import paging
from identityhub.scans import pipeline
from identityhub.scans.models import Finding, ScanRun

from .test_findings_views import entry

ROW = re.compile(r'<tr data-rule="[^"]*" id="finding-(\d+)"')


@pytest.fixture
def many(forest):
    """~150 open findings: several rules and severities, and many findings sharing one value."""
    entries = []
    for i in range(40):
        upn = f"user {i}@corp.local" if i % 3 else "same value@corp.local"  # ties in the value sort
        entries.append(entry(f"User{i:02d}", upn, displayname=[" "] if i % 2 else [f"User {i}"]))
    run = ScanRun.objects.create(tenant=forest.tenant, forest=forest)
    pipeline.execute(run.pk, lambda s, prepare: map(prepare, entries))
    return Finding.objects.filter(tenant=forest.tenant).open().count()


def page_ids(client, query) -> tuple[list[int], list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/t/acme/findings/" + query)
    assert response.status_code == 200
    return [int(pk) for pk in ROW.findall(response.content.decode())], [q["sql"] for q in captured.captured_queries]


def offsets(sql: list[str]) -> list[int]:
    return [int(n) for s in sql for n in re.findall(r"OFFSET (\d+)", s)]


@pytest.mark.parametrize(
    "sort", ["", "&sort=value", "&sort=-value", "&sort=rule", "&sort=-severity", "&q=user&sort=value", "&status=all"]
)
def test_every_page_holds_the_rows_of_one_plain_ordered_read(client, personas, many, sort, monkeypatch):
    """Read forwards or backwards, the pages together are the list in its order, each row once."""
    monkeypatch.setattr(paging, "MAX_DEPTH", 10_000)
    client.force_login(personas["admin"])
    if "q=" in sort:  # the list's total is the filter's: read it from the page
        many = int(re.search(r'id="finding-count">(\d+)', client.get("/t/acme/findings/?" + sort).content.decode())[1])
    assert many > 50
    pages = -(-many // 25)
    seen = []
    for number in range(1, pages + 1):
        ids, _sql = page_ids(client, f"?per_page=25&page={number}{sort}")
        assert len(ids) == (25 if number < pages else many - 25 * (pages - 1)), number
        seen += ids
    # All in one page of 200 (at most MAX_PAGE_SIZE): the plain forward read of the same order.
    whole = []
    for number in range(1, -(-many // 200) + 1):
        whole += page_ids(client, f"?per_page=200&page={number}{sort}")[0]
    assert seen == whole and len(set(seen)) == many


def test_the_last_page_is_read_from_the_end_not_past_every_row(client, personas, many):
    client.force_login(personas["admin"])
    last = -(-many // 25)
    for sort in ("", "&sort=value"):
        ids, sql = page_ids(client, f"?per_page=25&page={last}{sort}")
        assert ids and max(offsets(sql), default=0) < 25, sql


def test_a_page_deeper_than_the_bound_from_both_ends_is_not_read(client, personas, many, monkeypatch):
    monkeypatch.setattr(paging, "MAX_DEPTH", 30)
    client.force_login(personas["admin"])
    assert many >= 110  # page 3 of 25 starts 50 rows in and ends more than 30 rows before the end
    ids, sql = page_ids(client, "?per_page=25&page=3&sort=value")
    assert ids == [] and max(offsets(sql), default=0) <= 30, sql
    body = client.get("/t/acme/findings/?per_page=25&page=3&sort=value").content.decode()
    assert "narrow the filter" in body and "export the list" in body
    assert 'rel="prev"' in body and 'rel="next"' in body  # the pager stays: the way back to the pages read
    # The pages near either end are still there.
    assert page_ids(client, "?per_page=25&page=2&sort=value")[0]
    assert page_ids(client, f"?per_page=25&page={-(-many // 25)}&sort=value")[0]
