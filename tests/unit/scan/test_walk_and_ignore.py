"""What is read and what is skipped, and why; bad input never raises."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from charter.discovery.scan import ScanOptions, run_scan
from charter.discovery.scan.ignore import IgnoreFile, Ignores
from charter.discovery.scan.kinds import ProblemKind, SkipReason
from charter.discovery.scan.walker import Walker

from .helpers import fake


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def _skips(report_skipped: list[object]) -> dict[str, str]:
    return {s.relative: str(s.reason) for s in report_skipped}  # type: ignore[attr-defined]


def test_skip_rules_say_why(tmp_path: Path) -> None:
    token = fake("github-pat").token
    _write(tmp_path / "app.py", f"TOKEN = '{token}'\n")
    _write(tmp_path / "node_modules/lib/index.js", f"t='{token}'")
    _write(tmp_path / ".venv/lib/x.py", f"t='{token}'")
    _write(tmp_path / "env2/pyvenv.cfg", "home = /usr/bin\n")
    _write(tmp_path / ".git/config", f"t={token}")
    _write(tmp_path / "logo.png", b"\x89PNG" + token.encode())
    _write(tmp_path / "data.bin2", b"\x00\x01binary" + token.encode())
    _write(tmp_path / "bundle.min.js", f"var t='{token}';")
    _write(tmp_path / "app.js", "var a=1;" * 2000 + f"var t='{token}';")
    _write(tmp_path / "big.txt", "x" * 70_000 + token)
    os.mkfifo(tmp_path / "pipe")
    report = run_scan([str(tmp_path)], ScanOptions(max_file_size=65536))
    assert _skips(report.skipped) == {
        "node_modules": "vendored",
        ".venv": "vendored",
        "env2": "vendored",
        ".git": "version-control metadata",
        "logo.png": "binary",
        "data.bin2": "binary",
        "bundle.min.js": "minified",
        "app.js": "minified",
        "big.txt": "too large",
        "pipe": "not a regular file",
    }
    assert [(f.path, f.rule.id) for f in report.findings] == [("app.py", "github-pat")]
    assert report.files_scanned == 1


def test_bad_input_is_reported_not_raised(tmp_path: Path) -> None:
    token = fake("slack-bot-token").token
    _write(tmp_path / "ok.txt", f"SLACK={token}\n")
    _write(tmp_path / "latin1.txt", b"caf\xe9\n")
    _write(tmp_path / ".cursor/mcp.json", '{"mcpServers": {')
    _write(tmp_path / "pyproject.toml", "[project\nname=")
    _write(tmp_path / "package.json", "{not json")
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/loop").symlink_to(tmp_path)
    (tmp_path / "self").symlink_to(tmp_path / "self")
    huge = tmp_path / "huge.log"
    with huge.open("wb") as handle:  # a sparse 10 GB file: stat says 10 GB, nothing is read
        handle.truncate(10 * 1024**3)
    report = run_scan([str(tmp_path), str(tmp_path / "nope")], ScanOptions())
    problems = {(p.path, str(p.kind)) for p in report.problems}
    assert (str(tmp_path / "nope"), str(ProblemKind.NOT_FOUND)) in problems
    assert ("dangling", str(ProblemKind.BROKEN_SYMLINK)) in problems
    assert ("sub/loop", str(ProblemKind.SYMLINK_LOOP)) in problems
    assert ("self", str(ProblemKind.SYMLINK_LOOP)) in problems
    assert ("latin1.txt", str(ProblemKind.INVALID_UTF8)) in problems
    assert (".cursor/mcp.json", str(ProblemKind.MALFORMED_CONFIG)) in problems
    assert ("pyproject.toml", str(ProblemKind.MALFORMED_CONFIG)) in problems
    assert ("package.json", str(ProblemKind.MALFORMED_CONFIG)) in problems
    assert _skips(report.skipped)["huge.log"] == "too large"
    assert [f.path for f in report.findings] == ["ok.txt"]


def test_unreadable_file_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "secret.txt", "x")
    real_open = open

    def deny(path: object, *args: object, **kwargs: object) -> object:
        if str(path).endswith("secret.txt"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", deny)
    report = run_scan([str(tmp_path)], ScanOptions())
    assert [(p.path, p.kind, p.detail) for p in report.problems] == [
        ("secret.txt", ProblemKind.UNREADABLE, "Permission denied")
    ]
    assert report.files_scanned == 0


def test_symlinked_file_and_directory_are_read_once(tmp_path: Path) -> None:
    token = fake("github-pat").token
    _write(tmp_path / "real/config.txt", f"T={token}\n")
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real/config.txt")
    report = run_scan([str(tmp_path)], ScanOptions())
    assert [f.path for f in report.findings] == ["real/config.txt"]
    assert {(s.relative, s.reason) for s in report.skipped} == {
        ("alias", SkipReason.DUPLICATE),
        ("link.txt", SkipReason.DUPLICATE),
    }


def test_charterignore_paths_fingerprints_and_detectors(tmp_path: Path) -> None:
    keep, known = fake("github-pat", 1), fake("github-pat", 2)
    slack = fake("slack-bot-token")
    _write(
        tmp_path / ".charterignore",
        "\n".join(
            [
                "# test data",
                "fixtures/",
                "*.snap",
                "!keep.snap",
                f"fingerprint:{__import__('hashlib').sha256(known.token.encode()).hexdigest()}",
                "fingerprint:not-a-fingerprint",
            ]
        ),
    )
    _write(tmp_path / "fixtures/keys.txt", keep.text)
    _write(tmp_path / "a.snap", keep.text)
    _write(tmp_path / "keep.snap", keep.text)
    _write(tmp_path / "src/app.py", f"{known.text}\n{keep.text}\n")
    _write(tmp_path / "docs/.charterignore", "detector:slack-bot-token\n")
    _write(tmp_path / "docs/howto.md", slack.text)
    _write(tmp_path / "other/howto.md", slack.text)
    report = run_scan([str(tmp_path)], ScanOptions())
    assert sorted((f.path, f.rule.id) for f in report.findings) == [
        ("keep.snap", "github-pat"),
        ("other/howto.md", "slack-bot-token"),
        ("src/app.py", "github-pat"),
    ]
    assert report.allowed == 2  # the known fingerprint, the slack key under docs/
    assert {s.relative for s in report.skipped} == {"fixtures", "a.snap"}
    assert [p.kind for p in report.problems] == [ProblemKind.MALFORMED_CONFIG]


@pytest.mark.parametrize(
    ("rule", "path", "is_dir", "ignored"),
    [
        ("build/", "build", True, True),
        ("build/", "build", False, False),
        ("build/", "src/build/x.js", False, True),
        ("/root-only.txt", "root-only.txt", False, True),
        ("/root-only.txt", "a/root-only.txt", False, False),
        ("docs/*.md", "docs/a.md", False, True),
        ("docs/*.md", "docs/sub/a.md", False, False),
        ("docs/**/*.md", "docs/sub/deep/a.md", False, True),
        ("*.lock", "deep/dir/yarn.lock", False, True),
        ("te?t.py", "test.py", False, True),
    ],
)
def test_ignore_patterns(rule: str, path: str, is_dir: bool, ignored: bool) -> None:
    ignores = Ignores()
    ignores.add(IgnoreFile.parse(rule))
    assert ignores.ignored(path, is_dir=is_dir) is ignored


def test_deeper_ignore_file_has_the_last_word() -> None:
    ignores = Ignores()
    ignores.add(IgnoreFile.parse("!*.env", "app"))
    ignores.add(IgnoreFile.parse("*.env"))
    assert ignores.ignored("x.env", is_dir=False)
    assert not ignores.ignored("app/prod.env", is_dir=False)


def test_walker_single_file_root(tmp_path: Path) -> None:
    target = _write(tmp_path / "one.env", "A=1\n")
    walk = Walker(max_file_size=100).walk([str(target)])
    assert [(f.relative, f.size) for f in walk.files] == [("one.env", 4)]
    assert walk.roots[0].is_dir is False
