"""Issue 18: an export of every finding streams in the list's order from its first row.

At a million objects `?status=all` is half a million rows: sorted before the first row (a parallel
sequential scan and an on-disk sort, then a JIT compile) the first byte came after seconds, and under
load after gunicorn's 30 s worker timeout. These tests read the plan PostgreSQL makes for the very
query the CSV export runs, with sorting priced out: only a matching index can then avoid a Sort.
"""

import pytest
from django.db import connection
from django.test import RequestFactory

from identityhub.reports import datasets

from .test_query_counts import scan

pytestmark = pytest.mark.django_db

needs_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL plans")


def _export_plan(tenant, user, **params) -> str:
    request = RequestFactory().get("/export.csv", params)
    request.user = user
    rows = datasets.finding_values(datasets.findings_queryset(request, tenant), tenant)
    sql, sql_params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        # An incremental sort is a sort too (of each run of equal leading keys); left on, a tiny test
        # table tips it over the index when the row's other costs shrink (no subquery per row).
        cursor.execute("SET LOCAL enable_incremental_sort = off")
        cursor.execute("EXPLAIN " + sql, sql_params)
        return "\n".join(row[0] for row in cursor.fetchall())


@needs_postgresql
@pytest.mark.parametrize("status", ["all", "open", "resolved"])
def test_an_export_of_any_status_reads_the_findings_in_index_order(forest, personas, status):
    scan(forest, 12)
    plan = _export_plan(forest.tenant, personas["lead"], status=status)
    finding_scan = next(line for line in plan.splitlines() if "scans_finding" in line)
    assert "Index" in finding_scan, plan
    assert "Sort Key: scans_finding" not in plan, plan


@needs_postgresql
def test_web_connections_do_not_jit_compile(db):
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


def _declared_cursors(client, path) -> list[str]:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
        assert response.status_code == 200
        b"".join(response.streaming_content)
    return [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().startswith("DECLARE")]


@needs_postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "path", ["/t/acme/findings/export.csv?status=all", "/t/acme/changes/export.csv", "/t/acme/objects/export.csv"]
)
def test_a_streamed_export_reads_a_plain_cursor_not_one_materialised_at_commit(client, forest, personas, path):
    """Outside a transaction Django declares the cursor WITH HOLD, which PostgreSQL computes in full
    before the first row (3.5 s for half a million findings, past gunicorn's timeout under load)."""
    scan(forest, 12)
    client.force_login(personas["auditor"])
    declared = _declared_cursors(client, path)
    assert declared, "the export reads through a server-side cursor"
    assert not [sql for sql in declared if "WITH HOLD" in sql], declared
