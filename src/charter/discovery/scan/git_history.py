"""Secrets in git history, without checking anything out.

A key committed last year and deleted last week is still in every clone. We
stream ``git log --all -p -U0`` (or ``git diff --cached`` for a pre-commit
hook) and scan only the lines each commit *added*, per commit and file, so a
repository's whole history costs one pass over its diffs and no working-tree
writes. Line numbers are the added line's number in that commit's version of
the file.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from charter.discovery.scan.content import CHUNK, ContentScanner, SecretHit

_HUNK = re.compile(rb"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")
_COMMIT_MARK = b"\x00commit "
_GIT_TIMEOUT = 10


class GitError(RuntimeError):
    """git is missing, the path is not a repository, or git failed."""


@dataclass(frozen=True, slots=True)
class HistoryHit:
    path: str
    line: int
    commit: str | None  # None for staged changes
    hit: SecretHit


@dataclass(slots=True)
class HistoryResult:
    hits: list[HistoryHit] = field(default_factory=list)
    commits: int = 0
    blocks: int = 0  # (commit, file) pairs with added lines that were scanned


def _git(*args: str) -> list[str]:
    return ["git", "-c", "core.quotepath=false", *args]


def toplevel(path: str) -> str:
    """The work tree root containing ``path``; ``GitError`` when there is none."""
    try:
        done = subprocess.run(  # noqa: S603 (a fixed git argv, no shell)
            _git("-C", path, "rev-parse", "--show-toplevel"),
            capture_output=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError("git did not answer") from exc
    if done.returncode != 0:
        raise GitError("not a git repository")
    return done.stdout.decode("utf-8", "replace").strip()


def scan_history(path: str, scanner: ContentScanner) -> HistoryResult:
    """Every secret any commit on any ref added under ``path``."""
    toplevel(path)
    command = _git(
        "-C",
        path,
        "log",
        "--all",
        "-p",
        "-U0",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--relative",
        "--format=%x00commit %H",
    )
    return _run(command, scanner)


def scan_staged(path: str, scanner: ContentScanner) -> HistoryResult:
    """Secrets in what ``git commit`` would record now (the index against HEAD)."""
    toplevel(path)
    command = _git(
        "-C",
        path,
        "diff",
        "--cached",
        "-p",
        "-U0",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--relative",
    )
    return _run(command, scanner)


def _run(command: list[str], scanner: ContentScanner) -> HistoryResult:
    result = HistoryResult()
    with subprocess.Popen(  # noqa: S603 (a fixed git argv, no shell)
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    ) as process:
        if process.stdout is None or process.stderr is None:  # pragma: no cover
            raise GitError("git produced no output stream")
        for path, commit, data, lines in _added_blocks(process.stdout, result):
            result.blocks += 1
            found = scanner.scan_buffer(data)
            for hit in found.secrets:
                line = lines[hit.line - 1] if 0 < hit.line <= len(lines) else 0
                result.hits.append(HistoryHit(path, line, commit, hit))
        errors = process.stderr.read()
        code = process.wait()
    if code != 0:
        message = errors.decode("utf-8", "replace").strip().splitlines()
        raise GitError(message[-1] if message else f"git exited with {code}")
    return result


def _unquote(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    if text.startswith('"') and text.endswith('"'):
        text = text[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
        text = text.encode("latin-1", "replace").decode("utf-8", "replace")
    return text


def _added_blocks(
    stream: IO[bytes], result: HistoryResult
) -> Iterator[tuple[str, str | None, bytes, list[int]]]:
    """(path, commit, added bytes, new-file line number of each added line)."""
    commit: str | None = None
    path: str | None = None
    in_header = False
    next_line = 0
    chunks: list[bytes] = []
    numbers: list[int] = []
    size = 0

    def flush() -> Iterator[tuple[str, str | None, bytes, list[int]]]:
        nonlocal chunks, numbers, size
        if path is not None and chunks:
            yield path, commit, b"".join(chunks), numbers
        chunks, numbers, size = [], [], 0

    for raw in stream:
        if raw.startswith(_COMMIT_MARK):
            yield from flush()
            commit = raw[len(_COMMIT_MARK) :].strip().decode("ascii", "replace")
            result.commits += 1
            path = None
            continue
        if raw.startswith(b"diff --git ") or raw.startswith(b"diff --cc "):
            yield from flush()
            path, in_header = None, True
            continue
        if in_header:
            if raw.startswith(b"+++ "):
                target = raw[4:].rstrip(b"\n")
                path = None if target == b"/dev/null" else _unquote(target)
                if path is not None and path.startswith("b/"):
                    path = path[2:]
                continue
            if raw.startswith(b"@@"):
                in_header = False
            else:
                continue
        if raw.startswith(b"@@"):
            match = _HUNK.match(raw)
            next_line = int(match.group(1)) if match else 0
            continue
        if raw.startswith(b"+") and path is not None:
            chunks.append(raw[1:] if raw.endswith(b"\n") else raw[1:] + b"\n")
            numbers.append(next_line)
            next_line += 1
            size += len(raw)
            if size > CHUNK:
                yield from flush()
    yield from flush()
