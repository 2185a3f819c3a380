"""Print Charter's public surface: the OpenAPI document and every CLI command's help.

A refactor that must change no behaviour prints it before and after and compares
(docs/testing.md): run it with ``PYTHONPATH`` pointing at another checkout's
``src`` to print that checkout's surface with this venv.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

os.environ.update(COLUMNS="100", TERM="dumb", NO_COLOR="1")
os.environ.setdefault("CHARTER_HOME", tempfile.mkdtemp(prefix="charter-surface-"))


def _openapi() -> dict[str, Any]:
    try:
        from charter.server import create_app
    except ImportError:  # before charter/server.py composed the app
        from charter.api.app import create_app  # type: ignore[import-not-found,no-redef]
    document: dict[str, Any] = create_app().openapi()
    return document


def _commands(command: Any, context: Any, path: list[str]) -> Iterator[list[str]]:
    yield path
    if hasattr(command, "list_commands"):
        for name in sorted(command.list_commands(context)):
            yield from _commands(command.get_command(context, name), context, [*path, name])


def _helps() -> Iterator[str]:
    import typer.main

    from charter.cli.main import app

    root = typer.main.get_command(app)
    context = root.make_context("charter", ["--help"], resilient_parsing=True)
    for path in _commands(root, context, []):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            with contextlib.suppress(SystemExit):
                root.main(args=[*path, "--help"], prog_name="charter", standalone_mode=False)
        yield f"===== charter {' '.join(path)}\n{out.getvalue()}"


def main() -> None:
    sys.stdout.write(json.dumps(_openapi(), sort_keys=True, indent=1) + "\n")
    for help_text in _helps():
        sys.stdout.write(help_text)


if __name__ == "__main__":
    main()
