"""Every table's header and pager, written in Python (tenants/templatetags/tables.py): the markup
django-tables2's templates and includes/table.html wrote, for sorted columns, awkward query strings
and pages far from either end."""

import re

import django_tables2 as tables
import pytest
from django.template import engines
from django.test import RequestFactory
from django.utils.safestring import mark_safe

from identityhub import paging
from identityhub.scans.models import Finding
from identityhub.scans.tables import FindingTable

# templates/includes/table.html before the header and pager were written in Python.
OLD = """{% extends "django_tables2/table.html" %}
{% load django_tables2 %}
{% block pagination %}
{% if table.page %}
<nav class="pager" aria-label="Pages">
  {% if table.paginator.num_pages > 1 %}
  <ul class="pagination">
    {% if table.page.has_previous %}<li><a href="{% querystring_replace table.prefixed_page_field=table.page.previous_page_number %}" rel="prev">‹ Previous</a></li>{% endif %}
    {% for p in table.page|table_page_range:table.paginator %}
      {% if p == '...' %}<li class="gap">…</li>
      {% elif p == table.page.number %}<li class="current"><span aria-current="page">{{ p }}</span></li>
      {% else %}<li><a href="{% querystring_replace table.prefixed_page_field=p %}">{{ p }}</a></li>{% endif %}
    {% endfor %}
    {% if table.page.has_next %}<li><a href="{% querystring_replace table.prefixed_page_field=table.page.next_page_number %}" rel="next">Next ›</a></li>{% endif %}
  </ul>
  {% endif %}
  {% if table.paginator.count > 25 %}
  <span class="page-size">Rows per page:
    {% for size in table.page_sizes %}{% if size == table.paginator.per_page %}<strong aria-current="true">{{ size }}</strong>{% else %}<a href="{% querystring_replace table.prefixed_per_page_field=size table.prefixed_page_field=1 %}">{{ size }}</a>{% endif %}{% endfor %}
  </span>
  {% endif %}
</nav>
{% endif %}
{% endblock pagination %}"""  # noqa: E501


class PeopleTable(tables.Table):
    page_sizes = (25, 50, 100, 200)
    select = tables.CheckBoxColumn(accessor="n", attrs={"th__input": {"aria-label": 'Select "all"'}})
    name = tables.Column(verbose_name='Name <&> "quoted"', attrs={"th": {"class": "col-name", "title": "a&b"}})
    n = tables.Column()
    note = tables.Column(orderable=False, verbose_name=mark_safe("<em>Note</em>"))

    class Meta:
        attrs = {"class": "table", "thead": {"class": "head"}}


def normal(html) -> str:
    return re.sub(r">\s+<", "><", " ".join(str(html).split()))


def both(make_table, request) -> tuple[str, str]:
    """The old templates' and the new one's <thead> and pager, each rendering a table of its own (the
    rows' odd/even classes go on from one rendering of a table to the next)."""
    engine = engines["django"]
    old = engine.from_string(OLD).render({"table": make_table()}, request)
    new = engine.get_template("includes/table.html").render({"table": make_table()}, request)
    parts = r"<thead.*</thead>|<nav.*</nav>"
    return re.findall(parts, normal(old)), re.findall(parts, normal(new))


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?page=2",
        "?page=7&sort=-name",
        "?sort=n&per_page=25&page=40",
        "?q=%3Cb%3E%22%26x&page=13&page=14",
        "?page=999",
    ],
)
@pytest.mark.parametrize("rows", [0, 20, 30, 1000])
def test_the_header_and_pager_are_the_markup_the_templates_wrote(query, rows):
    request = RequestFactory().get("/t/acme/people/" + query)

    def make_table():
        table = PeopleTable([{"name": f"P{i}", "n": i, "note": "<x>"} for i in range(rows)])
        return paging.paginate(request, table, default=25)

    old, new = both(make_table, request)
    assert old == new
    assert len(new) == (2 if rows else 1)


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["", "?sort=-value&rule=x&page=3"])
def test_the_findings_header_is_the_markup_the_templates_wrote(query, tenant):
    request = RequestFactory().get("/t/acme/findings/" + query)

    def make_table():
        table = paging.paginate(request, FindingTable(Finding.objects.none(), tenant=tenant), count=12345)
        table.load_page()
        table.page.object_list = [1]  # a page with rows: the pager shows
        return table

    old, new = both(make_table, request)
    assert old == new and len(new) == 2
