"""What every CLI command shares: the services, the console, JSON output, errors.

Commands parse, call a service, format — nothing else. A ``CharterError`` becomes
a red message that names the field, and exit code 2; so does anything else that
escapes a command (``main`` catches it), unless ``CHARTER_DEBUG`` asks for the
traceback.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from charter.config import HOME_ENV, Settings
from charter.errors import CharterError, InputTooLarge, InvalidInput
from charter.services.context import Services, process_services

# Piped output (make demo, CI logs) gets a readable width instead of Rich's 80 columns.
_WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "140"))
console = Console(highlight=False, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, width=_WIDTH)

MAX_INPUT_FILE_BYTES = 64 * 1024 * 1024
#: Set to see the traceback of an unexpected error instead of its one line.
DEBUG_ENV = "CHARTER_DEBUG"


class _ProcessServices:
    """The process's services, the same container the HTTP server and the gateway use.

    The call that creates a new SQLite store says so first, on stderr: a store
    chosen silently is how a command run in the wrong place shows an empty one.
    A store that could not be made is only the error, never announced as new.
    """

    def __call__(self) -> Services:
        if process_services.cache_info().currsize:
            return process_services()
        settings = Settings.from_env()
        path = settings.sqlite_path
        new = path is not None and not path.exists()
        services = process_services()
        if new:
            note_new_store(settings)
        return services

    def cache_clear(self) -> None:
        process_services.cache_clear()


get_services = _ProcessServices()


def store_origin(settings: Settings) -> str:
    """What chose the store, as a user would set it."""
    if settings.store_source == HOME_ENV:
        return f"{HOME_ENV}={settings.home}"
    if settings.store_source == "default":
        return f"the default home; set {HOME_ENV} for another"
    return settings.store_source


def note_new_store(settings: Settings) -> None:
    path = settings.sqlite_path
    err_console.print(
        f"[yellow]note:[/] new store at {escape(str(path))} ({escape(store_origin(settings))}); "
        "'charter status' shows the store in use",
        markup=True,
        soft_wrap=True,
    )


def actor() -> str:
    """Who the audit log names for CLI actions."""
    explicit = os.environ.get("CHARTER_ACTOR")
    if explicit:
        return explicit
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def emit_json(value: Any) -> None:
    """Machine output on stdout: plain JSON, nothing else."""
    typer.echo(json.dumps(value, indent=2, sort_keys=False, default=str, ensure_ascii=False))


def fail(message: str, *, code: int = 2) -> typer.Exit:
    """``error: <message>`` on one line of stderr (a message's own line breaks are folded)."""
    message = " ".join(message.split())
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True)
    return typer.Exit(code)


def unexpected(exc: BaseException) -> typer.Exit:
    """An error no command foresaw: one line naming it, never a traceback (that is a bug)."""
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return fail(
        f"unexpected {type(exc).__name__}{': ' + text if text else ''} "
        f"(a bug in Charter; set {DEBUG_ENV}=1 for the traceback)"
    )


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn typed errors into a clear message and exit code 2."""
    try:
        yield
    except CharterError as exc:
        raise fail(str(exc)) from None


def read_input_file(path: Path, *, limit: int = MAX_INPUT_FILE_BYTES, field: str = "file") -> bytes:
    """Read a user-supplied file with a size limit and a clear error."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field=field) from exc
    if size > limit:
        raise InputTooLarge(f"{path} is {size} bytes; the limit is {limit} bytes", field=field)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field=field) from exc
