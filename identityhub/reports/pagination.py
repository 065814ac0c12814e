from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from identityhub.paging import API_MAX_PAGE_SIZE, API_PAGE_SIZE, CountedPaginator


class Pagination(PageNumberPagination):
    """?page=N, and ?page_size= up to API_MAX_PAGE_SIZE (API_PAGE_SIZE by default); a page that is not there: 404.

    ?after=<id>: keyset paging, for reading a whole list: the rows after that id (the lists are in id
    order), each page found through the index as fast as the first, and no COUNT. The answer has no
    `count`; `next` carries the id to continue after, and is null on the last page. A page number
    makes the database skip every row before the page (page 5,000 of half a million findings reads
    all of them). Its `count` is the view's `count_of(queryset)` when the view keeps its totals (the
    findings: once per change of the tenant's findings), otherwise a COUNT on every page.
    """

    page_size = API_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = API_MAX_PAGE_SIZE
    after_query_param = "after"

    def paginate_queryset(self, queryset, request, view=None):
        self.after = request.query_params.get(self.after_query_param)
        if self.after is None:
            count_of = getattr(view, "count_of", None)
            if count_of is not None:
                count = count_of(queryset)
                self.django_paginator_class = lambda rows, size: CountedPaginator(rows, size, count)
            return super().paginate_queryset(queryset, request, view)
        try:
            after = int(self.after)
        except ValueError:
            raise ValidationError({self.after_query_param: ["An id (a whole number)."]}) from None
        self.request = request
        size = self.get_page_size(request)
        rows = list(queryset.filter(pk__gt=after).order_by("pk")[: size + 1])
        self.has_more = len(rows) > size
        self.rows = rows[:size]
        return self.rows

    def get_paginated_response(self, data):
        if self.after is None:
            return super().get_paginated_response(data)
        url = self.request.build_absolute_uri()
        following = replace_query_param(url, self.after_query_param, self.rows[-1].pk) if self.has_more else None
        return Response({"next": following, "previous": None, "results": data})
