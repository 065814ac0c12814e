"""Rows of a long export read from a server-side cursor, one chunk at a time, from the first row.

Outside a transaction Django declares its server-side cursor WITH HOLD, and PostgreSQL materialises
such a cursor in full when the implicit transaction around DECLARE commits: an export of half a
million findings computed every row (and every correlated subquery) before its first byte, 3.5 s at
a million objects on a quiet machine and past gunicorn's 30 s worker timeout under load (issue 18).
Inside a transaction the cursor is a plain one that PostgreSQL runs as it is read. The transaction
only reads; it ends with the iteration, or rolls back when the client goes away (the generator is
closed).
"""

from collections.abc import Iterator

from django.db import transaction
from django.db.models import QuerySet

CHUNK = 2000


def streamed(queryset: QuerySet, chunk_size: int = CHUNK) -> Iterator:
    with transaction.atomic(using=queryset.db):
        yield from queryset.iterator(chunk_size=chunk_size)
