"""One scan, end to end: walk, read (in parallel with ``--jobs``), aggregate.

The walk decides what to read; workers turn files into outcomes; this module
turns outcomes into findings (after inline allows, ``.charterignore`` and the
baseline), MCP servers and projects, adds git history when asked, and returns
a ``ScanReport``. It writes nothing anywhere — recording in the store is a
separate step that the CLI takes only after a complete scan.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from charter.discovery.scan import agent_code, git_history, worker
from charter.discovery.scan.agent_code import Project
from charter.discovery.scan.content import SecretHit
from charter.discovery.scan.detector import Detector
from charter.discovery.scan.detectors import get
from charter.discovery.scan.ignore import IGNORE_FILE, IgnoreFile, Ignores
from charter.discovery.scan.kinds import BaselineState, ProblemKind, SkipReason
from charter.discovery.scan.mcp_configs import MCP_INLINE_SECRET
from charter.discovery.scan.packages import lookup
from charter.discovery.scan.report import ScanReport, SecretFinding
from charter.discovery.scan.walker import (
    VENDORED_DIRS,
    FileTask,
    Problem,
    Root,
    Skipped,
    Walker,
    skip_by_name,
)

DEFAULT_MAX_FILE_SIZE = 100 * 1024 * 1024
_BATCH_BYTES = 16 * 1024 * 1024
_BATCH_FILES = 256

#: Called with (bytes done, bytes total) as files finish.
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ScanOptions:
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    jobs: int = 1
    history: bool = False
    pre_commit: bool = False
    engine: str | None = None  # "hyperscan", "re2" or "re"; None: the fastest available
    baseline: frozenset[str] = frozenset()
    #: absolute directories that are projects even without a manifest (recorded earlier)
    project_dirs: frozenset[str] = frozenset()


def rule(rule_id: str) -> Detector:
    """A detector by id, including the MCP inline-secret rule."""
    return MCP_INLINE_SECRET if rule_id == MCP_INLINE_SECRET.id else get(rule_id)


def run_scan(
    paths: list[str], options: ScanOptions, progress: Progress | None = None
) -> ScanReport:
    started = time.perf_counter()
    if options.pre_commit:
        report = _scan_staged(paths[0] if paths else ".", options)
    else:
        report = _scan_paths(paths, options, progress)
    report.findings = sorted(
        (
            dataclasses.replace(f, baseline=BaselineState.UNCHANGED)
            if f.fingerprint in options.baseline
            else f
            if f.baseline is BaselineState.NEW
            else dataclasses.replace(f, baseline=BaselineState.NEW)
            for f in report.findings
        ),
        key=lambda f: (f.root, f.path, f.line, f.column, f.rule.id, f.commit or ""),
    )
    report.seconds = time.perf_counter() - started
    return report


def _batches(files: list[FileTask]) -> Iterator[list[FileTask]]:
    batch: list[FileTask] = []
    size = 0
    for task in files:
        batch.append(task)
        size += task.size
        if size >= _BATCH_BYTES or len(batch) >= _BATCH_FILES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _outcomes(
    files: list[FileTask], options: ScanOptions, progress: Progress | None
) -> Iterator[worker.FileOutcome]:
    total = sum(t.size for t in files)
    done = 0
    if options.jobs <= 1 or len(files) < 2:
        scanner = worker.scanner(options.engine)
        for task in files:
            yield worker.scan_file(scanner, task)
            done += task.size
            if progress:
                progress(done, total)
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with context.Pool(
        options.jobs, initializer=worker.init_worker, initargs=(options.engine,)
    ) as pool:
        for outcomes in pool.imap_unordered(worker.scan_batch, _batches(files)):
            for outcome in outcomes:
                done += outcome.task.size
                yield outcome
            if progress:
                progress(done, total)


class _Aggregate:
    """Per-root state while outcomes arrive."""

    def __init__(self, report: ScanReport, ignores: dict[int, Ignores]) -> None:
        self.report = report
        self.ignores = ignores
        self.project_dirs: dict[int, set[str]] = {}
        self.projects: dict[tuple[int, str], Project] = {}

    def project(self, root: int, relative: str) -> Project:
        directory = agent_code.project_dir(relative, self.project_dirs.get(root, set()))
        key = (root, directory)
        if key not in self.projects:
            self.projects[key] = Project(root, directory)
        return self.projects[key]

    def secret(
        self,
        root: int,
        relative: str,
        hit: SecretHit,
        *,
        origin: str = "file",
        commit: str | None = None,
        line: int | None = None,
    ) -> SecretFinding | None:
        ignores = self.ignores[root]
        if (
            hit.allowed
            or ignores.allows_fingerprint(hit.fingerprint)
            or ignores.detector_off(hit.detector, relative)
        ):
            self.report.allowed += 1
            return None
        return SecretFinding(
            rule=rule(hit.detector),
            fingerprint=hit.fingerprint,
            preview=hit.preview,
            severity=hit.severity,
            root=root,
            path=relative,
            line=hit.line if line is None else line,
            column=hit.column if line is None else 1,
            commit=commit,
            origin=origin,
            properties=hit.properties,
        )

    def add(self, outcome: worker.FileOutcome) -> None:
        task, report = outcome.task, self.report
        for kind, detail in outcome.problems:
            report.problems.append(Problem(task.root, task.relative, kind, detail))
        if outcome.skipped is not None:
            report.skipped.append(Skipped(task.root, task.relative, outcome.skipped))
            return
        if any(k is ProblemKind.UNREADABLE for k, _ in outcome.problems):
            return
        report.files_scanned += 1
        report.bytes_scanned += outcome.scanned_bytes
        project = self.project(task.root, task.relative)
        for hit in outcome.secrets:
            finding = self.secret(task.root, task.relative, hit)
            if finding is not None:
                report.findings.append(finding)
                project.secrets.add(hit.fingerprint)
                project.secret_systems.add(finding.rule.system)
        for signal in outcome.signals:
            where = f"{task.relative}:{signal.line}"
            if signal.signal == "env-read":
                project.add_env(signal.value, where)
                continue
            package = agent_code.package_for_import(signal.signal, signal.value)
            if package is not None:
                project.add_package(package, where)
        for ecosystem, name in outcome.dependencies:
            package = lookup(name, ecosystem)
            project.manifests.add(task.relative)
            if package is not None:
                project.add_package(package, task.relative)
        for name in outcome.env_credentials:
            project.add_env(name, task.relative)
        for server in outcome.servers:
            report.servers.append((task.root, server))
            project.mcp_servers.add(f"{server.client}:{server.name}")
            for inline in server.inline_secrets:
                if inline.detector != MCP_INLINE_SECRET.id:
                    continue  # known formats are already findings of the byte scan
                hit = SecretHit(
                    inline.detector,
                    inline.fingerprint,
                    inline.preview,
                    inline.line,
                    1,
                    inline.severity,
                    properties={"server": server.name, "where": inline.where},
                )
                finding = self.secret(task.root, task.relative, hit, origin="mcp-config")
                if finding is not None:
                    report.findings.append(finding)
                    project.secrets.add(hit.fingerprint)


def _scan_paths(paths: list[str], options: ScanOptions, progress: Progress | None) -> ScanReport:
    walk = Walker(max_file_size=options.max_file_size).walk(paths)
    engine = worker.scanner(options.engine).engine
    report = ScanReport(
        engine, walk.roots, skipped=walk.skipped, problems=walk.problems, jobs=options.jobs
    )
    aggregate = _Aggregate(report, walk.ignores)
    for task in walk.files:
        name = task.relative.rsplit("/", 1)[-1]
        if name in agent_code.PROJECT_MARKERS or (
            name.startswith("requirements") and name.endswith(".txt")
        ):
            directory = task.relative.rsplit("/", 1)[0] if "/" in task.relative else "."
            aggregate.project_dirs.setdefault(task.root, set()).add(directory)
    for root in walk.roots:
        prefix = root.resolved.rstrip("/") + "/"
        known = {p[len(prefix) :] for p in options.project_dirs if p.startswith(prefix)}
        if root.is_dir and known:
            aggregate.project_dirs.setdefault(root.index, set()).update(known)
    for outcome in _outcomes(walk.files, options, progress):
        aggregate.add(outcome)
    if options.history:
        for root in walk.roots:
            if root.is_dir:
                _add_history(aggregate, root)
    report.projects = sorted(
        (
            p
            for p in aggregate.projects.values()
            if p.ai_related or p.holds_credentials or p.mcp_servers
        ),
        key=lambda p: (p.root, p.path),
    )
    report.servers.sort(key=lambda s: (s[0], s[1].config, s[1].line, s[1].name))
    return report


def _history_skip(relative: str) -> SkipReason | None:
    """The walker's name rules, for paths that come from git rather than the disk."""
    parts = relative.split("/")
    if any(p in VENDORED_DIRS for p in parts[:-1]):
        return SkipReason.VENDORED
    return skip_by_name(parts[-1])


def _add_history(aggregate: _Aggregate, root: Root) -> None:
    report = aggregate.report
    try:
        history = git_history.scan_history(root.resolved, worker.scanner())
    except git_history.GitError as exc:
        report.problems.append(Problem(root.index, ".", ProblemKind.GIT, str(exc)))
        return
    report.commits_scanned += history.commits
    present = {f.fingerprint: f for f in report.findings if f.root == root.index}
    oldest: dict[tuple[str, str], SecretFinding] = {}
    ignores = aggregate.ignores[root.index]
    for item in history.hits:
        if _history_skip(item.path) or ignores.ignored(item.path, is_dir=False):
            continue
        if item.hit.fingerprint in present:
            continue  # still in the working tree: reported there
        finding = aggregate.secret(
            root.index, item.path, item.hit, origin="history", commit=item.commit, line=item.line
        )
        if finding is not None:  # git log lists newest first: the last one seen is the oldest
            oldest[(item.hit.fingerprint, item.path)] = finding
    for finding in oldest.values():
        report.findings.append(finding)
        aggregate.project(root.index, finding.path).secrets.add(finding.fingerprint)


def _scan_staged(path: str, options: ScanOptions) -> ScanReport:
    scanner = worker.scanner(options.engine)
    report = ScanReport(scanner.engine, [])
    try:
        top = git_history.toplevel(path)
        staged = git_history.scan_staged(top, scanner)
    except git_history.GitError as exc:
        report.problems.append(Problem(None, path, ProblemKind.GIT, str(exc)))
        return report
    report.roots.append(Root(0, path, top, True))
    ignores = Ignores()
    try:
        with open(f"{top}/{IGNORE_FILE}", encoding="utf-8", errors="replace") as handle:
            ignores.add(IgnoreFile.parse(handle.read()))
    except OSError:
        pass
    aggregate = _Aggregate(report, {0: ignores})
    for item in staged.hits:
        reason = _history_skip(item.path) or (
            SkipReason.IGNORED if ignores.ignored(item.path, is_dir=False) else None
        )
        if reason is not None:
            report.skipped.append(Skipped(0, item.path, reason))
            continue
        finding = aggregate.secret(0, item.path, item.hit, origin="staged", line=item.line)
        if finding is not None:
            report.findings.append(finding)
    report.files_scanned = staged.blocks
    return report
