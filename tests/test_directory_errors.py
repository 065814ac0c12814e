"""The messages for search results no lab server here produces (paging refused, size limits)."""

import pytest

from identityhub.lib import directory


@pytest.mark.parametrize(
    ("description", "error", "text"),
    [
        ("unavailableCriticalExtension", directory.PagingRefusedError, "refused paged results"),
        ("sizeLimitExceeded", directory.SizeLimitError, "size limit"),
        ("adminLimitExceeded", directory.SizeLimitError, "MaxPageSize"),
        ("noSuchObject", directory.BaseDnNotFoundError, "does not exist"),
        ("insufficientAccessRights", directory.DirectoryError, "may not read"),
    ],
)
def test_search_failures_are_named(description, error, text):
    with pytest.raises(error, match=text):
        directory._raise_for_search_result({"description": description, "message": "x"}, "DC=corp,DC=example")


def test_a_successful_search_raises_nothing():
    directory._raise_for_search_result({"description": "success"}, "DC=corp,DC=example")
