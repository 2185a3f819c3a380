"""The listing table keeps short columns whole while long ones wrap, and never cuts text."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from charter.cli.tables import listing

PURPOSE = "Reconcile Stripe payouts and charges against the general ledger every night " * 2


def render(width: int) -> str:
    table = listing("name", "state", "owner", "purpose", title="Agents")
    table.add_row("finance-reconciler", "active", "priya.nair@acme.example", PURPOSE)
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(table)
    return out.getvalue()


@pytest.mark.parametrize("width", [60, 80, 100, 140])
def test_nothing_is_cut_and_nothing_is_wider_than_the_console(width: int) -> None:
    text = render(width)
    squeezed = re.sub(r"[\s│┃]", "", text)
    for word in PURPOSE.split():
        assert word in squeezed
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width


def test_short_columns_stay_whole_while_the_long_one_wraps() -> None:
    text = render(80)
    assert "│ finance-reconciler │ active │" in text
    assert len([line for line in text.splitlines() if line.startswith("│")]) > 2


def test_when_nothing_fits_every_column_wraps() -> None:
    text = render(40)
    assert "finance-reconciler" not in text  # folded, not cut
    assert "finance" in re.sub(r"[\s│]", "", text)
