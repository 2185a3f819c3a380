"""Listings keep every column and every cell's whole text, at any width, on a pipe too.

The CLI runs as a user runs it (a real process and store); the table it prints is
read back column by column and compared with the same listing's ``--json``.
"""

from __future__ import annotations

import json
import re

import pytest
from tests.support.server import ROOT, charter_env, run_cli

AGENTS = ROOT / "examples" / "agents"
#: COLUMNS as a terminal sets it; None is a pipe with no COLUMNS (Charter renders 140 wide).
WIDTHS = [80, 100, None]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = charter_env(tmp_path_factory.mktemp("tables"))
    env.pop("COLUMNS")
    people = run_cli("people", "import", str(ROOT / "examples" / "people.json"), env=env)
    assert people.returncode == 0
    for charter in sorted(AGENTS.glob("*.yaml")):
        assert run_cli("agent", "register", str(charter), env=env).returncode == 0
    return env


def _with_width(env: dict[str, str], width: int | None) -> dict[str, str]:
    return {**env, "COLUMNS": str(width)} if width else dict(env)


def read_table(output: str) -> tuple[list[str], list[str]]:
    """The headers of the first table in ``output``, and each column's text, lines joined."""
    lines = output.splitlines()
    header = next(line for line in lines if line.startswith("┃"))
    headers = [cell.strip() for cell in header.strip("┃").split("┃")]
    columns = [""] * len(headers)
    start = lines.index(header)
    for line in lines[start + 1 :]:
        if line.startswith("└"):
            break
        if not line.startswith("│"):
            continue
        for index, cell in enumerate(line.strip("│").split("│")):
            columns[index] += cell.strip()
    return headers, columns


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def assert_whole(output: str, rows: list[dict[str, str]], width: int) -> None:
    headers, columns = read_table(output)
    assert headers == list(rows[0]), headers
    for row in rows:
        for column, (header, value) in enumerate(row.items()):
            assert _squeeze(value) in _squeeze(columns[column]), (header, value)
    assert "…" not in output
    assert max(len(line) for line in output.splitlines()) <= width


@pytest.mark.parametrize("width", WIDTHS, ids=["80", "100", "piped"])
def test_agent_list_keeps_every_column_and_cell(store: dict[str, str], width: int | None) -> None:
    env = _with_width(store, width)
    listed = json.loads(run_cli("agent", "list", "--json", env=env).stdout)["items"]
    rows = [
        {
            "name": a["name"],
            "state": a["state"],
            "owner": a["owner"],
            "charter": f"v{a['charter_version']}",
            "purpose": a["purpose"],
        }
        for a in listed
    ]
    assert len(rows) == 4
    assert_whole(run_cli("agent", "list", env=env).stdout, rows, width or 140)


@pytest.mark.parametrize("width", WIDTHS, ids=["80", "100", "piped"])
def test_findings_keep_every_column_and_cell(store: dict[str, str], width: int | None) -> None:
    env = _with_width(store, width)
    found = json.loads(run_cli("findings", "--json", env=env).stdout)["findings"]
    assert found, "the example directory has a departed owner"
    rows = [
        {
            "id": f["id"][:8],
            "severity": f["severity"],
            "rule (OWASP)": f"{f['rule']} ({','.join(f['owasp'])})",
            "entity": f"{f['entity']['type']} {f['entity']['name']}",
            "finding": f["message"],
        }
        for f in found
    ]
    assert_whole(run_cli("findings", env=env).stdout, rows, width or 140)


def test_format_json_is_the_json_switch(store: dict[str, str]) -> None:
    by_switch = run_cli("agent", "list", "--json", env=store)
    by_format = run_cli("agent", "list", "--format", "json", env=store)
    assert by_format.returncode == 0
    assert json.loads(by_format.stdout) == json.loads(by_switch.stdout)
    table = run_cli("agent", "list", "--format", "table", env=store)
    assert table.stdout.startswith("Agents (4)")
    wrong = run_cli("agent", "list", "--format", "yaml", env=store)
    assert wrong.returncode == 2
    assert "--format" in wrong.stderr
    assert wrong.stdout == ""


def test_the_table_reader_joins_wrapped_cells() -> None:
    text = (
        "T\n┏━━━┳━━━━┓\n┃ a ┃ b  ┃\n┡━━━╇━━━━┩\n"
        "│ x │ one │\n│   │ two │\n│ y │ th  │\n│   │ ree │\n└───┴────┘\n"
    )
    headers, columns = read_table(text)
    assert headers == ["a", "b"]
    assert columns == ["xy", "onetwothree"]
