"""Scanning one file: read it (streamed), find secrets and code signals, parse it
when it is an MCP config, a manifest or a ``.env`` file.

This is what ``--jobs`` processes run; each process builds its own scanner
once (compiling the prefilter takes milliseconds) and returns only small,
picklable outcomes — fingerprints and names, never file contents.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from charter.discovery.scan import agent_code
from charter.discovery.scan.agent_code import SIGNALS, ManifestError
from charter.discovery.scan.content import CHUNK, ContentScanner, SecretHit, SignalHit
from charter.discovery.scan.detectors import all_detectors
from charter.discovery.scan.kinds import Ecosystem, ProblemKind, SkipReason
from charter.discovery.scan.mcp_configs import (
    McpConfigError,
    McpServer,
    client_for,
    parse_config,
)
from charter.discovery.scan.walker import FileTask

_BINARY_PROBE = 8192
_MINIFIED_PROBE = 64 * 1024
_MINIFIED_TYPES = frozenset({"js", "mjs", "cjs", "css", "map"})
_HOME = str(Path.home())


@dataclass(frozen=True, slots=True)
class FileOutcome:
    task: FileTask
    secrets: list[SecretHit] = field(default_factory=list)
    signals: list[SignalHit] = field(default_factory=list)
    servers: list[McpServer] = field(default_factory=list)
    dependencies: list[tuple[Ecosystem, str]] = field(default_factory=list)
    env_credentials: list[str] = field(default_factory=list)
    skipped: SkipReason | None = None
    problems: list[tuple[ProblemKind, str]] = field(default_factory=list)
    scanned_bytes: int = 0


_SCANNER: ContentScanner | None = None


def scanner(engine: str | None = None) -> ContentScanner:
    """This process's scanner (built on first use)."""
    global _SCANNER
    if _SCANNER is None:
        _SCANNER = ContentScanner(all_detectors(), SIGNALS, engine=engine)
    return _SCANNER


def init_worker(engine: str | None) -> None:
    global _SCANNER
    _SCANNER = None
    scanner(engine)


def scan_batch(tasks: list[FileTask]) -> list[FileOutcome]:
    return [scan_file(scanner(), task) for task in tasks]


def _looks_minified(extension: str, first: bytes) -> bool:
    if extension not in _MINIFIED_TYPES:
        return False
    probe = first[:_MINIFIED_PROBE]
    return len(probe) > 4096 and probe.count(b"\n") * 500 < len(probe)


def scan_file(content: ContentScanner, task: FileTask) -> FileOutcome:
    """Everything one file tells us; bad input becomes a problem in the outcome."""
    name = task.relative.rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    try:
        with open(task.path, "rb") as stream:
            first = stream.read(CHUNK)
            if b"\x00" in first[:_BINARY_PROBE]:
                return FileOutcome(task, skipped=SkipReason.BINARY)
            if _looks_minified(extension, first):
                return FileOutcome(task, skipped=SkipReason.MINIFIED)
            result = content.scan_stream(stream, first)
            scanned = stream.tell()
    except OSError as exc:
        return FileOutcome(task, problems=[(ProblemKind.UNREADABLE, exc.strerror or str(exc))])
    outcome = FileOutcome(task, result.secrets, [], scanned_bytes=scanned)
    if not result.valid_utf8:
        outcome.problems.append((ProblemKind.INVALID_UTF8, "scanned as bytes"))
    if extension in agent_code.PY_SOURCES:
        outcome.signals.extend(s for s in result.signals if s.signal != "js-import")
    elif extension in agent_code.JS_SOURCES:
        outcome.signals.extend(s for s in result.signals if not s.signal.startswith("py-"))
    if len(first) < CHUNK:  # configs and manifests are small; huge ones are not parsed
        _read_structured(content, task, name, first, outcome)
    return outcome


def _read_structured(
    content: ContentScanner, task: FileTask, name: str, data: bytes, outcome: FileOutcome
) -> None:
    if client_for(task.relative) is not None:
        parent = os.path.dirname(task.path)
        in_home = _HOME in (parent, os.path.dirname(parent))
        try:
            outcome.servers.extend(parse_config(task.relative, data, content, in_home=in_home))
        except McpConfigError as exc:
            outcome.problems.append((ProblemKind.MALFORMED_CONFIG, f"MCP config: {exc}"))
    ecosystem = agent_code.manifest_kind(name, task.relative)
    if ecosystem is not None:
        try:
            text = data.decode("utf-8")
            names = agent_code.dependencies(name, text)
        except UnicodeDecodeError as exc:
            outcome.problems.append((ProblemKind.INVALID_UTF8, f"manifest: {exc.reason}"))
        except ManifestError as exc:
            outcome.problems.append((ProblemKind.MALFORMED_CONFIG, f"manifest: {exc}"))
        else:
            outcome.dependencies.extend((ecosystem, n) for n in names)
    if agent_code.is_env_file(name):
        outcome.env_credentials.extend(
            agent_code.env_file_credentials(data.decode("utf-8", "replace"))
        )
