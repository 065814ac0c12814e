"""Issue 18: what the change log, the object page and the health page read per request, beyond what they show.

Both pages name a forest; neither needs its bind password, which the database holds encrypted and
Django decrypts for every row that carries it (a join per finding, per change). A count of the
planned changes, asked by every change log request, is answered from an index of those alone.
"""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from identityhub.health import matching
from identityhub.lib import rules
from identityhub.remediation import planned
from identityhub.remediation.models import Change
from identityhub.scans.filters import FindingFilter
from identityhub.scans.models import Finding
from identityhub.tenants.models import Forest

from .reports_support import make_report_data

SECRET = '"tenants_forest"."bind_password"'


@pytest.fixture
def data(forest, personas):
    return make_report_data(forest, personas["admin"])


def sql_of(client, url) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return [q["sql"] for q in captured.captured_queries]


def test_the_object_page_does_not_read_the_forests_password(client, personas, data):
    client.force_login(personas["lead"])  # may edit: the findings' action buttons are rendered too
    finding = data["findings"]["blocking"]
    sql = sql_of(client, finding.get_absolute_url())
    assert not [s for s in sql if SECRET in s], sql
    body = client.get(finding.get_absolute_url()).content.decode()
    assert finding.forest.name in body and finding.value in body
    assert f"/t/acme/scans/{data['scan'].pk}/" in body  # the history's links name the tenant


@pytest.mark.parametrize("query", ["", "?result=applied", "?forest=1"])
def test_the_change_log_does_not_read_the_forests_password(client, personas, data, forest, query):
    client.force_login(personas["admin"])
    url = "/t/acme/changes/" + query.replace("forest=1", f"forest={forest.pk}")
    sql = sql_of(client, url)
    assert not [s for s in sql if SECRET in s], sql
    body = client.get(url).content.decode()
    assert forest.name in body  # in the rows and in the filter's choices


def test_the_planned_changes_are_counted_from_their_own_index(data, forest):
    """Every change log request counts the planned changes: without an index of those, a sequential
    scan of every change the tenant ever made (≈100 ms at 100,000 changes)."""
    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    query = planned.pending(forest.tenant).order_by()
    assert Change.objects.filter(result=Change.Result.PLANNED).count() == 0  # the plan, not the rows, is asked
    sql, params = query.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a few rows: the planner would scan them anyway
        cursor.execute(f"EXPLAIN SELECT COUNT(*) FROM ({sql}) AS planned", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "change_planned" in plan, plan


@pytest.mark.usefixtures("shared_cache")
def test_a_warm_health_page_does_not_count_the_findings(client, personas, data):
    """Collisions, awaiting sync, verified clean: counted once per change of the findings, and a
    pull that verifies a fix is such a change."""
    client.force_login(personas["auditor"])
    tenant, resolved = data["scan"].tenant, data["findings"]["resolved"]
    body = client.get("/t/acme/health/").content.decode()
    assert "1 fixed, awaiting sync" in body and "0 verified clean" in body
    sql = sql_of(client, "/t/acme/health/")
    assert not [s for s in sql if "scans_finding" in s and "COUNT(" in s.upper()], sql

    later = timezone.now() + timedelta(minutes=1)
    assert matching.verify_fixed(tenant, later, {("anchor", matching.anchor_of(resolved.guid))}, [], later) == 1
    body = client.get("/t/acme/health/").content.decode()
    assert "0 fixed, awaiting sync" in body and "1 verified clean" in body


def test_a_signed_in_page_reads_its_session_from_the_shared_cache(client, personas, data, shared_cache):
    """Every signed-in request loads its session: from Redis (cached_db), not a query each time; the
    database still holds it, so a session the cache lost still signs its user in."""
    from importlib import import_module

    from django.conf import settings

    client.force_login(personas["admin"])
    sql = sql_of(client, "/t/acme/findings/")
    assert not [s for s in sql if "django_session" in s], sql

    store = import_module(settings.SESSION_ENGINE).SessionStore(client.session.session_key)
    from django.core.cache import caches

    caches[settings.SESSION_CACHE_ALIAS].delete(store.cache_key)  # as a flushed or restarted Redis
    sql = sql_of(client, "/t/acme/findings/")
    assert [s for s in sql if "django_session" in s], "the lost session was not read back from the database"


@pytest.mark.parametrize("path", ["/t/acme/findings/", "/t/acme/findings/?forest=1", "/t/acme/changes/"])
def test_a_filter_form_reads_its_forests_without_a_server_side_cursor(client, personas, data, forest, path):
    """A model choice field reads its choices with .iterator(): on PostgreSQL a server-side cursor,
    DECLARE, FETCH and CLOSE, three round trips for a tenant's one or two forests."""
    client.force_login(personas["admin"])
    path = path.replace("forest=1", f"forest={forest.pk}")
    sql = sql_of(client, path)
    assert not [s for s in sql if s.lstrip().upper().startswith("DECLARE")], sql
    body = client.get(path).content.decode()
    selected = "selected" if "forest=" in path else ""
    assert re.search(rf'<option value="{forest.pk}"[^>]*{selected}[^>]*>{re.escape(forest.name)}</option>', body)


def test_the_findings_list_reads_the_forests_once(client, personas, data, forest):
    """The forest filter's choices and the table's forest names (a second forest shows the column)
    are the same rows: one query."""
    Forest.objects.create(tenant=forest.tenant, name="b-second.example", servers="127.0.0.12", base_dns="DC=b")
    client.force_login(personas["admin"])
    sql = sql_of(client, "/t/acme/findings/")
    assert len([s for s in sql if 'FROM "tenants_forest"' in s]) == 1, sql
    body = client.get("/t/acme/findings/").content.decode()
    assert 'class="col-forest"' in body and f'<td class="col-forest">{forest.name}</td>' in body
    assert body.index(">b-second.example</option>") < body.index(f">{forest.name}</option>")  # by name


def test_the_findings_filter_shares_its_choices_instead_of_copying_them(forest):
    """A FilterSet deep-copies its filters and its form its fields on every request: the ~100
    problems were copied twice per request of the findings list."""
    first, second = (FindingFilter({}, tenant=forest.tenant, queryset=Finding.objects.none()) for _ in range(2))
    for name in ("status", "severity", "rule", "error", "object_class"):
        assert first.filters[name].extra["choices"] is second.filters[name].extra["choices"], name
        assert first.form.fields[name].choices.choices is second.form.fields[name].choices.choices, name
    codes = [value for value, _label in first.form.fields["rule"].choices][1:]
    assert sorted(codes) == sorted(rules.RULES)
    assert not FindingFilter({"rule": "no.such.rule"}, tenant=forest.tenant, queryset=Finding.objects.none()).is_valid()


def test_the_findings_filter_form_renders_no_widget_template(client, personas, data):
    """Its selects and text inputs are written in Python (identityhub/widgets.py): a template per
    widget (and an attrs template in each) on every request of the list."""
    client.force_login(personas["admin"])
    response = client.get("/t/acme/findings/?q=a%22b&attribute=mail")
    assert not [t.name for t in response.templates if t.name.startswith("django/forms/")]
    body = response.content.decode()
    assert '<input type="text" name="q" value="a&quot;b" id="id_q">' in body
    assert '<input type="text" name="attribute" value="mail" id="id_attribute">' in body


def test_a_tenant_page_reads_the_tenant_and_the_users_role_in_one_query(client, personas, data):
    """Every tenant page asks who the user is to the tenant: with the tenant, not a query of its own."""
    client.force_login(personas["auditor"])
    sql = sql_of(client, "/t/acme/findings/")
    assert not [s for s in sql if s.startswith('SELECT "tenants_membership"')], sql
    assert client.post("/t/acme/findings/1/accept/").status_code == 403  # the role still decides
