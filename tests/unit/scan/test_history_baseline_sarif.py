"""Git history and staged changes, baselines, and SARIF for GitHub code scanning."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest

from charter.discovery.scan import ScanOptions, parse_baseline, run_scan
from charter.discovery.scan.checks import sha256_hex
from charter.discovery.scan.kinds import BaselineState, ProblemKind
from charter.discovery.scan.sarif import to_sarif
from charter.errors import InvalidInput

from .helpers import fake

# What GitHub code scanning requires of an uploaded SARIF file (docs: "SARIF support
# for code scanning"), as a JSON Schema: version, tool.driver.name, rules with ids,
# results with ruleId, message.text, a location with uri and startLine >= 1.
GITHUB_SARIF = {
    "type": "object",
    "required": ["version", "runs", "$schema"],
    "properties": {
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["tool", "results"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name", "rules"],
                                "properties": {
                                    "rules": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": [
                                                "id",
                                                "shortDescription",
                                                "help",
                                                "properties",
                                            ],
                                            "properties": {
                                                "id": {"type": "string", "maxLength": 255},
                                                "help": {"required": ["text"]},
                                                "properties": {
                                                    "properties": {
                                                        "security-severity": {
                                                            "type": "string",
                                                            "pattern": r"^\d+(\.\d+)?$",
                                                        }
                                                    }
                                                },
                                            },
                                        },
                                    }
                                },
                            }
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["ruleId", "message", "locations", "partialFingerprints"],
                            "properties": {
                                "message": {"required": ["text"]},
                                "level": {"enum": ["none", "note", "warning", "error"]},
                                "baselineState": {
                                    "enum": ["new", "unchanged", "updated", "absent"]
                                },
                                "partialFingerprints": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                                "locations": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "required": ["physicalLocation"],
                                        "properties": {
                                            "physicalLocation": {
                                                "required": ["artifactLocation", "region"],
                                                "properties": {
                                                    "artifactLocation": {"required": ["uri"]},
                                                    "region": {
                                                        "required": ["startLine"],
                                                        "properties": {"startLine": {"minimum": 1}},
                                                    },
                                                },
                                            }
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.test",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q", "-b", "main")
    return tmp_path


def test_history_finds_a_removed_secret_with_its_commit_and_line(repo: Path) -> None:
    removed, kept = fake("github-pat", 1), fake("slack-bot-token", 2)
    (repo / "app.py").write_text(f"x = 1\ny = 2\nTOKEN = '{removed.token}'\n")
    (repo / "settings.env").write_text(kept.text + "\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "add")
    first = _git(repo, "rev-parse", "HEAD")
    (repo / "app.py").write_text("x = 1\ny = 2\nTOKEN = os.environ['T']\n")
    _git(repo, "commit", "-q", "-am", "remove the token")
    (repo / "node_modules").mkdir()
    report = run_scan([str(repo)], ScanOptions(history=True))
    assert report.commits_scanned == 2
    found = {(f.rule.id, f.path, f.line, f.origin, f.commit) for f in report.findings}
    assert found == {
        ("github-pat", "app.py", 3, "history", first),
        ("slack-bot-token", "settings.env", 1, "file", None),  # still present: reported once
    }
    history = next(f for f in report.findings if f.origin == "history")
    assert history.fingerprint == sha256_hex(removed.token.encode())
    assert history.location == f"app.py:3@{first[:12]}"


def test_history_on_a_plain_directory_is_a_problem(tmp_path: Path) -> None:
    report = run_scan([str(tmp_path)], ScanOptions(history=True))
    assert [(p.kind, p.detail) for p in report.problems] == [
        (ProblemKind.GIT, "not a git repository")
    ]


def test_pre_commit_scans_only_what_is_staged(repo: Path) -> None:
    staged, unstaged = fake("stripe-secret-key"), fake("github-pat", 3)
    (repo / "README.md").write_text("hello\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "init")
    (repo / "pay.py").write_text(f"import stripe\n\nstripe.api_key = '{staged.token}'\n")
    (repo / "wip.py").write_text(f"T = '{unstaged.token}'\n")
    _git(repo, "add", "pay.py")
    report = run_scan([str(repo / "README.md").rsplit("/", 1)[0]], ScanOptions(pre_commit=True))
    assert [(f.rule.id, f.path, f.line, f.origin) for f in report.findings] == [
        ("stripe-secret-key", "pay.py", 3, "staged")
    ]


def test_baseline_marks_known_findings_unchanged(tmp_path: Path) -> None:
    known, new = fake("github-pat", 4), fake("github-pat", 5)
    (tmp_path / "a.txt").write_text(known.text + "\n")
    first = run_scan([str(tmp_path)], ScanOptions())
    baseline = parse_baseline(json.dumps(first.to_json()))
    (tmp_path / "b.txt").write_text(f"moved: {known.token}\n{new.text}\n")
    second = run_scan([str(tmp_path)], ScanOptions(baseline=baseline))
    states = sorted((f.path, f.line, f.baseline) for f in second.findings)
    assert states == [
        ("a.txt", 1, BaselineState.UNCHANGED),
        ("b.txt", 1, BaselineState.UNCHANGED),
        ("b.txt", 2, BaselineState.NEW),
    ]
    assert len(second.new_findings) == 1


@pytest.mark.parametrize(
    "text",
    ["not json", '{"other": 1}', '{"fingerprints": ["abc"]}', '{"findings": [{"fingerprint": 1}]}'],
)
def test_bad_baselines_are_usage_errors(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_baseline(text)


def test_sarif_is_what_github_code_scanning_accepts(tmp_path: Path) -> None:
    for index, detector in enumerate(["openai-project-key", "aws-access-key", "jwt"]):
        (tmp_path / f"dir {index}").mkdir()
        (tmp_path / f"dir {index}" / "config.env").write_text("\n" + fake(detector).text + "\n")
    report = run_scan([str(tmp_path)], ScanOptions(baseline=frozenset()))
    document = to_sarif(report)
    jsonschema.validate(document, GITHUB_SARIF)
    run = document["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert len(rule_ids) == len(set(rule_ids)) >= 60
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["openai-project-key", "aws-access-key", "jwt"]
    for result in results:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"].startswith("dir%20")
        assert location["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert location["region"]["startLine"] == 2
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].endswith("/")
    fingerprints = [next(iter(r["partialFingerprints"].values())) for r in results]
    assert len(set(fingerprints)) == 3
    assert not any(f.fingerprint in fingerprints for f in report.findings)
    text = json.dumps(document)
    for detector in ["openai-project-key", "aws-access-key", "jwt"]:
        assert fake(detector).token not in text
