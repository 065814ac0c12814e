from rest_framework.pagination import PageNumberPagination

from identityhub.paging import API_MAX_PAGE_SIZE, API_PAGE_SIZE


class Pagination(PageNumberPagination):
    """?page=N, and ?page_size= up to API_MAX_PAGE_SIZE (API_PAGE_SIZE by default); a page that is not there: 404."""

    page_size = API_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = API_MAX_PAGE_SIZE
