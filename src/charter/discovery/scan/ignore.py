"""``.charterignore``: paths, known test keys and detectors to leave alone.

One file per directory, like ``.gitignore``, applying to that directory and
below. Lines are:

* a path pattern, gitignore-style: ``*`` within a segment, ``**`` across
  segments, ``?`` one character; a trailing ``/`` matches directories only; a
  pattern with a ``/`` in it (other than trailing) is anchored to the file's
  directory, one without matches a name at any depth; ``!`` negates; the last
  matching line wins and deeper files win over shallower ones;
* ``fingerprint:<sha256>``: a known test key, allowed wherever it appears (the
  value is the fingerprint the scan printed — never the key itself);
* ``detector:<id>``: that detector is off below this directory;
* ``#`` comments and blank lines.

Inline, a ``charter:allow`` comment on a secret's line (or the line above)
allows that one occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

IGNORE_FILE = ".charterignore"
_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class PathRule:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool
    source: str


def _glob_to_regex(glob: str) -> str:
    out = []
    i = 0
    while i < len(glob):
        char = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def compile_rule(line: str) -> PathRule:
    negate = line.startswith("!")
    pattern = line[1:] if negate else line
    dir_only = pattern.endswith("/")
    pattern = pattern.rstrip("/")
    anchored = "/" in pattern
    pattern = pattern.lstrip("/")
    body = _glob_to_regex(pattern)
    # A pattern matches the path itself or any directory above it.
    prefix = "" if anchored else "(?:.*/)?"
    return PathRule(re.compile(f"^{prefix}{body}(?:/.*)?$"), negate, dir_only, line)


@dataclass(slots=True)
class IgnoreFile:
    """One parsed ``.charterignore``; ``base`` is its directory relative to the scan root."""

    base: str
    rules: list[PathRule] = field(default_factory=list)
    fingerprints: set[str] = field(default_factory=set)
    detectors: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str, base: str = "") -> IgnoreFile:
        parsed = cls(base)
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("fingerprint:"):
                value = line.split(":", 1)[1].strip().lower()
                if _FINGERPRINT.match(value):
                    parsed.fingerprints.add(value)
                else:
                    parsed.problems.append(f"line {number}: not a SHA-256 fingerprint")
            elif line.startswith("detector:"):
                parsed.detectors.add(line.split(":", 1)[1].strip())
            else:
                parsed.rules.append(compile_rule(line))
        return parsed

    def _relative(self, path: str) -> str | None:
        if not self.base:
            return path
        if path == self.base or path.startswith(self.base + "/"):
            return path[len(self.base) + 1 :]
        return None

    def verdict(self, path: str, *, is_dir: bool) -> bool | None:
        """True: ignored; False: re-included by ``!``; None: no rule here matches."""
        relative = self._relative(path)
        if not relative:
            return None
        decision: bool | None = None
        for rule in self.rules:
            if rule.dir_only and not is_dir and not _under_dir_match(rule, relative):
                continue
            if rule.regex.match(relative):
                decision = not rule.negate
        return decision


def _under_dir_match(rule: PathRule, relative: str) -> bool:
    """A ``dir/`` rule also covers files below a matching directory."""
    parent = relative.rsplit("/", 1)[0] if "/" in relative else ""
    return bool(parent) and bool(rule.regex.match(parent))


@dataclass(slots=True)
class Ignores:
    """Every ``.charterignore`` met so far in one scan root."""

    files: list[IgnoreFile] = field(default_factory=list)

    def add(self, ignore_file: IgnoreFile) -> None:
        self.files.append(ignore_file)
        self.files.sort(key=lambda f: f.base.count("/") + (1 if f.base else 0))

    def ignored(self, path: str, *, is_dir: bool) -> bool:
        decision = False
        for ignore_file in self.files:  # shallow to deep: deeper files have the last word
            verdict = ignore_file.verdict(path, is_dir=is_dir)
            if verdict is not None:
                decision = verdict
        return decision

    def allows_fingerprint(self, fingerprint: str) -> bool:
        return any(fingerprint in f.fingerprints for f in self.files)

    def detector_off(self, detector: str, path: str) -> bool:
        return any(detector in f.detectors and f._relative(path) is not None for f in self.files)
