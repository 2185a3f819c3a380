"""Bulk ``IN`` lookups on SQLite through the driver's own cursor.

Compiling an ``IN`` of thousands of values through SQLAlchemy Core costs more
than the lookup itself, and rows come back from the driver as plain tuples in
one C call. The SQL text is always the caller's constant; every value is bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection


def sqlite_in(
    connection: Connection,
    head: str,
    values: Sequence[Any],
    tail: str = "",
    parameters: tuple[Any, ...] = (),
) -> list[tuple[Any, ...]]:
    """Rows of ``head (?, …) tail``: ``values`` fill the ``IN`` list, ``parameters`` the tail."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(
            head + "(" + ", ".join("?" * len(values)) + ")" + tail, (*values, *parameters)
        )
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()
