"""The findings CSV's "last seen" without a subquery per row: the same file as with_seen() gives.

The column is FindingQuerySet.with_seen()'s `seen`: an unresolved finding was there when its forest's
current scan last refreshed the picture; a resolved one when it was last seen. The export reads each
forest's refresh time once instead of a correlated subquery per row (524k rows at 1M objects).
"""

import csv
import io
from datetime import UTC, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from identityhub.reports import datasets
from identityhub.reports.tabular import csv_cell
from identityhub.scans.models import Finding, ScanRun
from identityhub.tenants.models import Forest

from .reports_support import finding


def scan(forest, *, current, refreshed):
    return ScanRun.objects.create(
        tenant=forest.tenant, forest=forest, status="completed", is_current=current, catalogue_version="1",
        ruleset=forest.tenant.ruleset, started=refreshed, finished=refreshed, refreshed=refreshed,
    )  # fmt: skip


@pytest.fixture
def forests(forest, other_tenant):
    """Three forests of Acme: refreshed since its findings' last change, current scan never refreshed,
    no current scan at all; open, accepted, excepted and resolved findings, some from older scans;
    a forest of another tenant with a later refresh."""
    now = timezone.now().replace(microsecond=123456)
    second = Forest.objects.create(tenant=forest.tenant, name="emea.acme.example", servers="127.0.0.12",
                                   base_dns="DC=emea", bind_user="svc")  # fmt: skip
    third = Forest.objects.create(tenant=forest.tenant, name="apac.acme.example", servers="127.0.0.13",
                                  base_dns="DC=apac", bind_user="svc")  # fmt: skip
    elsewhere = Forest.objects.create(tenant=other_tenant, name="corp.globex.example", servers="127.0.0.14",
                                      base_dns="DC=globex", bind_user="svc")  # fmt: skip
    scan(forest, current=False, refreshed=now - timedelta(days=9))
    scan(forest, current=True, refreshed=now - timedelta(hours=1))
    scan(second, current=True, refreshed=None)
    scan(third, current=False, refreshed=now - timedelta(days=2))
    scan(elsewhere, current=True, refreshed=now)
    old, older = now - timedelta(days=3), (now - timedelta(days=8)).replace(microsecond=0)  # isoformat drops .0
    n = 0
    for target in (forest, second, third, elsewhere):
        for status, last_seen in (("open", old), ("open", older), ("open", now), ("accepted", old),
                                  ("excepted", older), ("resolved", old), ("resolved", older)):  # fmt: skip
            n += 1
            resolved_at = last_seen + timedelta(hours=1) if status == "resolved" else None
            finding(target, n, status=status, first_seen=older, last_seen=last_seen, resolved_at=resolved_at,
                    dn=f"CN=User {n},DC={target.name}")  # fmt: skip
    return {"first": forest, "second": second, "third": third, "now": now, "old": old, "older": older}


def exported(client, query=""):
    response = client.get(f"/t/acme/findings/export.csv{query}")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8"))))


def reference(ids):
    """The rows as with_seen() (its correlated subquery) and the CSV's cell text give them."""
    fields = [field for _, field in datasets.FINDING_FIELDS]
    by_id = {row[0]: row for row in Finding.objects.with_seen().filter(pk__in=ids).values_list(*fields)}
    suggestion = datasets.FINDING_HEADER.index("suggestion")
    rows = []
    for pk in ids:
        row = list(by_id[pk])
        row[suggestion] = datasets.REMOVE_VALUE if row[suggestion] == "" else row[suggestion]
        rows.append([csv_cell(v) for v in row])
    return rows


@pytest.mark.parametrize("query", ["?status=", "", "?status=resolved", "?sort=-forest"])
def test_the_csv_is_what_with_seen_gives(client, personas, forests, query):
    client.force_login(personas["auditor"])
    rows = exported(client, query)
    assert rows[0] == datasets.FINDING_HEADER and len(rows) > 2
    assert rows[1:] == reference([int(row[0]) for row in rows[1:]])


def test_last_seen_is_the_current_refresh_for_unresolved_findings_only(client, personas, forests):
    client.force_login(personas["auditor"])
    rows = exported(client, "?status=")
    seen = {(r[12], r[13], r[14], r[15]) for r in (dict(enumerate(row)) for row in rows[1:])}
    now, old, older = forests["now"], forests["old"], forests["older"]
    refresh = (now - timedelta(hours=1)).isoformat()
    first, second, third = (forests[k].name for k in ("first", "second", "third"))
    assert (first, "open", older.isoformat(), refresh) in seen  # confirmed by the refresh
    assert (first, "accepted", older.isoformat(), refresh) in seen
    assert (first, "open", older.isoformat(), now.isoformat()) in seen  # changed after the refresh
    assert (first, "resolved", older.isoformat(), old.isoformat()) in seen  # gone: never confirmed
    assert (second, "open", older.isoformat(), old.isoformat()) in seen  # current scan never refreshed
    assert (third, "excepted", older.isoformat(), older.isoformat()) in seen  # no current scan
    assert not any(r[12] == "corp.globex.example" for r in rows[1:])


def test_the_export_query_has_no_subquery_per_row(client, personas, forests):
    client.force_login(personas["auditor"])
    with CaptureQueriesContext(connection) as queries:
        exported(client, "?status=")
    [export_sql] = [q["sql"] for q in queries.captured_queries if '"scans_finding"."first_seen"' in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {export_sql}")
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert "SubPlan" not in plan, plan
    assert "scans_scanrun" not in export_sql  # each forest's refresh time is read once, before


def test_datetime_cells_are_iso_8601_whatever_was_written_before():
    from datetime import datetime, timezone

    from identityhub.reports.tabular import text

    utc = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    berlin = utc.astimezone(timezone(timedelta(hours=1)))  # the same instant, another zone
    whole = utc.replace(microsecond=0)
    for value in (utc, berlin, whole, utc, berlin, whole.replace(tzinfo=None), whole):
        assert csv_cell(value) == text(value) == value.isoformat()
    assert csv_cell(berlin) == "2026-01-02T04:04:05.000006+01:00"
