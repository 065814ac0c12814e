"""Finalize at scale (issue 18): set-based statements on plans that cannot turn quadratic, and a
rescan of unchanged data that rewrites no finding.

The plans are asserted with EXPLAIN on the very statements finalize runs (PostgreSQL, as CI and
production run): at a million objects a nested loop re-reading scans_finding per staged row, or a
duplicates merge that probes findings by tenant instead of (forest, key), takes hours instead of
seconds, and no test at CI's size would notice it by its time (bench/scale_bench.py measures that).
"""

import uuid
from contextlib import contextmanager

import pytest
from django.db import connection

from identityhub.scans import pipeline
from identityhub.scans.models import Finding

from .services import require
from .test_scan_pipeline import scan_with, user

pytestmark = pytest.mark.django_db

FINDINGS_TABLE = Finding._meta.db_table


def directory(count: int, guids: list[uuid.UUID]) -> list:
    """`count` users with a bad UPN (a suggestion each), every tenth sharing a mail (duplicates: no suggestion)."""
    return [
        user(f"User{i}", upn=f"user {i}@corp.local", mail=f"shared{i // 10 * 10}@acme.com" if i % 10 < 2 else None,
             guid=guids[i])
        for i in range(count)
    ]  # fmt: skip


@contextmanager
def statements_on_findings():
    """Every statement run against the findings table: (sql, rows it affected, EXPLAIN of it on PostgreSQL)."""
    seen = []

    def wrapper(execute, sql, params, many, context):
        plan = None
        touches = f'"{FINDINGS_TABLE}"' in sql and sql.lstrip().split()[0] in ("INSERT", "UPDATE")
        if touches and connection.vendor == "postgresql" and not many:
            cursor = context["cursor"]
            execute("EXPLAIN " + sql, params, many, context)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        result = execute(sql, params, many, context)
        if touches:
            seen.append((sql, context["cursor"].rowcount, plan))
        return result

    with connection.execute_wrapper(wrapper):
        yield seen


def inserts(statements):
    return [s for s in statements if s[0].lstrip().startswith(f'INSERT INTO "{FINDINGS_TABLE}"')]


def updated_rows(statements) -> int:
    return sum(rows for sql, rows, _ in statements if sql.lstrip().startswith(f'UPDATE "{FINDINGS_TABLE}"'))


def test_a_first_scan_inserts_its_new_findings_in_one_statement_that_never_rescans_findings(forest):
    """The first scan of a forest: scans_finding is empty when the insert is planned. A nested loop
    anti join over a sequential scan of it re-reads the heap the same statement grows, for every
    staged row (quadratic: 3 s then 10.7 s per 1,000 rows at a million objects)."""
    guids = [uuid.uuid4() for _ in range(700)]
    with statements_on_findings() as statements:
        scan = scan_with(forest, directory(700, guids))
    assert scan.status == "completed"
    assert Finding.objects.filter(forest=forest).count() > pipeline.BATCH  # more than one batch of old
    new = [s for s in inserts(statements) if "scans_stagedfinding" in s[0]]
    assert len(new) == 2, "one INSERT ... SELECT for the forest's findings, one for its duplicates"
    assert sum(rows for _, rows, _ in new) == Finding.objects.filter(forest=forest).count()
    if connection.vendor == "postgresql":
        for _, _, plan in new:
            assert f"Seq Scan on {FINDINGS_TABLE}" not in plan, plan


def test_the_duplicates_merge_probes_findings_by_forest_and_key(forest):
    """Every rescan: the duplicates are staged after finalize's first ANALYZE, and the merge's scope
    was the tenant's findings (13.3 M buffer reads at 100,000 objects). Scoped by forest, on fresh
    statistics, it is answered by the (forest, key) index."""
    require(connection.vendor == "postgresql", "the plans are PostgreSQL's")
    guids = [uuid.uuid4() for _ in range(400)]
    scan_with(forest, directory(400, guids))
    with statements_on_findings() as statements:
        rescan = scan_with(forest, directory(400, guids))
    assert rescan.status == "completed"
    staged_duplicates = Finding.objects.filter(forest=forest, rule__in=pipeline.DUPLICATE_RULES).count()
    assert staged_duplicates >= 50
    merges = [(sql, plan) for sql, _, plan in statements if f'WHERE ("{FINDINGS_TABLE}"."forest_id" IN' in sql]
    assert len(merges) == 2, [sql[:300] for sql, _, _ in statements]  # the changed ones, the resolved ones
    for sql, plan in merges:
        assert f'"{FINDINGS_TABLE}"."tenant_id"' not in sql, sql
        assert "Nested Loop" not in plan or f"Seq Scan on {FINDINGS_TABLE}" not in plan, plan
        # Planned on statistics that know the staged duplicates (taken before they were staged, the
        # estimate was 1 row for 17,066 at 100,000 objects and the merge ran as nested loops).
        estimates = [int(line.split("rows=")[1].split()[0]) for line in plan.splitlines()
                     if "on scans_stagedfinding" in line and "rows=" in line and "Limit" not in line]  # fmt: skip
        assert max(estimates) >= staged_duplicates // 2, plan


def test_a_rescan_of_unchanged_data_rewrites_no_finding(forest):
    """524,279 findings rewritten by every rescan doubled the table (563 MB): unchanged, untouched."""
    guids = [uuid.uuid4() for _ in range(60)]
    first = scan_with(forest, directory(60, guids))
    before = dict(Finding.objects.filter(forest=forest).values_list("pk", "last_seen"))
    assert Finding.objects.filter(forest=forest, suggestion__isnull=True).exists()  # NULL = NULL is no change
    with statements_on_findings() as statements:
        rescan = scan_with(forest, directory(60, guids))
    assert rescan.status == "completed"
    assert updated_rows(statements) == 0
    assert not inserts(statements) or sum(rows for _, rows, _ in inserts(statements)) == 0
    assert dict(Finding.objects.filter(forest=forest).values_list("pk", "last_seen")) == before
    # "Last seen" stays true: an unresolved finding was seen when its forest's picture was refreshed.
    rescan.refresh_from_db()
    seen = {f.seen_at for f in Finding.objects.filter(forest=forest).with_seen()}
    assert seen == {rescan.refreshed} and rescan.refreshed > first.refreshed
    assert set(Finding.objects.filter(forest=forest).values_list("first_scan", flat=True)) == {first.pk}


def test_a_rescan_rewrites_exactly_the_findings_whose_values_changed(forest):
    guids = [uuid.uuid4() for _ in range(30)]
    scan_with(forest, directory(30, guids))
    entries = directory(30, guids)
    moved = entries[3]
    entries[3] = type(moved)(dn=moved.dn.replace("OU=Staff", "OU=Moved"), attributes=moved.attributes, source="corp")
    fixed = entries[5]
    entries[5] = user("User5", upn="user5@acme.com", guid=guids[5])
    of_moved = Finding.objects.filter(forest=forest, guid=guids[3]).count()
    with statements_on_findings() as statements:
        rescan = scan_with(forest, entries)
    assert rescan.status == "completed" and fixed
    resolved = Finding.objects.filter(forest=forest, guid=guids[5], status="resolved")
    assert resolved.exists()
    assert updated_rows(statements) == of_moved + resolved.count()
    changed = Finding.objects.filter(forest=forest, guid=guids[3])
    assert {f.ou for f in changed} == {"OU=Moved,DC=corp,DC=acme,DC=example"}
    assert {f.last_scan_id for f in changed} == {rescan.pk}


def test_a_reopened_finding_is_rewritten_and_keeps_its_history(forest):
    guid = uuid.uuid4()
    first = scan_with(forest, [user("Bob", upn="bob smith@acme.com", guid=guid)])
    scan_with(forest, [user("Bob", upn="bob.smith@acme.com", guid=guid)])
    finding = Finding.objects.get(forest=forest, rule="upn.character")
    assert finding.status == "resolved"
    back = scan_with(forest, [user("Bob", upn="bob smith@acme.com", guid=guid)])
    finding.refresh_from_db()
    assert finding.status == "open" and finding.resolved_at is None
    assert finding.first_scan == first and finding.last_scan == back
    assert Finding.objects.filter(forest=forest, rule="upn.character").count() == 1


def test_exports_say_last_seen_as_the_findings_table_does(forest):
    """Exports share with_seen(): an unchanged finding's last_seen is its first scan's, not the rescan's."""
    from identityhub.reports import datasets

    guids = [uuid.uuid4() for _ in range(5)]
    scan_with(forest, directory(5, guids))
    rescan = scan_with(forest, directory(5, guids))
    rescan.refresh_from_db()
    column = datasets.FINDING_HEADER.index("last seen")
    rows = list(datasets.finding_rows(Finding.objects.filter(forest=forest), forest.tenant))
    assert rows and {row[column] for row in rows} == {rescan.refreshed}


def test_duplicate_details_do_not_depend_on_the_order_the_keys_come_in(forest):
    """A detail names the other holders and their attributes: in the order the database returned
    the keys, every rescan rewrote every duplicate finding (17,171 of 156,930 at 300,000 objects)."""
    from identityhub.scans.models import IdentityKey, ScanRun, StagedFinding

    shared = "pat@acme.com"
    proxies = [f"SMTP:{shared}", "smtp:pat@acme.example"]
    holders = [user(f"Pat{i}", upn=shared if i == 0 else None, mail=shared, proxies=proxies) for i in range(3)]
    scan = scan_with(forest, holders)
    keys = list(IdentityKey.objects.filter(scan=scan, value=shared))
    assert len(keys) >= 6

    def details(ordered):
        staging = ScanRun.objects.create(tenant=forest.tenant, forest=forest)
        pipeline._stage_duplicates(staging, ordered)
        return dict(StagedFinding.objects.filter(scan=staging).values_list("key", "detail"))

    forward = details(keys)
    assert len(forward) == len(keys)
    assert details(list(reversed(keys))) == forward


def test_a_rescan_rewrites_every_seen_column_that_changed_and_nothing_else(forest):
    """The changed findings are updated in one UPDATE ... FROM the staged findings: each of
    _SEEN_VALUES is copied (NULL and a value differ both ways), reopened findings open again, and
    a finding whose values are the staged ones is not written."""
    guids = [uuid.uuid4() for _ in range(60)]
    scan_with(forest, directory(60, guids))
    findings = Finding.objects.filter(forest=forest).order_by("pk")
    expected = {f.pk: tuple(getattr(f, name) for name in pipeline._SEEN_VALUES) for f in findings}
    with_suggestion = list(findings.filter(suggestion__isnull=False).values_list("pk", flat=True))
    without = list(findings.filter(suggestion__isnull=True).values_list("pk", flat=True))
    assert len(with_suggestion) > len(pipeline._SEEN_VALUES) + 2 and without
    tampered = {}
    for pk, name in zip(with_suggestion, pipeline._SEEN_VALUES, strict=False):
        tampered[pk] = {name: "x"}
    tampered[with_suggestion[len(pipeline._SEEN_VALUES)]] = {"suggestion": None}  # a value, then NULL
    tampered[without[0]] = {"suggestion": "x"}  # NULL, then a value
    reopened = with_suggestion[len(pipeline._SEEN_VALUES) + 1]
    tampered[reopened] = {"status": Finding.Status.RESOLVED, "resolved_at": pipeline.timezone.now()}
    for pk, values in tampered.items():
        Finding.objects.filter(pk=pk).update(**values)
    with statements_on_findings() as statements:
        rescan = scan_with(forest, directory(60, guids))
    assert rescan.status == "completed"
    changed = [s for s in statements if s[0].lstrip().startswith(f'UPDATE "{FINDINGS_TABLE}" SET "dn"')]
    assert len(changed) == 2  # the forest's findings, then its duplicates
    assert all('FROM "scans_stagedfinding"' in sql for sql, _, _ in changed)
    assert sum(rows for _, rows, _ in changed) == len(tampered)
    assert updated_rows(statements) == len(tampered)
    after = {f.pk: tuple(getattr(f, name) for name in pipeline._SEEN_VALUES) for f in findings}
    assert after == expected
    assert set(findings.filter(last_scan=rescan).values_list("pk", flat=True)) == set(tampered)
    finding = Finding.objects.get(pk=reopened)
    assert finding.status == Finding.Status.OPEN and finding.resolved_at is None


@pytest.fixture
def fabrikam(tenant):
    from identityhub.tenants.models import Forest

    return Forest.objects.create(
        tenant=tenant, name="fabrikam.example", servers="127.0.0.12", base_dns="DC=fabrikam,DC=example", bind_user="x"
    )


def two_forests_with_clashes(forest, second_forest):
    """Clashes inside one forest and across two, in every kind of key, and one object in both forests."""
    both = uuid.uuid4()
    first = [user(f"Pat{i}", upn="pat@acme.com" if i < 2 else None, mail=f"pat{i % 3}@acme.com",
                  proxies=[f"SMTP:pat{i % 4}@acme.com", f"smtp:alias{i % 2}@acme.com"])
             for i in range(12)]  # fmt: skip
    first.append(user("Moved", mail="moved@acme.com", guid=both))
    second = [user(f"Pat{i}", upn=f"PAT{i}@acme.com", mail=f"Pat{i % 5}@ACME.com") for i in range(8)]
    second.append(user("Moved", mail="moved@acme.com", guid=both))
    scan_with(forest, first)
    return scan_with(second_forest, second)


def test_the_duplicates_are_staged_as_grouping_every_key_in_python_stages_them(forest, fabrikam):
    """recompute_duplicates reads the clashing keys and their objects in one streamed statement:
    the same findings, details included, as grouping all the pictures' keys by value in Python
    and staging each clashing group's keys (what it did in 500-value chunks)."""
    from identityhub.scans.models import IdentityKey, ScanRun, StagedFinding

    last = two_forests_with_clashes(forest, fabrikam)
    assert last.status == "completed"
    current = list(pipeline._current_scan_ids(forest.tenant_id))
    keys = list(IdentityKey.objects.filter(scan__in=current))
    holders: dict[tuple[str, str], set] = {}
    for k in keys:
        holders.setdefault((k.kind, k.value), set()).add(k.guid)
    clashing = [k for k in keys if len(holders[(k.kind, k.value)]) > 1]
    reference_scan = ScanRun.objects.create(tenant=forest.tenant, forest=forest)
    pipeline._stage_duplicates(reference_scan, clashing)
    fields = ("forest_id", "key", "guid", "dn", "object_class", "ou", "rule", "severity", "error", "attribute",
              "value", "suggestion", "detail")  # fmt: skip
    reference = sorted(StagedFinding.objects.filter(scan=reference_scan).values_list(*fields))
    streamed = [f for pairs in pipeline._clashing_holders(current) for f in pipeline._clash_staged(last, pairs)]
    assert sorted(tuple(getattr(f, name) for name in fields) for f in streamed) == reference
    assert len({row[0] for row in reference}) == 2 and len(reference) >= 30
    assert not [row for row in reference if "moved" in row[3].lower()]  # one object in two forests: no clash
    # And what finalize merged is that: the open duplicate findings of both forests.
    merged = Finding.objects.filter(forest__tenant=forest.tenant, rule__in=pipeline.DUPLICATE_RULES, status="open")
    assert sorted(merged.exclude(rule="duplicate.objectguid").values_list(*fields)) == reference


def test_the_clashing_keys_are_read_in_one_statement(forest, monkeypatch):
    """Not the groups, then their keys 500 values at a time, then each chunk's objects: one statement
    joins the clashing groups to their keys and objects (issue 18)."""
    guids = [uuid.uuid4() for _ in range(200)]
    scan_with(forest, directory(200, guids))
    seen = []
    recompute = pipeline.recompute_duplicates

    def recording(scan, now):
        def wrapper(execute, sql, params, many, context):
            if sql.lstrip().startswith("SELECT") and ("scans_identitykey" in sql or "scans_directoryobject" in sql):
                seen.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(wrapper):
            return recompute(scan, now)

    monkeypatch.setattr(pipeline, "recompute_duplicates", recording)
    rescan = scan_with(forest, directory(200, guids))
    assert rescan.status == "completed"
    assert len(seen) == 1, seen
    assert "GROUP BY" in seen[0] and "scans_directoryobject" in seen[0]
    assert Finding.objects.filter(forest=forest, rule__in=pipeline.DUPLICATE_RULES, status="open").count() >= 40


@pytest.mark.django_db(transaction=True)
def test_a_completed_scan_leaves_the_findings_table_vacuumed_for_index_only_reads(forest):
    """The findings list reads a page's ids from an index alone; PostgreSQL skips the table only for
    pages VACUUM marked all-visible. Left to autovacuum (off on this server, late on a busy one), a
    deep page visited every row it skipped (page 500: 48-80 ms instead of 3 ms at 100,000 objects)."""
    require(connection.vendor == "postgresql", "the visibility map is PostgreSQL's")
    scan_with(forest, directory(300, [uuid.uuid4() for _ in range(300)]))
    with connection.cursor() as cursor:
        cursor.execute("SELECT relpages, relallvisible FROM pg_class WHERE relname = %s", [FINDINGS_TABLE])
        pages, all_visible = cursor.fetchone()
    assert pages > 0 and all_visible == pages
