"""Page sizes of every list, in the pages and the API: one place, so no request can ask for an unbounded page.

A list page renders each row it shows (≈2.6 ms a finding), so `?per_page=100000000` must not mean a hundred
million rows. Any `per_page` the pages receive is brought to one of PAGE_SIZES (at most MAX_PAGE_SIZE); a
page number past the end shows the last page, one that is not a positive number the first. The API allows
larger pages (a script reads them, nothing is rendered) up to API_MAX_PAGE_SIZE.
"""

from django.core.paginator import Paginator
from django.db.models import QuerySet

# The page sizes a list offers (the findings list's chooser uses these); the largest is the maximum.
PAGE_SIZES = (25, 50, 100, 200)
MAX_PAGE_SIZE = PAGE_SIZES[-1]
DEFAULT_PAGE_SIZE = 50
# How far into a list a page may start, counted from whichever end is nearer: a page is read from the
# order's index with OFFSET, so page 5,000 of half a million findings sorted by value skipped 250,000
# index entries and their rows (343 ms; 8 s under load, issue 18). Deeper pages are not read; the
# list says how to reach those rows (narrow the filter, reverse the sort, export, or the API's ?after=).
MAX_DEPTH = 10_000
# The REST API: ?page_size= up to this (100 by default).
API_PAGE_SIZE = 100
API_MAX_PAGE_SIZE = 1000


def _int(text) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def page_size(requested, default: int = DEFAULT_PAGE_SIZE) -> int:
    """The allowed page size for a requested one: the smallest of PAGE_SIZES that holds it, at most the maximum.

    Missing, non-numeric, zero or negative: the list's default.
    """
    number = _int(requested)
    if number is None or number < 1:
        return default
    return next((size for size in PAGE_SIZES if size >= number), MAX_PAGE_SIZE)


class CountedPaginator(Paginator):
    """A Paginator told its total (e.g. from counts kept per tenant) instead of running COUNT(*)."""

    def __init__(self, object_list, per_page, count: int | None = None):
        super().__init__(object_list, per_page)
        if count is not None:
            self.count = count  # replaces the cached_property that would count


def _break_ties(table) -> None:
    """Order the table's queryset by its primary key last: rows that sort equal (same severity and
    rule) keep one order from page to page, and the ORDER BY matches the indexes that end in `id`."""
    queryset = getattr(table.data, "data", None)
    if not isinstance(queryset, QuerySet):
        return
    order = list(queryset.query.order_by) or list(queryset.model._meta.ordering)
    names = {item.lstrip("-") for item in order if isinstance(item, str)}
    if not names & {"pk", "id"}:
        table.data.data = queryset.order_by(*order, "pk")


def paginate(request, table, default: int = DEFAULT_PAGE_SIZE, count: int | None = None):
    """Sort and page a django-tables2 table from the request's ?sort=, ?page= and ?per_page=, within the bounds.

    `count`: the number of rows when the caller knows it (no COUNT query then)."""
    order_by = request.GET.getlist(table.prefixed_order_by_field)
    if order_by:
        table.order_by = order_by
    _break_ties(table)
    table.request = request
    per_page = page_size(request.GET.get(table.prefixed_per_page_field), default)
    table.paginator = CountedPaginator(table.rows, per_page, count)
    # get_page: a page past the end is the last one; zero, negative or not a number is the first.
    number = _int(request.GET.get(table.prefixed_page_field))
    table.page = table.paginator.get_page(number if number and number > 0 else 1)
    return table


def page_of(request, queryset, default: int = DEFAULT_PAGE_SIZE):
    """One page of a plain (non-table) list from ?page= and ?per_page=, within the same bounds."""
    paginator = Paginator(queryset, page_size(request.GET.get("per_page"), default))
    number = _int(request.GET.get("page"))
    return paginator.get_page(number if number and number > 0 else 1)
