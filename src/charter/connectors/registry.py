"""Every connector by id, and the file classification ``charter discover all`` relies on.

Adding a source is one module plus its line in :data:`_ORDER` (and its import). The modules
are imported here, statically, so import checkers and reviewers see every edge
(importing the registry loads every connector, as listing them needs).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter.connectors import aws, entra, gcp, github, gworkspace, k8s, okta, slack
from charter.connectors.base import Connector, ExportFile
from charter.connectors.streaming import peek
from charter.domain.credential_steps import CredentialRef
from charter.errors import InvalidInput, NotFound

#: One line per source, in ingest order: clouds before clusters, so Kubernetes
#: identities can link to the roles they assume.
_ORDER: tuple[Connector[Any], ...] = (
    aws.CONNECTOR,
    gcp.CONNECTOR,
    entra.CONNECTOR,
    okta.CONNECTOR,
    github.CONNECTOR,
    gworkspace.CONNECTOR,
    slack.CONNECTOR,
    k8s.CONNECTOR,
)
CONNECTORS: dict[str, Connector[Any]] = {connector.id: connector for connector in _ORDER}

#: Names of files ``discover all`` never opens as exports.
_SKIP_SUFFIXES = frozenset({".md", ".txt", ".py", ".sh", ".yaml", ".yml", ".gitkeep"})


def get(source: str) -> Connector[Any]:
    try:
        return CONNECTORS[source]
    except KeyError:
        known = ", ".join(CONNECTORS)
        raise NotFound(f"no connector {source!r}; known sources: {known}", field="source") from None


def knowing(credential: CredentialRef) -> Iterator[Connector[Any]]:
    """The connectors that may know a credential's revoke and rotate steps, best first.

    First the one whose system issued it (by ``provider``: an AWS key is revoked the
    AWS way wherever it was found), then the one that found it (by ``source``).
    """
    for connector in CONNECTORS.values():
        if credential.provider in connector.providers:
            yield connector
    found_by = CONNECTORS.get(credential.source)
    if found_by is not None and credential.provider not in found_by.providers:
        yield found_by


def classify(path: Path) -> tuple[Connector[Any], ExportFile] | None:
    """Which connector and export format a file is, or None when it is none of ours."""
    head = peek(path)
    if head.kind == "other":
        return None
    for connector in CONNECTORS.values():
        format_ = connector.sniff(head)
        if format_ is not None:
            return connector, ExportFile(path, format_)
    return None


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not p.name.startswith(".")
                and p.suffix.lower() not in _SKIP_SUFFIXES
            )
        elif path.exists():
            yield path
        else:
            raise InvalidInput(f"{path} does not exist", field="path")


def files_for(connector: Connector[Any], paths: Iterable[Path]) -> list[ExportFile]:
    """The export files of one connector among ``paths`` (files or directories).

    A file named explicitly that is not this connector's export is an error that
    says what it looks like instead; files inside a directory that belong to
    no connector are ignored.
    """
    chosen: list[ExportFile] = []
    explicit = {p for p in paths if not p.is_dir()}
    for path in _files(paths):
        head = peek(path)
        format_ = connector.sniff(head) if head.kind != "other" else None
        if format_ is not None:
            chosen.append(ExportFile(path, format_))
            continue
        if path in explicit:
            other = classify(path)
            hint = (
                f"it looks like {other[1].format.title} — use 'charter discover {other[0].id}'"
                if other
                else "it is not an export Charter recognises"
            )
            raise InvalidInput(f"{path} is not a {connector.title} export: {hint}", field=str(path))
    if not chosen:
        wanted = "; ".join(f.title for f in connector.formats)
        raise InvalidInput(
            f"no {connector.title} export found in {', '.join(map(str, paths))} "
            f"(expected: {wanted})",
            field="path",
        )
    required = [f for f in connector.formats if f.required]
    for format_ in required:
        if not any(f.format is format_ for f in chosen):
            raise InvalidInput(
                f"the {connector.title} export needs {format_.title} ({format_.command})",
                field="path",
            )
    return chosen


@dataclass(frozen=True, slots=True)
class Found:
    """What ``discover all`` found in a tree: per connector, its files."""

    root: Path
    by_connector: dict[str, list[ExportFile]]
    ignored: list[Path]

    @property
    def file_count(self) -> int:
        """How many export files will be read: what a progress display counts to."""
        return sum(len(files) for files in self.by_connector.values())


def find_exports(root: Path) -> Found:
    """Classify every file under ``root`` (cheap: reads only each file's start)."""
    if not root.is_dir():
        raise InvalidInput(f"{root} is not a directory", field="dir")
    by: dict[str, list[ExportFile]] = {}
    ignored: list[Path] = []
    for path in _files([root]):
        hit = classify(path)
        if hit is None:
            ignored.append(path)
        else:
            by.setdefault(hit[0].id, []).append(hit[1])
    ordered = {cid: by[cid] for cid in CONNECTORS if cid in by}
    return Found(root, ordered, ignored)
