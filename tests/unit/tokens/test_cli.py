"""The credential CLI refuses bad option combinations before touching the store."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from charter.cli.main import app


@pytest.mark.parametrize(
    "args",
    [
        ["agent", "enroll", "support-summarizer"],
        ["agent", "enroll", "support-summarizer", "--code", "--generate", "--out", "x.pem"],
    ],
)
def test_enroll_needs_exactly_one_mode(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "exactly one of" in result.output


def test_the_credential_commands_are_mounted() -> None:
    runner = CliRunner()
    for group in (["keys"], ["tokens"], ["idp"], ["agent", "enroll"]):
        result = runner.invoke(app, [*group, "--help"])
        assert result.exit_code == 0, group
    assert "revoke-key" in runner.invoke(app, ["agent", "--help"]).output
