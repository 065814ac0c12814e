from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """?page=N, and ?page_size= up to 1000 (100 by default)."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
