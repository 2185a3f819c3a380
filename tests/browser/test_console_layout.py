"""The agents table fits a laptop's window: at 1366×768 nothing scrolls sideways, on the
sample estate (long purposes, several systems, shadow agents)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.server import LiveServer

pytestmark = pytest.mark.browser

ADMIN = "admin@acme.example"


def test_the_agents_table_fits_1366_pixels(as_user: Any, console: LiveServer) -> None:
    tab = as_user(ADMIN)
    tab.page.set_viewport_size({"width": 1366, "height": 768})
    tab.go("/agents")
    widths = tab.page.evaluate(
        """() => {
            const wrap = document.querySelector('.table-wrap');
            const table = wrap.querySelector('table');
            return {
                table: table.scrollWidth,
                wrap: wrap.clientWidth,
                page: document.documentElement.scrollWidth,
                viewport: window.innerWidth,
                rows: table.querySelectorAll('tbody tr').length,
                columns: [...table.querySelectorAll('thead th')].map(
                    th => th.innerText + '=' + th.offsetWidth),
            };
        }"""
    )
    tab.shot("agents-1366")
    assert widths["rows"] >= 5, widths  # the sample estate's agents, not an empty table
    assert widths["table"] <= widths["wrap"], widths  # no sideways scroll (columns: why not)
    assert widths["page"] <= widths["viewport"] <= 1366, widths
    owners = tab.page.locator("table.agents td.owner").all_inner_texts()
    assert "no owner" in owners and "unowned@charter.example" not in " ".join(owners)
