"""Every command, fed malformed input, answers one line ``error: …`` and exit 2, never a traceback.

The cases come from walking the Typer app, so a new command (or a new option)
is covered without editing this file: a missing argument, a word where a number
belongs, an unknown choice, a file that does not exist, a file of bad YAML, and
hostile text (a bad date, broken JSON, nothing) for each text option. Commands
run in-process through ``main()`` (its error handling is what is tested) on a
fresh store; a run that fails must fail as one clear line, and no run may hit
``unexpected(...)``, the last resort that marks a bug.
"""

from __future__ import annotations

import enum
import io
import os
import signal
import sys
import tempfile
import types
import typing
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperArgument, TyperGroup

from charter.cli.main import app, main
from charter.services.context import Services, process_services

#: Commands that serve until stopped: only input refused before they start is fed to them.
LONG_RUNNING = {("serve",), ("gateway",), ("worker",)}
HOSTILE_TEXT = ("2027-31-06", '{"a": [', "")
#: Beneath a file: no one can read it or create it, root included.
NOWHERE = "/dev/null/charter-input.yaml"
#: Commands whose answer, not an error, is exit 1 with nothing on stderr: a token
#: introspected as inactive, secrets found by the scanner.
ANSWERS_WITH_EXIT_1 = {("tokens", "introspect"), ("discover", "fs")}
BAD_YAML = "name: [unclosed\n  owner: : :\n\t- x"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def run(*args: str) -> Result:
    """``charter <args>`` through ``main()``, in this process, with empty stdin."""
    out, err = io.StringIO(), io.StringIO()
    argv, stdin = sys.argv, sys.stdin
    sys.argv, sys.stdin = ["charter", *args], io.StringIO("")
    signal.alarm(60)  # a command that hangs fails the test instead of the run
    try:
        with redirect_stdout(out), redirect_stderr(err):
            main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        signal.alarm(0)
        sys.argv, sys.stdin = argv, stdin
    return Result(code, out.getvalue(), err.getvalue())


def assert_clear(result: Result, *, must_fail: bool, words: tuple[str, ...] = ()) -> None:
    """A failure is exit 2 and one ``error:`` line; nothing is ever a traceback or a bug."""
    shown = f"exit {result.code}\nstdout: {result.out}\nstderr: {result.err}"
    assert "Traceback" not in result.out + result.err, shown
    assert "unexpected " not in result.err, shown
    if must_fail:
        assert result.code == 2, shown
    if result.code != 0:
        assert result.code == 2, shown
        # a warning, or the note that a new store was made, may come first; the error is one line
        lines = [
            line for line in result.err.splitlines() if not line.startswith(("warning: ", "note: "))
        ]
        assert len(lines) == 1 and lines[0].startswith("error: "), shown
        for word in words:
            assert word in lines[0], shown


# ------------------------------------------------------------------ the command tree


def commands() -> Iterator[tuple[tuple[str, ...], Any]]:
    def walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
        if isinstance(command, TyperGroup):
            for name, sub in command.commands.items():
                yield from walk(sub, (*path, name))
        else:
            yield path, command

    yield from walk(typer.main.get_command(app), ())


def kind(command: Any, param: Any) -> Any:
    """The Python type a parameter is declared with (``Annotated`` and ``None`` removed)."""
    hint = typing.get_type_hints(command.callback, include_extras=True).get(param.name, str)
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if typing.get_origin(hint) is list:
        hint = typing.get_args(hint)[0]
    return hint


def is_flag(param: Any) -> bool:
    return bool(getattr(param, "is_flag", False))


def placeholder(command: Any, param: Any) -> str:
    hint = kind(command, param)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return str(next(iter(hint)).value)
    if hint is int:
        return "1"
    if hint is Path:
        return NOWHERE
    return "x"


def invocation(
    path: tuple[str, ...], command: Any, tested: Any = None, value: str = ""
) -> list[str]:
    """The command with every required parameter filled in, and ``tested`` set to ``value``."""
    args = [*path]
    for param in command.params:
        if param is tested:
            given = value
        elif param.required:
            given = placeholder(command, param)
        else:
            continue
        args += [given] if isinstance(param, TyperArgument) else [param.opts[0], given]
    return args


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    must_fail: bool
    words: tuple[str, ...] = ()

    @property
    def answers_with_exit_1(self) -> bool:
        return self.args[:2] in ANSWERS_WITH_EXIT_1


def cases(bad_yaml: str) -> Iterator[tuple[str, Case]]:
    for path, command in commands():
        name = " ".join(path)
        if any(param.required for param in command.params):
            yield f"{name} (nothing)", Case(path, must_fail=True)
        for param in command.params:
            if is_flag(param) or param.name == "help":
                continue
            label = f"{name} {param.opts[0] if param.opts else param.name}"
            hint = kind(command, param)
            named = () if isinstance(param, TyperArgument) else (param.opts[0],)
            if hint is int:
                args = invocation(path, command, param, "lots")
                yield f"{label}=lots", Case(tuple(args), True, named)
            elif isinstance(hint, type) and issubclass(hint, enum.Enum):
                args = invocation(path, command, param, "no-such-choice")
                yield f"{label}=no-such-choice", Case(tuple(args), True, named)
            elif hint is Path:
                args = invocation(path, command, param, NOWHERE)
                yield f"{label}=nowhere", Case(tuple(args), True)
                args = invocation(path, command, param, bad_yaml)
                yield f"{label}=bad-yaml", Case(tuple(args), False)
            elif path not in LONG_RUNNING:
                for text in HOSTILE_TEXT:
                    args = invocation(path, command, param, text)
                    yield f"{label}={text!r}", Case(tuple(args), False)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh CHARTER_HOME for this module's runs, its services closed afterwards."""
    home = tmp_path_factory.mktemp("malformed") / "home"
    saved = {k: os.environ.get(k) for k in ("CHARTER_HOME", "CHARTER_DATABASE_URL")}
    os.environ["CHARTER_HOME"] = str(home)
    os.environ.pop("CHARTER_DATABASE_URL", None)
    process_services.cache_clear()
    cwd = Path.cwd()
    os.chdir(home.parent)  # what a command reads or writes by default lands here
    yield home
    os.chdir(cwd)
    process_services().close()
    process_services.cache_clear()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


BAD_YAML_FILE = str(Path(tempfile.gettempdir()) / f"charter-malformed-{os.getpid()}.yaml")
CASES = dict(cases(BAD_YAML_FILE))


@pytest.fixture
def bad_yaml_file() -> Iterator[None]:
    """Written before each run: a command given it as an output path overwrites it."""
    path = Path(BAD_YAML_FILE)
    path.write_text(BAD_YAML)
    yield
    path.unlink(missing_ok=True)


def test_the_walk_reaches_sub_apps_and_every_kind_of_parameter() -> None:
    names = {case.args[:2] for case in CASES.values()}
    assert ("agent", "register") in names and ("findings", "suppress") in names
    assert len({path for path, _ in commands()}) >= 80
    labels = " ".join(CASES)
    for shape in ("=lots", "=no-such-choice", "=nowhere", "=bad-yaml", "(nothing)", "='2027"):
        assert shape in labels


@pytest.mark.parametrize("label", sorted(CASES))
def test_malformed_input_is_one_clear_line(label: str, store: Path, bad_yaml_file: None) -> None:
    case = CASES[label]
    result = run(*case.args)
    if case.answers_with_exit_1 and result.code == 1:
        assert result.err == "", result.err
        return
    assert_clear(result, must_fail=case.must_fail, words=case.words)


# ------------------------------------------------------------------ the environment


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Each run below builds its services from the environment it sets."""
    if process_services.cache_info().currsize:
        process_services().close()
    process_services.cache_clear()
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    yield tmp_path
    if process_services.cache_info().currsize:
        process_services().close()
    process_services.cache_clear()


def env_error(monkeypatch: pytest.MonkeyPatch, name: str, value: str, *words: str) -> str:
    monkeypatch.setenv(name, value)
    result = run("agent", "list")
    assert_clear(result, must_fail=True, words=(f"error: {name}: ", *words))
    return result.err


def test_charter_home_that_is_a_file_or_cannot_be_made(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    afile = fresh / "afile"
    afile.write_text("")
    env_error(monkeypatch, "CHARTER_HOME", str(afile), "is a file, not a directory")
    env_error(monkeypatch, "CHARTER_HOME", str(afile / "sub"), "cannot be created")
    env_error(monkeypatch, "CHARTER_HOME", "/proc/charter-home", "cannot be created")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in any directory")
def test_charter_home_in_a_read_only_directory(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = fresh / "locked"
    locked.mkdir(mode=0o500)
    env_error(monkeypatch, "CHARTER_HOME", str(locked / "home"), "cannot be created")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("garbage", ("'garbage' is not a database URL: write sqlite:///path or postgresql://",)),
        ("mysql://u@db/x", ("'mysql' databases are not supported",)),
        ("postgres://u:s3cret@127.0.0.1:1/x", ("cannot connect to 127.0.0.1:1", "running?")),
        ("sqlite:////proc/no/charter.db", ("cannot open the SQLite database /proc/no",)),
    ],
)
def test_database_url_errors_name_the_variable_never_the_password(
    fresh: Path, monkeypatch: pytest.MonkeyPatch, url: str, words: tuple[str, ...]
) -> None:
    assert "s3cret" not in env_error(monkeypatch, "CHARTER_DATABASE_URL", url, *words)


def test_the_last_resort_is_one_line_and_charter_debug_shows_the_traceback(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> Services:
        raise RuntimeError("boom")

    monkeypatch.setattr(Services, "from_settings", broken)
    result = run("agent", "list")
    assert result.code == 2
    assert result.err.strip() == (
        "error: unexpected RuntimeError: boom (a bug in Charter; set CHARTER_DEBUG=1 for the "
        "traceback)"
    )
    monkeypatch.setenv("CHARTER_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        run("agent", "list")
