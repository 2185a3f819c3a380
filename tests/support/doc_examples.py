"""Turn a docs page's fenced examples into one bash script, run the way a reader pastes them.

A page's ``sh``/``bash``/``shell`` blocks run as written, ``console`` blocks run
their ``$ `` lines (output lines are illustration), ``python`` blocks run as a
file with the page's environment. All of a page's blocks run in order in one
``bash`` process under ``set -euo pipefail``, so a variable or a ``cd`` carries
from one block to the next as it does in a reader's terminal.

An HTML comment on the line just before a fence changes how that block runs
(docs/testing.md describes them):

- ``<!-- doc-test: skip reason="..." -->``: not run; the reason is reported.
- ``<!-- doc-test: exit=N -->``: the block runs in a subshell and must end with
  exit code N (it stops at its first failing command).

Anywhere in a page, ``<!-- doc-test: ports 8000 8100 -->`` replaces those port
numbers in the page's blocks with free ports, so pages that start servers can
run side by side with anything else on the machine.
"""

from __future__ import annotations

import re
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path

RUNNABLE = {"sh": "sh", "bash": "sh", "shell": "sh", "console": "console", "python": "python"}
FENCE = re.compile(r"^(?P<indent>\s*)(?P<ticks>```+)\s*(?P<lang>[\w+-]*)\s*$")
DIRECTIVE = re.compile(r"^\s*<!--\s*doc-test:\s*(?P<body>.*?)\s*-->\s*$")
SKIP = re.compile(r'^skip\s+reason="(?P<reason>[^"]+)"$')
EXIT = re.compile(r"^exit=(?P<code>\d+)$")
PORTS = re.compile(r"^ports((?:\s+\d+)+)$")


class DocExampleSkipped(UserWarning):
    """A docs block the runner did not run, with the page's stated reason (shown, not an error)."""


class DocTestSyntaxError(ValueError):
    """A ``doc-test`` comment the runner does not understand (a typo must not pass silently)."""


@dataclass(frozen=True)
class Block:
    line: int  # the fence's line number, 1-based
    lang: str  # "sh", "console" or "python"
    code: str
    skip: str | None = None
    exit_code: int = 0


@dataclass(frozen=True)
class Page:
    path: Path
    blocks: tuple[Block, ...]
    ports: tuple[int, ...]

    @property
    def skipped(self) -> list[Block]:
        return [b for b in self.blocks if b.skip is not None]


def parse_page(path: Path) -> Page:
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    ports: list[int] = []
    pending: tuple[int, str] | None = None  # a block directive and its line, for the next fence
    index = 0
    while index < len(lines):
        line = lines[index]
        directive = DIRECTIVE.match(line)
        if directive:
            body = directive["body"]
            page_ports = PORTS.match(body)
            if page_ports:
                ports.extend(int(p) for p in page_ports[1].split())
            else:
                _block_directive(path, index + 1, body)  # fails on a typo
                pending = (index + 1, body)
            index += 1
            continue
        fence = FENCE.match(line)
        if not fence:
            if line.strip() and pending is not None:
                raise DocTestSyntaxError(
                    f"{path}:{pending[0]}: a doc-test comment must be right before a fence"
                )
            index += 1
            continue
        end = index + 1
        indent = len(fence["indent"])
        while end < len(lines) and lines[end].strip() != fence["ticks"]:
            end += 1
        body_lines = [
            raw[indent:] if raw[:indent].isspace() else raw for raw in lines[index + 1 : end]
        ]
        lang = RUNNABLE.get(fence["lang"])
        if lang is not None:
            skip, exit_code = (
                _block_directive(path, pending[0], pending[1]) if pending else (None, 0)
            )
            code = "\n".join(body_lines)
            if lang == "console":
                code = console_commands(code)
            blocks.append(Block(index + 1, lang, code, skip, exit_code))
        elif pending is not None:
            raise DocTestSyntaxError(
                f"{path}:{pending[0]}: a doc-test comment before a non-runnable block"
            )
        pending = None
        index = end + 1
    return Page(path, tuple(blocks), tuple(ports))


def _block_directive(path: Path, line: int, body: str) -> tuple[str | None, int]:
    skip = SKIP.match(body)
    if skip:
        return skip["reason"], 0
    code = EXIT.match(body)
    if code:
        return None, int(code["code"])
    raise DocTestSyntaxError(
        f'{path}:{line}: unknown doc-test comment {body!r}; expected skip reason="...", '
        "exit=N or ports N..."
    )


def console_commands(text: str) -> str:
    """The commands of a ``console`` block: ``$ `` lines and their continuation lines."""
    commands: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if current is not None:
            current.append(line)
        elif line.startswith("$ "):
            current = [line[2:]]
        else:
            continue  # output
        if not _complete("\n".join(current)):
            continue
        commands.append("\n".join(current))
        current = None
    if current is not None:
        commands.append("\n".join(current))
    return "\n".join(commands)


def _complete(command: str) -> bool:
    if command.endswith("\\"):
        return False
    try:
        shlex.split(command, comments=True)
    except ValueError:  # an open quote: the command goes on on the next line
        return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PRELUDE = """\
set -euo pipefail -o errtrace
__doc_test_cleanup() {
  local rc=$?
  trap - ERR
  local jobs; jobs=$(jobs -p)
  if [ -n "$jobs" ]; then kill $jobs 2>/dev/null || true; wait 2>/dev/null || true; fi
  exit $rc
}
trap __doc_test_cleanup EXIT
trap 'echo "::doc-test:: failed (exit $?): $BASH_COMMAND" >&2' ERR
"""


def script(page: Page, scratch: Path, ports: dict[int, int]) -> str:
    """The bash script that runs a page's blocks in order; Python blocks go to files in scratch."""
    parts = [PRELUDE]
    for block in page.blocks:
        where = f"{page.path.name}:{block.line}"
        if block.skip is not None:
            parts.append(f"echo {shlex.quote(f'::doc-test:: {where}: skipped: {block.skip}')}\n")
            continue
        code = _with_ports(block.code, ports)
        if block.lang == "python":
            source = scratch / f"block-{block.line}.py"
            source.write_text(code + "\n")
            code = f"python {shlex.quote(str(source))}"
        parts.append(f"echo {shlex.quote(f'::doc-test:: {where}')}\n")
        if block.exit_code == 0:
            parts.append(code + "\n")
        else:
            parts.append(
                "set +e\n(\nset -e\n"
                + code
                + "\n)\n__rc=$?\nset -e\n"
                + f'if [ "$__rc" -ne {block.exit_code} ]; then\n'
                + f'  echo "::doc-test:: {where}: exit $__rc, the doc says {block.exit_code}" >&2\n'
                + "  exit 97\nfi\n"
            )
    parts.append(
        "printf '\\n::doc-test:: done\\n'  # on its own line, whatever the last output was\n"
    )
    return "".join(parts)


def _with_ports(code: str, ports: dict[int, int]) -> str:
    for documented, free in ports.items():
        code = re.sub(rf"(?<![\d.]){documented}(?!\d)", str(free), code)
    return code
