"""Every listing's table: all columns stay, long cells wrap to the width, nothing is cut.

Rich shrinks a table that is wider than the console; a column that may not wrap
is then cut with an ellipsis, or squeezed to nothing. Here every column may wrap:
the widest shrink first, words wrap at spaces, and a word longer than its column
folds onto the next line, so each cell's whole text is printed at any width, on
a terminal or piped. ``--json`` is the form for machines.
"""

from __future__ import annotations

from rich.table import Column, Table


def listing(*columns: str | Column, title: str | None = None) -> Table:
    """A table with these columns (a header, or a ``Column`` for alignment and style)."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        spec = column if isinstance(column, Column) else Column(column)
        table.add_column(
            spec.header,
            justify=spec.justify,
            style=spec.style,
            header_style=spec.header_style,
            overflow="fold",
            no_wrap=False,
        )
    return table


def numeric(header: str) -> Column:
    """A right-aligned column for counts and scores."""
    return Column(header, justify="right")
