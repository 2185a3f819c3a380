"""Every command's help and options follow the CLI conventions (cli/conventions.py).

Walks the whole command tree, so a command added later is held to them too.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from charter.cli.conventions import JSON_HELP
from charter.cli.main import JOBS, app

ROOT = typer.main.get_command(app)


def _walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    commands = getattr(command, "commands", None)
    if not commands or getattr(command, "invoke_without_command", False):
        yield path, command  # a leaf, or a group that does something on its own
    for name, sub in (commands or {}).items():
        yield from _walk(sub, (*path, name))


COMMANDS = [(path, command) for path, command in _walk(ROOT, ()) if path]
IDS = [" ".join(path) for path, _ in COMMANDS]


def _options(command: Any) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def examples(help_text: str) -> list[str]:
    """The ``Example: charter …`` lines of a help text (a trailing backslash continues)."""
    found: list[str] = []
    lines = iter(help_text.splitlines())
    for line in lines:
        if not line.startswith("Example: "):
            continue
        text = line.removeprefix("Example: ")
        while text.endswith("\\"):
            text = text[:-1] + next(lines).strip()
        found.append(text)
    return found


def test_the_tree_is_walked() -> None:
    names = set(IDS)
    assert {"agent list", "findings", "discover fs", "tasks", "version"} <= names
    assert len(COMMANDS) > 90


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_has_an_example_that_parses(path: tuple[str, ...], command: Any) -> None:
    found = examples(command.help or "")
    assert found, f"'charter {' '.join(path)} --help' shows no 'Example: charter …' line"
    for example in found:
        words = shlex.split(example)
        assert words[: len(path) + 1] == ["charter", *path], example
        # parsing checks option names, required options and arguments and their values
        context = command.make_context(
            f"charter {' '.join(path)}", words[len(path) + 1 :], resilient_parsing=False
        )
        assert not context.args or getattr(command, "commands", None), example


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_json_and_format_go_together(path: tuple[str, ...], command: Any) -> None:
    options = _options(command)
    assert ("--json" in options) == ("--format" in options), options
    for param in command.params:
        if "--json" in param.opts:
            assert param.help == JSON_HELP


def test_the_example_reader_sees_continued_lines() -> None:
    text = "Do it.\n\nExample: charter a b \\\n--c d\nExample: charter e"
    assert examples(text) == ["charter a b --c d", "charter e"]
    assert examples("Do it.\n  charter a") == []


@pytest.fixture(scope="module")
def helps() -> dict[str, str]:
    runner = CliRunner(env={"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"})
    pages = {"": runner.invoke(app, ["--help"]).output}
    for path, _ in COMMANDS:
        pages[" ".join(path)] = runner.invoke(app, [*path, "--help"]).output
    return pages


def test_help_shows_switches_as_switches_and_arguments_as_names(helps: dict[str, str]) -> None:
    for name, page in helps.items():
        assert "Usage: charter" in page, name
        assert "<bool>" not in page, name
        usage = page[page.index("Usage:") :].splitlines()[0]
        assert not re.search(r"\{\w+\}", usage), usage
    assert "Usage: charter agent show [OPTIONS] NAME" in helps["agent show"]
    assert "Usage: charter agent revoke-key [OPTIONS] NAME KID" in helps["agent revoke-key"]
    assert "Usage: charter discover fs [OPTIONS] [PATHS]..." in helps["discover fs"]
    assert re.search(r"--json +shorthand for --format json", helps["agent list"])
    assert re.search(r"--format +<table\|json> ", helps["agent list"])
    assert re.search(r"--format +-f +<table\|json\|sarif> ", helps["discover fs"])


def test_root_help_lists_commands_by_job_in_order(helps: dict[str, str]) -> None:
    page = helps[""]
    panels = re.findall(r"╭─ (.+?) ─", page)
    assert panels == ["Options", *JOBS]
    listed = re.findall(r"^│ (\S+) ", page, flags=re.MULTILINE)
    commands = [name for name in listed if not name.startswith("-")]
    expected = [name for names in JOBS.values() for name in names if name in ROOT.commands]
    assert commands == expected
    assert set(commands) == set(ROOT.commands), "every command belongs to a job"
