"""Every table's header and pager (templates/includes/table.html), written in Python.

Through django-tables2's templates, a header cell is an attrs call, a {% querystring_replace %} and a
few lookups, and the pager a dozen more: ~0.7 ms of every request of the findings list (issue 18),
for markup that only the query string changes. The markup is the templates' (tests/test_table_markup.py).
"""

from django import template
from django.utils.html import conditional_escape, escape
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django_tables2.templatetags.django_tables2 import table_page_range

register = template.Library()


def _query(request, updates: dict) -> str:
    """As {% querystring_replace %}: the request's query string with `updates` in it, escaped."""
    params = dict(request.GET)
    params.update(updates)
    return escape("?" + urlencode(params, doseq=True))


def _attrs(attrs, name: str) -> str:
    # As {{ attrs.<name>.as_html }}: nothing when the table sets no such attributes.
    value = attrs.get(name)
    return value.as_html() if hasattr(value, "as_html") else ""


@register.simple_tag(takes_context=True)
def table_head(context, table) -> SafeString:
    """The <thead>: each column's header, a link that sorts by it when it can."""
    if not table.show_header:
        return mark_safe("")
    request, order_by = context["request"], table.prefixed_order_by_field
    cells = []
    for column in table.columns:
        header = conditional_escape(column.header)
        if column.orderable:
            header = f'<a href="{_query(request, {order_by: column.order_by_alias.next})}">{header}</a>'
        cells.append(f"<th {column.attrs['th'].as_html()}>{header}</th>")
    return mark_safe(f"<thead {_attrs(table.attrs, 'thead')}><tr>{''.join(cells)}</tr></thead>")  # noqa: S308


@register.simple_tag(takes_context=True)
def table_pager(context, table) -> SafeString:
    """Numbered pages with the current one marked, and a choice of page size."""
    page = getattr(table, "page", None)
    # An empty page has no pager, unless it is a page the list chose not to read (FindingTable.too_deep):
    # the way back to the pages it reads.
    if not page and not getattr(table, "too_deep", False):
        return mark_safe("")
    request, paginator, field = context["request"], table.paginator, table.prefixed_page_field
    parts = ['<nav class="pager" aria-label="Pages">']
    if paginator.num_pages > 1:
        parts.append('<ul class="pagination">')
        if page.has_previous():
            url = _query(request, {field: page.previous_page_number()})
            parts.append(f'<li><a href="{url}" rel="prev">‹ Previous</a></li>')
        for number in table_page_range(page, paginator):
            if number == "...":
                parts.append('<li class="gap">…</li>')
            elif number == page.number:
                parts.append(f'<li class="current"><span aria-current="page">{number}</span></li>')
            else:
                parts.append(f'<li><a href="{_query(request, {field: number})}">{number}</a></li>')
        if page.has_next():
            url = _query(request, {field: page.next_page_number()})
            parts.append(f'<li><a href="{url}" rel="next">Next ›</a></li>')
        parts.append("</ul>")
    if paginator.count > 25:
        sizes = []
        for size in getattr(table, "page_sizes", ()):
            if size == paginator.per_page:
                sizes.append(f'<strong aria-current="true">{size}</strong>')
            else:
                url = _query(request, {table.prefixed_per_page_field: size, field: 1})
                sizes.append(f'<a href="{url}">{size}</a>')
        parts.append(f'<span class="page-size">Rows per page: {"".join(sizes)}</span>')
    parts.append("</nav>")
    return mark_safe("".join(parts))  # noqa: S308 - the query strings are escaped, the rest are numbers
