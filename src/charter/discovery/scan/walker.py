"""Walking the paths to scan, and the rules that skip what should not be read.

The walk only looks at names and ``stat`` results: what to skip is decided
before a byte is read — vendored and generated directories, VCS metadata,
binary types, files over the size limit, anything that is not a regular file
(a FIFO would block forever). Symlinks are followed, but every directory is
entered once (by device and inode), so a link back to an ancestor is a
reported loop, not an infinite walk. Nothing here raises for bad input: it is
recorded as a problem and the walk goes on.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from charter.discovery.scan.ignore import IGNORE_FILE, IgnoreFile, Ignores
from charter.discovery.scan.kinds import ProblemKind, SkipReason

#: Directories that hold other people's code or build output, never this project's secrets.
VENDORED_DIRS = frozenset(
    {
        "node_modules",
        "bower_components",
        "jspm_packages",
        "vendor",
        "third_party",
        "third-party",
        "site-packages",
        "dist-packages",
        ".venv",
        "venv",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".gradle",
        "Pods",
        "Carthage",
        ".terraform",
        ".next",
        ".nuxt",
        ".yarn",
        ".pnpm-store",
        ".cache",
    }
)
VCS_DIRS = frozenset({".git", ".hg", ".svn"})
BINARY_EXTENSIONS = frozenset(
    {
        "png",
        "jpg",
        "jpeg",
        "gif",
        "bmp",
        "ico",
        "icns",
        "webp",
        "tif",
        "tiff",
        "psd",
        "ai",
        "pdf",
        "zip",
        "gz",
        "tgz",
        "bz2",
        "xz",
        "zst",
        "7z",
        "rar",
        "jar",
        "war",
        "ear",
        "class",
        "so",
        "dylib",
        "dll",
        "exe",
        "bin",
        "o",
        "a",
        "lib",
        "obj",
        "pyc",
        "pyo",
        "pyd",
        "whl",
        "egg",
        "mp3",
        "mp4",
        "m4a",
        "mov",
        "avi",
        "mkv",
        "wav",
        "flac",
        "ogg",
        "webm",
        "woff",
        "woff2",
        "ttf",
        "otf",
        "eot",
        "sqlite",
        "sqlite3",
        "db",
        "parquet",
        "avro",
        "orc",
        "npy",
        "npz",
        "pkl",
        "pickle",
        "pt",
        "pth",
        "onnx",
        "safetensors",
        "h5",
        "hdf5",
        "ckpt",
        "tflite",
        "iso",
        "dmg",
        "img",
        "vmdk",
        "qcow2",
        "deb",
        "rpm",
        "apk",
        "ipa",
        "msi",
        "cab",
    }
)
MINIFIED_SUFFIXES = (".min.js", ".min.css", ".min.mjs", ".bundle.js", ".js.map", ".css.map")
_MAX_IGNORE_FILE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Root:
    index: int
    given: str
    resolved: str  # the account string discovery records use
    is_dir: bool


@dataclass(frozen=True, slots=True)
class FileTask:
    root: int
    path: str  # absolute path to open
    relative: str  # posix path relative to the root, as findings show it
    size: int


@dataclass(frozen=True, slots=True)
class Skipped:
    root: int
    relative: str
    reason: SkipReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Problem:
    root: int | None
    path: str
    kind: ProblemKind
    detail: str = ""


@dataclass(slots=True)
class WalkResult:
    roots: list[Root] = field(default_factory=list)
    files: list[FileTask] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    ignores: dict[int, Ignores] = field(default_factory=dict)


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def skip_by_name(name: str) -> SkipReason | None:
    lowered = name.lower()
    if lowered.endswith(MINIFIED_SUFFIXES):
        return SkipReason.MINIFIED
    if _extension(lowered) in BINARY_EXTENSIONS:
        return SkipReason.BINARY
    return None


class Walker:
    def __init__(self, *, max_file_size: int) -> None:
        self.max_file_size = max_file_size

    def walk(self, paths: list[str]) -> WalkResult:
        result = WalkResult()
        for given in paths:
            path = Path(given).expanduser()
            try:
                resolved = path.resolve(strict=True)
                info = resolved.stat()
            except FileNotFoundError:
                kind = ProblemKind.BROKEN_SYMLINK if path.is_symlink() else ProblemKind.NOT_FOUND
                result.problems.append(Problem(None, given, kind))
                continue
            except RuntimeError:  # pathlib's "Symlink loop"
                result.problems.append(Problem(None, given, ProblemKind.SYMLINK_LOOP))
                continue
            except OSError as exc:
                result.problems.append(Problem(None, given, _problem_kind(exc), exc.strerror or ""))
                continue
            root = Root(len(result.roots), given, str(resolved), stat.S_ISDIR(info.st_mode))
            result.roots.append(root)
            result.ignores[root.index] = Ignores()
            if root.is_dir:
                self._walk_dir(root, resolved, info, result)
            else:
                self._add_file(root, str(resolved), resolved.name, info, result)
        return result

    def _walk_dir(self, root: Root, top: Path, info: os.stat_result, result: WalkResult) -> None:
        ignores = result.ignores[root.index]
        visited = {(info.st_dev, info.st_ino)}
        seen_files: set[tuple[int, int]] = set()
        linked: list[tuple[str, str, os.stat_result]] = []
        stack: list[tuple[str, str]] = [(str(top), "")]
        while stack:
            directory, relative = stack.pop()
            self._load_ignore(root, directory, relative, ignores, result)
            try:
                with os.scandir(directory) as iterator:
                    # real entries before symlinks, so a file is reported under its own name
                    entries = sorted(iterator, key=lambda e: (e.is_symlink(), e.name))
            except OSError as exc:
                result.problems.append(
                    Problem(root.index, relative or ".", _problem_kind(exc), exc.strerror or "")
                )
                continue
            subdirs: list[tuple[str, str]] = []
            for entry in entries:
                child = f"{relative}/{entry.name}" if relative else entry.name
                try:
                    is_link = entry.is_symlink()
                    entry_stat = (
                        os.stat(entry.path) if is_link else entry.stat(follow_symlinks=False)
                    )
                except OSError as exc:
                    kind = _problem_kind(exc)
                    if is_link and kind is ProblemKind.NOT_FOUND:
                        kind = ProblemKind.BROKEN_SYMLINK
                    result.problems.append(Problem(root.index, child, kind, exc.strerror or ""))
                    continue
                if stat.S_ISDIR(entry_stat.st_mode):
                    reason = self._skip_dir(entry, child, ignores)
                    if reason is not None:
                        result.skipped.append(Skipped(root.index, child, reason))
                        continue
                    key = (entry_stat.st_dev, entry_stat.st_ino)
                    if key in visited:
                        if is_link and _points_to_ancestor(entry.path):
                            result.problems.append(
                                Problem(
                                    root.index,
                                    child,
                                    ProblemKind.SYMLINK_LOOP,
                                    "links to a directory above it",
                                )
                            )
                        else:
                            result.skipped.append(Skipped(root.index, child, SkipReason.DUPLICATE))
                        continue
                    visited.add(key)
                    subdirs.append((entry.path, child))
                    continue
                if ignores.ignored(child, is_dir=False):
                    result.skipped.append(Skipped(root.index, child, SkipReason.IGNORED))
                    continue
                if is_link:  # after every real file, so files keep their own names
                    linked.append((entry.path, child, entry_stat))
                    continue
                seen_files.add((entry_stat.st_dev, entry_stat.st_ino))
                self._add_file(root, entry.path, child, entry_stat, result)
            stack.extend(reversed(subdirs))
        for path, child, entry_stat in linked:
            key = (entry_stat.st_dev, entry_stat.st_ino)
            if key in seen_files:  # a link to a file already listed
                result.skipped.append(Skipped(root.index, child, SkipReason.DUPLICATE))
                continue
            seen_files.add(key)
            self._add_file(root, path, child, entry_stat, result)

    @staticmethod
    def _skip_dir(entry: os.DirEntry[str], child: str, ignores: Ignores) -> SkipReason | None:
        if entry.name in VCS_DIRS:
            return SkipReason.VCS
        if entry.name in VENDORED_DIRS or os.path.exists(os.path.join(entry.path, "pyvenv.cfg")):
            return SkipReason.VENDORED
        if ignores.ignored(child, is_dir=True):
            return SkipReason.IGNORED
        return None

    @staticmethod
    def _load_ignore(
        root: Root, directory: str, relative: str, ignores: Ignores, result: WalkResult
    ) -> None:
        path = os.path.join(directory, IGNORE_FILE)
        try:
            with open(path, "rb") as handle:
                data = handle.read(_MAX_IGNORE_FILE)
        except FileNotFoundError:
            return
        except OSError as exc:
            where = f"{relative}/{IGNORE_FILE}" if relative else IGNORE_FILE
            result.problems.append(
                Problem(root.index, where, _problem_kind(exc), exc.strerror or "")
            )
            return
        parsed = IgnoreFile.parse(data.decode("utf-8", "replace"), relative)
        for message in parsed.problems:
            where = f"{relative}/{IGNORE_FILE}" if relative else IGNORE_FILE
            result.problems.append(
                Problem(root.index, where, ProblemKind.MALFORMED_CONFIG, message)
            )
        ignores.add(parsed)

    def _add_file(
        self, root: Root, path: str, relative: str, info: os.stat_result, result: WalkResult
    ) -> None:
        if not stat.S_ISREG(info.st_mode):
            result.skipped.append(Skipped(root.index, relative, SkipReason.NOT_REGULAR))
            return
        by_name = skip_by_name(relative.rsplit("/", 1)[-1])
        if by_name is not None:
            result.skipped.append(Skipped(root.index, relative, by_name))
            return
        if info.st_size > self.max_file_size:
            result.skipped.append(
                Skipped(root.index, relative, SkipReason.TOO_LARGE, f"{info.st_size} bytes")
            )
            return
        result.files.append(FileTask(root.index, path, relative, info.st_size))


def _points_to_ancestor(link: str) -> bool:
    target = os.path.realpath(link)
    here = os.path.realpath(os.path.dirname(link))
    return here == target or here.startswith(target.rstrip(os.sep) + os.sep)


def _problem_kind(exc: OSError) -> ProblemKind:
    if exc.errno == errno.ELOOP:
        return ProblemKind.SYMLINK_LOOP
    if exc.errno == errno.ENOENT:
        return ProblemKind.NOT_FOUND
    return ProblemKind.UNREADABLE
