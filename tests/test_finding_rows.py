"""The findings list's rows (issue 18): what each row shows and offers, whoever renders it.

The rows are built in one pass (no per-cell template machinery): each cell, the action buttons (the same
markup the inline htmx actions swap in), the links to the object and to the other holders of a duplicate,
the "reverted" badge, the ids that the inline actions update out of band, and the columns a viewer does not get.
"""

import re
import uuid

import pytest
from django.conf import settings
from django.urls import reverse

from identityhub.scans import counts, pipeline
from identityhub.scans.models import Finding, ScanRun
from identityhub.tenants.models import Forest

from .services import require
from .test_findings_views import entry

pytestmark = pytest.mark.django_db(transaction=True)

COLUMNS = ["select", "severity", "rule", "attribute", "value", "suggestion", "actions", "object", "status", "seen"]


def scan(forest, entries):
    run = ScanRun.objects.create(tenant=forest.tenant, forest=forest)
    return pipeline.execute(run.pk, lambda s, prepare: map(prepare, entries))


@pytest.fixture
def listed(forest):
    """Bob and Ann share an address (duplicates, each with the other as holder), Ann's UPN is .local,
    Cy's mail has no top-level domain; one finding accepted, one resolved, one with a fix undone."""
    shared = "shared@acme.com"
    scanned = scan(
        forest,
        [
            entry("Bob", "bob smith@acme.com", mail=[shared], proxyaddresses=[f"SMTP:{shared}"]),
            entry("Ann", "ann@corp.local", mail=[shared]),
            entry("Cy", "cy@acme.com", mail=["cy@acme"]),
        ],
    )
    return scanned


def normal(html: str) -> str:
    return " ".join(html.split())


def row_of(body: str, finding) -> str:
    found = re.search(rf'<tr [^>]*id="finding-{finding.pk}".*?</tr>', body, re.S)
    assert found, f"no row for finding {finding.pk}"
    return normal(found.group(0))


def actions_of(html: str, finding) -> str:
    found = re.search(rf'<div id="actions-{finding.pk}" class="finding-actions">.*?</div>', html, re.S)
    assert found, f"no actions for finding {finding.pk}"
    return normal(found.group(0))


def cells(row: str) -> list[str]:
    return re.findall(r'<td class="col-([a-z]+)"', row)


def test_a_row_shows_its_cells_buttons_and_links(client, personas, listed):
    client.force_login(personas["admin"])
    body = client.get("/t/acme/findings/").content.decode()
    header = re.findall(r'<th class="(?:asc |desc )?col-([a-z]+)', body)
    assert header == COLUMNS  # one forest: no forest column
    ann = Finding.objects.get(rule="upn.topleveldomain")
    row = row_of(body, ann)
    assert row.startswith(f'<tr data-rule="upn.topleveldomain" id="finding-{ann.pk}" class="')
    assert cells(row) == COLUMNS
    assert f'<input type="checkbox" name="select" value="{ann.pk}" aria-label="Select this row"' in row
    assert '<span class="badge degrading">Degrading</span>' in row
    assert '<span title="upn.topleveldomain — ' in row and "Fix: " in row
    assert '<td class="col-attribute"><span title="userPrincipalName">userPrincipalName</span></td>' in row
    assert '<span class="mono clamp" title="ann@corp.local">ann@<wbr>corp.<wbr>local</span>' in row
    assert '<span class="mono clamp" title="ann@acme.com">ann@<wbr>acme.<wbr>com</span>' in row  # the suggestion
    slug, pk = "acme", ann.pk
    for name, method, label in [
        ("finding-edit", "get", "Fix"),
        ("finding-remove", "post", "Remove"),
        ("finding-accept", "post", "Accept"),
        ("finding-waive", "get", "Exception"),
    ]:
        url = reverse(name, args=[slug, pk])
        assert f'hx-{method}="{url}" hx-target="#actions-{pk}" hx-swap="outerHTML"' in row, name
        assert f">{label}</button>" in row
    assert f'hx-confirm="Remove userPrincipalName value ann@corp.local from {ann.dn}?">Remove</button>' in row
    assert f'<a href="{ann.get_absolute_url()}" title="{ann.dn}">Ann</a>' in row
    assert '<small class="muted path">OU=<wbr>Sales,<wbr>DC=' in row
    assert f'<span id="status-{pk}">Open</span>' in row and "reverted" not in row
    assert re.search(r'<td class="col-seen"><time datetime="[^"]+" title="[^"]+">[^<]+</time></td>', row)


def test_a_duplicate_links_the_other_holders(client, personas, listed):
    client.force_login(personas["lead"])
    body = client.get("/t/acme/findings/?rule=duplicate.mail").content.decode()
    ann, bob = (Finding.objects.get(rule="duplicate.mail", dn__startswith=f"CN={n},") for n in ("Ann", "Bob"))
    row = row_of(body, ann)
    link = f'<a href="{bob.get_absolute_url()}" title="{bob.dn}">Bob</a>'
    assert f'<small class="holders">Also held by {link}</small>' in row
    assert f'<small class="muted detail" title="{ann.detail}">{ann.detail}</small>' in row
    assert "Also held by" in row_of(body, bob)


def test_a_viewer_gets_no_checkboxes_nor_buttons(client, personas, listed):
    client.force_login(personas["auditor"])
    body = client.get("/t/acme/findings/").content.decode()
    ann = Finding.objects.get(rule="upn.topleveldomain")
    row = row_of(body, ann)
    assert cells(row) == [c for c in COLUMNS if c not in ("select", "actions")]
    assert 'name="select"' not in body and "finding-actions" not in body and "hx-post" not in body
    assert f'<a href="{ann.get_absolute_url()}"' in row


def test_each_status_gets_its_buttons_and_a_reverted_fix_its_badge(client, personas, listed):
    from identityhub.remediation.models import Change, RevertedFix

    client.force_login(personas["admin"])
    accepted = Finding.objects.get(rule="upn.character")
    resolved = Finding.objects.get(rule="mail.topleveldomain")
    Finding.objects.filter(pk=accepted.pk).update(status=Finding.Status.ACCEPTED)
    Finding.objects.filter(pk=resolved.pk).update(status=Finding.Status.RESOLVED)
    undone = Finding.objects.get(rule="upn.topleveldomain")
    change = Change.record(undone, Change.Action.EDIT, personas["admin"], [undone.value], ["ann@acme.com"], "applied")
    RevertedFix.objects.create(finding=undone, change=change, scan=listed)
    body = client.get("/t/acme/findings/?status=all").content.decode()
    row = row_of(body, accepted)
    assert f'<span id="status-{accepted.pk}">Accepted</span>' in row
    assert ">Fix</button>" in row and ">Remove</button>" in row
    assert ">Accept</button>" not in row and ">Exception</button>" not in row
    row = row_of(body, resolved)
    assert f'<div id="actions-{resolved.pk}" class="finding-actions"> <span class="muted">—</span> </div>' in row
    assert "<button" not in row
    row = row_of(body, undone)
    badge = '<span class="badge red" title="A fix was undone in AD">reverted</span>'
    assert f'<span id="status-{undone.pk}">Open</span> {badge}' in row


def test_the_buttons_are_the_ones_the_inline_actions_swap_in(client, personas, listed):
    """One source for the action buttons: the list's cell is what Cancel of an inline form brings back."""
    client.force_login(personas["admin"])
    Finding.objects.filter(rule="upn.character").update(status=Finding.Status.ACCEPTED)
    for finding in Finding.objects.all():
        listed_again = client.get("/t/acme/findings/?status=all").content.decode()
        alone = client.get(reverse("finding-actions", args=["acme", finding.pk])).content.decode()
        assert actions_of(listed_again, finding) == actions_of(alone, finding), finding.rule


def test_cells_escape_what_the_directory_holds(client, personas, listed):
    client.force_login(personas["admin"])
    ann = Finding.objects.get(rule="upn.topleveldomain")
    Finding.objects.filter(pk=ann.pk).update(value='<i>x</i> & "q"', suggestion="", dn="CN=<b>Ann</b>,OU=Sales")
    row = row_of(client.get("/t/acme/findings/").content.decode(), ann)
    assert "<i>" not in row and "<b>" not in row
    assert 'title="&lt;i&gt;x&lt;/i&gt; &amp; &quot;q&quot;"' in row
    escaped = "&lt;i&gt;x&lt;/i&gt; &amp; &quot;q&quot;"
    assert f'hx-confirm="Remove userPrincipalName value {escaped} from CN=&lt;b&gt;' in row
    # An empty suggestion or value shows the column's dash, as django-tables2 showed it.
    assert '<td class="col-suggestion">—</td>' in row
    cy = Finding.objects.get(rule="mail.topleveldomain")
    Finding.objects.filter(pk=cy.pk).update(suggestion=None, value="")
    counts.changed(cy.tenant_id)  # a bulk write tells the cached rows (and counts), as remediation's do
    row = row_of(client.get("/t/acme/findings/").content.decode(), cy)
    assert '<td class="col-suggestion">—</td>' in row and '<td class="col-value">—</td>' in row


def test_a_second_forest_adds_the_forest_column(client, personas, listed):
    other = Forest.objects.create(tenant=listed.tenant, name="fabrikam.example", servers="127.0.0.12", port=389)
    scan(other, [entry("Dee", "dee@fabrikam.local", ou="Ops")])
    client.force_login(personas["admin"])
    body = client.get("/t/acme/findings/").content.decode()
    with_forest = [*COLUMNS[:7], "object", "forest", "status", "seen"]
    assert re.findall(r'<th class="(?:asc |desc )?col-([a-z]+)', body) == with_forest
    dee = Finding.objects.get(forest=other, rule="upn.topleveldomain")
    row = row_of(body, dee)
    assert cells(row) == with_forest
    assert '<td class="col-forest">fabrikam.example</td>' in row


def full_reads(captured) -> list[str]:
    """The queries that read a page's findings in full (joined to their forest), not only their ids."""
    return [q["sql"] for q in captured.captured_queries if 'JOIN "tenants_forest"' in q["sql"]]


def test_cached_rows_follow_each_change_of_the_findings(client, personas, forest):
    """The rows of a page are kept per version of the tenant's findings: an accept, a fix re-read from
    AD and a rescan each show on the next render; a viewer never gets an admin's buttons."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from identityhub.remediation import actions
    from identityhub.remediation.recheck import refresh_object

    require(bool(settings.REDIS_URL), "REDIS_URL is not set: rows are kept only in a shared cache")
    guids = {name: uuid.uuid4() for name in ("Ann", "Bob", "Cy")}

    def people(**fixed):
        upns = {"Ann": "ann@corp.local", "Bob": "bob smith@acme.com", "Cy": "cy@acme.com", **fixed}
        return [entry(name, upns[name], objectguid=[guids[name].bytes_le]) for name in guids]

    first = scan(forest, people())
    assert first.status == "completed"
    url = "/t/acme/findings/?status=all"
    client.force_login(personas["admin"])
    ann = Finding.objects.get(rule="upn.topleveldomain")
    bob = Finding.objects.get(rule="upn.character")
    assert ">Accept</button>" in row_of(client.get(url).content.decode(), bob)
    with CaptureQueriesContext(connection) as captured:
        assert ">Accept</button>" in row_of(client.get(url).content.decode(), bob)
    assert not full_reads(captured), "a second render of the same rows read them again"

    actions.accept(bob, personas["admin"])
    row = row_of(client.get(url).content.decode(), bob)
    assert f'<span id="status-{bob.pk}">Accepted</span>' in row and ">Accept</button>" not in row

    fixed = entry("Ann", "ann@acme.com", objectguid=[guids["Ann"].bytes_le])  # as a fix left it in AD
    refresh_object(forest, fixed, guids["Ann"])
    row = row_of(client.get(url).content.decode(), ann)
    assert f'<span id="status-{ann.pk}">Resolved</span>' in row and "<button" not in row

    client.force_login(personas["auditor"])
    body = client.get(url).content.decode()
    assert "finding-actions" not in body and 'name="select"' not in body

    scan(forest, people(Bob="bob.smith@acme.com"))  # the rescan finds Bob's UPN fixed
    row = row_of(client.get(url).content.decode(), bob)
    assert f'<span id="status-{bob.pk}">Resolved</span>' in row


def test_rows_are_not_kept_without_a_shared_cache(client, personas, listed, settings):
    """`make run` (no Redis): a scan in the worker process could not tell the web process's memory."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(personas["admin"])
    client.get("/t/acme/findings/")
    with CaptureQueriesContext(connection) as captured:
        client.get("/t/acme/findings/")
    assert full_reads(captured)


def test_the_list_sorted_by_value_reads_its_index_not_a_sort_of_every_finding(client, personas, listed):
    """On PostgreSQL the page of `?sort=value` comes from finding_open_value in order, with no sort at
    all: neither of every open finding nor of the many that share a value (blank values: 16,835 at a
    million objects, 73 ms a page when sorted per request)."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL plan")
    model = Finding.objects.get(rule="upn.topleveldomain")
    many = []
    for i in range(3000):  # enough open findings that reading all of them to sort would cost more
        model.pk, model.key = None, f"k{i}"
        model.value = "" if i % 3 == 0 else f"user{i * 7919 % 3000:04}@corp.local"  # a third share one value
        many.append(Finding(**{f.attname: getattr(model, f.attname) for f in Finding._meta.concrete_fields}))
    Finding.objects.bulk_create(many)
    client.force_login(personas["admin"])
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/t/acme/findings/?sort=value").status_code == 200
    ids = 'SELECT "scans_finding"."id" AS "pk" FROM'  # the page's ids; the rows are then read by id
    ordered = [q["sql"] for q in captured.captured_queries if q["sql"].startswith(ids) and "ORDER BY LEFT(" in q["sql"]]
    assert len(ordered) == 1, ordered
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ANALYZE scans_finding")
        cursor.execute("SET LOCAL enable_seqscan = off")  # a few rows here: as at a million, no table scan
        cursor.execute("EXPLAIN " + ordered[0])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "finding_open_value" in plan, plan
    assert "Sort" not in plan, plan
