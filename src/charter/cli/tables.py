"""Every listing's table: all columns stay, long cells wrap to the width, nothing is cut.

Rich shrinks a table that is wider than the console; a column that may not wrap
is then cut with an ellipsis, or squeezed to nothing. Here the short columns
(names, states, versions) are kept whole while the long ones (purposes,
messages) still have room to wrap; when even that does not fit, every column
wraps, the widest first. A word longer than its column folds onto the next
line, so each cell's whole text is printed at any width, on a terminal or
piped. ``--json`` is the form for machines.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Column, Table

#: The least each wrapping column is given before a short column is kept whole ...
MIN_WRAPPED_WIDTH = 12
#: ... and the share of the width the wrapping columns keep together.
WRAPPED_SHARE = 3


class Listing(Table):
    """A table that decides, at each render, which columns it can keep unwrapped."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        self._keep_short_columns_whole(console, options)
        yield from super().__rich_console__(console, options)

    def _keep_short_columns_whole(self, console: Console, options: ConsoleOptions) -> None:
        widths = {
            index: max(
                Measurement.get(console, options, cell).maximum
                for cell in (column.header, *column.cells)
            )
            for index, column in enumerate(self.columns)
        }
        room = options.max_width - (3 * len(self.columns) + 1)  # borders and padding
        kept: set[int] = set()
        for index in sorted(widths, key=widths.__getitem__):
            rest = [i for i in widths if i != index and i not in kept]
            need = sum(min(MIN_WRAPPED_WIDTH, widths[i]) for i in rest)
            spent = sum(widths[i] for i in kept) + widths[index]
            if not rest or room - spent < max(need, room // WRAPPED_SHARE):
                break
            kept.add(index)
        for index, column in enumerate(self.columns):
            column.no_wrap = index in kept


def listing(*columns: str | Column, title: str | None = None) -> Table:
    """A table with these columns (a header, or a ``Column`` for alignment and style)."""
    table = Listing(title=title, title_justify="left")
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
