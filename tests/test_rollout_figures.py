"""Issue 18: the rollout page's figures of a scan's picture (objects per OU, per object class) are
counted once per scan, when it completes, and read from there; a fix or an acceptance changes the
open counts the page shows at once without counting the picture again."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from identityhub.lib.entry import Entry
from identityhub.remediation import actions
from identityhub.rollout import criteria, figures, progress
from identityhub.rollout.models import ScanFigures
from identityhub.scans.models import DirectoryObject, Finding, ScanRun

from .health_support import ad_group, scan

pytestmark = pytest.mark.django_db

OUS = ("OU=Sales,DC=corp,DC=acme,DC=example", "OU=Staff,DC=corp,DC=acme,DC=example")


def user(i: int) -> Entry:
    name = f"Smith{i}"
    return Entry(
        dn=f"CN={name},{OUS[i % 2]}",
        attributes={
            "objectclass": ["top", "person", "organizationalPerson", "user"],
            "objectguid": [uuid.UUID(int=i + 1).bytes_le],
            "cn": [name],
            "samaccountname": [name.lower()],
            "displayname": [name],
            "userprincipalname": [f"{name.lower()} x@acme.com"],  # a space: blocking
        },
        source="corp",
    )


def team():
    return ad_group("Team", mail="team@acme.com", guid=uuid.UUID(int=999))


def picture(forest) -> ScanRun:
    return scan(forest, [*(user(i) for i in range(5)), team()])


def counted_directly(run: ScanRun, field: str) -> dict:
    rows = DirectoryObject.objects.filter(scan=run).order_by().values_list(field).annotate(n=Count("pk"))
    return dict(rows.values_list(field, "n"))


def test_a_completed_scan_stores_its_figures_and_the_page_reads_them(client, personas, forest):
    run = picture(forest)
    stored = ScanFigures.objects.get(scan=run)
    assert stored.as_of == (run.refreshed or run.finished)
    assert stored.objects_by_ou == counted_directly(run, "ou")
    assert stored.objects_by_ou[OUS[0]] == 3 and stored.objects_by_ou[OUS[1]] == 2
    assert stored.objects_by_class == counted_directly(run, "object_class") == {"user": 5, "group": 1}

    client.force_login(personas["lead"])
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/t/acme/rollout/")
    assert not [q["sql"] for q in captured.captured_queries if "scans_directoryobject" in q["sql"]]
    objects = {row["name"]: row["objects"] for row in response.context["ous"]}
    assert objects == {ou: n for ou, n in counted_directly(run, "ou").items() if ou in objects}
    assert objects[OUS[0]] == 3 and objects[OUS[1]] == 2
    # The criterion "synced counts match" reads them too.
    ev = criteria.Evidence(forest.tenant, progress.checkpoint_of(forest.tenant))
    assert ev.onprem_counts == {"users": 5, "groups": 1}


def test_a_new_picture_replaces_the_figures_of_the_old_one(forest):
    first = picture(forest)
    second = scan(forest, [*(user(i) for i in range(8)), team()])  # none dropped: not held by the guard
    assert second.is_current and list(ScanFigures.objects.values_list("scan", flat=True)) == [second.pk] != [first.pk]
    assert ScanFigures.objects.get(scan=second).objects_by_class == {"user": 8, "group": 1}


def test_accepting_a_finding_updates_the_open_counts_but_does_not_count_the_picture_again(client, personas, forest):
    run = picture(forest)
    stored = ScanFigures.objects.get(scan=run)
    client.force_login(personas["lead"])
    before = client.get("/t/acme/rollout/").context
    blocking = before["checkpoint"].open_blocking
    sales_before = next(row for row in before["ous"] if row["name"] == OUS[0])["blocking"]
    assert blocking == Finding.objects.filter(forest=forest, severity="blocking").open().count() > 0

    finding = Finding.objects.filter(forest=forest, severity="blocking", ou=OUS[0]).open().first()
    actions.accept(finding, personas["lead"])

    with CaptureQueriesContext(connection) as captured:
        after = client.get("/t/acme/rollout/").context
        progress.recompute(forest.tenant)  # what the worker does after an acceptance
    assert after["checkpoint"].open_blocking == blocking - 1
    assert next(row for row in after["ous"] if row["name"] == OUS[0])["blocking"] == sales_before - 1
    assert not [q["sql"] for q in captured.captured_queries if "scans_directoryobject" in q["sql"]]
    writes = [q["sql"] for q in captured.captured_queries if "rollout_scanfigures" in q["sql"]]
    assert not [sql for sql in writes if not sql.startswith("SELECT")]
    assert ScanFigures.objects.get(scan=run).as_of == stored.as_of


def test_a_picture_without_figures_is_counted_once_on_first_need(client, personas, forest):
    """Scans from before the figures were stored: the first page that needs them counts and keeps them."""
    run = picture(forest)
    ScanFigures.objects.all().delete()
    client.force_login(personas["lead"])
    client.get("/t/acme/rollout/")
    assert ScanFigures.objects.get(scan=run).objects_by_class == {"user": 5, "group": 1}

    actions.accept(Finding.objects.filter(forest=forest).open().first(), personas["lead"])
    with CaptureQueriesContext(connection) as captured:
        client.get("/t/acme/rollout/")
    assert not [q["sql"] for q in captured.captured_queries if "scans_directoryobject" in q["sql"]]


def test_figures_follow_the_picture_a_delta_changed(forest):
    """A delta changes its full scan's picture in place and moves its `refreshed`: counted anew."""
    run = picture(forest)
    [stored] = figures.of_scans([run])
    DirectoryObject.objects.filter(scan=run, object_class="group").delete()
    assert figures.of_scans([run])[0].objects_by_class == stored.objects_by_class  # same picture time: kept
    ScanRun.objects.filter(pk=run.pk).update(refreshed=(run.refreshed or run.finished) + timedelta(minutes=5))
    run.refresh_from_db()
    assert figures.of_scans([run])[0].objects_by_class == {"user": 5}
    assert ScanFigures.objects.get(scan=run).as_of == run.refreshed


def queries(client, path) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200, path
    return [q["sql"] for q in captured.captured_queries]


def counting(sql: list[str]) -> list[str]:
    """Queries that count findings or objects: what a warm page must not run."""
    return [s for s in sql if "scans_directoryobject" in s or ("scans_finding" in s and "GROUP BY" in s)]


# What each page needs for the lead (who sees every control) once its counts are kept: the
# session, the user, the tenant and the membership, then the page's own few. A ceiling, not a timing.
WARM = {"/t/acme/rollout/": 13, "/t/acme/": 8, "/rollout/": 5}


@pytest.mark.usefixtures("shared_cache")
@pytest.mark.parametrize("path", WARM)
def test_a_warm_page_counts_nothing_and_stays_within_its_queries(client, personas, forest, path):
    picture(forest)
    client.force_login(personas["lead"])
    client.get(path)  # the counts of this version of the findings
    sql = queries(client, path)
    assert not counting(sql), counting(sql)
    assert len(sql) <= WARM[path], "\n".join(sql)


def add_forest(tenant, name):
    from identityhub.tenants.models import Forest

    forest = Forest.objects.create(tenant=tenant, name=name, servers="127.0.0.11", base_dns=f"DC={name}")
    scan(forest, [user(i) for i in range(2)])
    return forest


def test_the_overview_and_the_rollout_page_do_not_query_per_forest(client, personas, forest):
    picture(forest)
    client.force_login(personas["lead"])
    paths = ("/t/acme/", "/t/acme/rollout/")
    for path in paths:
        client.get(path)
    one = {path: len(queries(client, path)) for path in paths}
    add_forest(forest.tenant, "fabrikam")
    add_forest(forest.tenant, "contoso")
    for path in paths:
        client.get(path)
        assert len(queries(client, path)) == one[path], path


@pytest.mark.usefixtures("shared_cache")
def test_the_portfolio_does_not_query_per_tenant(client, personas, tenant, other_tenant, forest):
    from identityhub.tenants.models import Tenant

    picture(forest)
    client.force_login(personas["superuser"])  # sees every tenant
    client.get("/rollout/")
    before = len(queries(client, "/rollout/"))
    for slug in ("initech", "umbrella"):
        add_forest(Tenant.objects.create(name=slug, slug=slug), "corp")
    client.get("/rollout/")
    assert len(queries(client, "/rollout/")) == before


def test_each_webhook_shows_its_latest_delivery_without_loading_the_others(client, personas, tenant):
    """A hook's deliveries pile up over the months: the page reads the latest of each, not all of them."""
    from identityhub.rollout.models import Webhook

    hooks = [Webhook.objects.create(tenant=tenant, url=f"https://hooks.example/{i}", events=["test"]) for i in (1, 2)]
    for hook in hooks:
        for event in ("scan.new_blocking", "health.red", "step.completed"):
            hook.deliveries.create(event=event, payload={"text": event})
    client.force_login(personas["lead"])
    with CaptureQueriesContext(connection) as captured:
        page = client.get("/t/acme/rollout/").content.decode()
    assert page.count("last: step.completed") == 2 and "last: health.red" not in page
    delivery_queries = [q["sql"] for q in captured.captured_queries if "rollout_webhookdelivery" in q["sql"]]
    assert len(delivery_queries) == 1 and "ROW_NUMBER" in delivery_queries[0].upper()


@pytest.mark.usefixtures("shared_cache")
def test_the_open_findings_are_counted_both_ways_in_one_pass(client, personas, forest):
    """After a change the first viewer of the rollout page waits for the open findings by forest and
    rule and by OU: one GROUP BY on PostgreSQL, with the figures of the two separate ones."""
    from django.core.cache import cache

    from identityhub.rollout import score
    from identityhub.scans import counts

    picture(forest)
    actions.accept(Finding.objects.filter(forest=forest).open().first(), personas["lead"])
    by_forest, by_ou = score._open_both_ways(forest.tenant)
    assert sorted(by_forest) == sorted(counts.count_open(forest.tenant))
    assert sorted(by_ou) == sorted(score._open_by_ou(forest.tenant))

    client.force_login(personas["lead"])
    cache.clear()
    sql = queries(client, "/t/acme/rollout/")
    grouping = [s for s in sql if "scans_finding" in s and "GROUP BY" in s]
    assert len(grouping) == (1 if connection.vendor == "postgresql" else 2), grouping


def test_pages_that_show_forests_do_not_decrypt_their_secrets(client, personas, forest):
    """The overview, the rollout page and the portfolio show forests and webhooks, never bind with
    them: a secret stored under another key (a restored backup) does not break them, and a page
    does not pay a decryption per forest."""
    from identityhub.rollout.models import Webhook

    picture(forest)
    Webhook.objects.create(tenant=forest.tenant, url="https://hooks.example/1", events=["test"], secret="s")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE tenants_forest SET bind_password = 'gAAAAAnot-under-this-key'")
        cursor.execute("UPDATE rollout_webhook SET secret = 'gAAAAAnot-under-this-key'")
    client.force_login(personas["lead"])
    for path in ("/t/acme/", "/t/acme/rollout/", "/rollout/"):
        assert client.get(path).status_code == 200, path
