"""Every docs page's examples run as a reader would paste them: a failing example is a failing test.

One case per page. The page's blocks run in order in one bash process (see
``tests/support/doc_examples.py`` and docs/testing.md) in a scratch copy of the
repository (its top-level entries linked, so files an example writes land in the
scratch), with a fresh ``CHARTER_HOME`` and HOME and the checkout's ``.venv/bin``
first on PATH. ``charter`` there forks from the suite's fork server
(``tests/support/fork_shim.py``): a real new process per command, without the
import cost.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import warnings
from pathlib import Path

import pytest
from tests.support import cli_fork, doc_examples
from tests.support.server import CHARTER, SERVE_IMPORTS

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs").rglob("*.md"))
SHIM = Path(__file__).resolve().parents[1] / "support" / "fork_shim.py"
PAGE_TIMEOUT = 180


def _stop_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM first: each forked ``charter`` passes it on to its command (SIGKILL cannot)."""
    for number, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, number)
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _scratch_checkout(tmp_path: Path) -> Path:
    """The repository's top-level entries, linked; ``.venv/bin/charter`` is the fork shim."""
    work = tmp_path / "repo"
    work.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in {".venv", ".charter", ".git"}:
            (work / entry.name).symlink_to(entry)
    venv = work / ".venv"
    venv.mkdir()
    for entry in (ROOT / ".venv").iterdir():
        if entry.name != "bin":
            (venv / entry.name).symlink_to(entry)
    (venv / "bin").mkdir()
    for entry in (ROOT / ".venv" / "bin").iterdir():
        if entry.name != "charter":
            (venv / "bin" / entry.name).symlink_to(entry)
    shim = venv / "bin" / "charter"
    shim.write_text(f"#!{ROOT / '.venv' / 'bin' / 'python'} -IS\n" + SHIM.read_text())
    shim.chmod(0o755)
    return work


def _environment(tmp_path: Path, work: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    keep = {k: os.environ[k] for k in ("TMPDIR", "USER", "LOGNAME") if k in os.environ}
    env = {
        **keep,
        "PATH": f"{work / '.venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "CHARTER_HOME": str(tmp_path / "charter-home"),
        "LANG": "C.UTF-8",
        "COLUMNS": "120",
    }
    import_env = {k: v for k, v in env.items() if cli_fork.IMPORT_TIME_ENV.match(k)}
    plain = cli_fork._server_for(env, CHARTER, ROOT, ())
    serve = cli_fork._server_for(env, CHARTER, ROOT, SERVE_IMPORTS)
    env.update(
        CHARTER_DOC_TEST_FORK=plain.address,
        CHARTER_DOC_TEST_FORK_SERVE=serve.address,
        CHARTER_DOC_TEST_FORK_ENV=json.dumps(sorted(import_env.items())),
        CHARTER_DOC_TEST_REAL_CHARTER=CHARTER,
    )
    return env


@pytest.mark.filterwarnings("always::tests.support.doc_examples.DocExampleSkipped")
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT / "docs")) for p in PAGES])
def test_doc_page_examples_run(page: Path, tmp_path: Path) -> None:
    parsed = doc_examples.parse_page(page)
    if not parsed.blocks:
        pytest.skip(f"{page.name} has no runnable examples")
    for block in parsed.skipped:
        warnings.warn(
            f"docs/{page.relative_to(ROOT / 'docs')}:{block.line} not run: {block.skip}",
            doc_examples.DocExampleSkipped,
            stacklevel=1,
        )
    output = _run_page(parsed, tmp_path)
    tail = "\n".join(output.splitlines()[-80:])
    assert "\n::doc-test:: done\n" in output, f"docs/{page.name}: an example failed\n{tail}"


def _run_page(parsed: doc_examples.Page, tmp_path: Path) -> str:
    """The page's script's output; it ends in ``::doc-test:: done`` only if every block passed."""
    work = _scratch_checkout(tmp_path)
    env = _environment(tmp_path, work)
    ports = {documented: doc_examples.free_port() for documented in parsed.ports}
    scratch = tmp_path / "blocks"
    scratch.mkdir()
    (scratch / "page.sh").write_text(doc_examples.script(parsed, scratch, ports))
    bash = shutil.which("bash") or "/bin/bash"
    process = subprocess.Popen(
        [bash, str(scratch / "page.sh")],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so a page that hangs is stopped with all it started
    )
    try:
        output, _ = process.communicate(timeout=PAGE_TIMEOUT)
    except subprocess.TimeoutExpired:
        _stop_group(process)
        output, _ = process.communicate()
        pytest.fail(f"{parsed.path.name}: still running after {PAGE_TIMEOUT} s\n{output[-4000:]}")
    if process.returncode != 0:
        return output + f"\n(exit {process.returncode})\n"
    return output


def test_forked_charter_writes_where_the_shell_redirects(tmp_path: Path) -> None:
    """Appending, 2>&1 into a file and pipes give what a real ``charter`` process gives."""
    page = tmp_path / "page.md"
    page.write_text(
        "```sh\n"
        "charter --version >> out.txt\n"
        "charter --version >> out.txt\n"
        "test $(wc -l < out.txt) -eq 2\n"
        "charter agent show nobody > both.txt 2>&1 || true\n"
        "grep -q '^error: ' both.txt\n"
        "charter --version | grep -qE '^[0-9]+[.]'\n"
        "echo '{}' | charter people import - >/dev/null 2>&1 || echo \"exit $?\" > code.txt\n"
        "```\n"
    )
    output = _run_page(doc_examples.parse_page(page), tmp_path)
    assert "\n::doc-test:: done\n" in output, output


def test_console_blocks_keep_commands_and_drop_output() -> None:
    text = (
        "$ charter check --agent a \\\n"
        "    --action x\n"
        "ALLOW  by charter/a/allow/0\n"
        '$ curl -d \'{"a": 1,\n'
        ' "b": 2}\' http://x\n'
        '{"decision": true}\n'
    )
    assert doc_examples.console_commands(text) == (
        'charter check --agent a \\\n    --action x\ncurl -d \'{"a": 1,\n "b": 2}\' http://x'
    )


def test_unknown_directive_is_an_error(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text('<!-- doc-test: skipp reason="x" -->\n```sh\ntrue\n```\n')
    with pytest.raises(doc_examples.DocTestSyntaxError, match="unknown doc-test comment"):
        doc_examples.parse_page(page)


def test_directives_apply_to_the_next_block_only(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- doc-test: ports 8000 -->\n"
        '<!-- doc-test: skip reason="needs live AWS credentials" -->\n'
        "```sh\naws sts get-caller-identity\n```\n"
        "<!-- doc-test: exit=1 -->\n"
        "```console\n$ charter discover fs examples/workstation\nfound\n```\n"
        "```yaml\nnot: run\n```\n"
        "```python\nprint('http://127.0.0.1:8000')\n```\n"
    )
    parsed = doc_examples.parse_page(page)
    assert [(b.lang, b.skip, b.exit_code) for b in parsed.blocks] == [
        ("sh", "needs live AWS credentials", 0),
        ("console", None, 1),
        ("python", None, 0),
    ]
    assert parsed.ports == (8000,)
    script = doc_examples.script(parsed, tmp_path, {8000: 40123})
    assert "aws sts" not in script
    assert "skipped: needs live AWS credentials" in script
    assert "127.0.0.1:40123" in (tmp_path / "block-14.py").read_text()


def test_a_failing_block_stops_the_script(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```sh\nexport X=1\n```\n<!-- doc-test: exit=3 -->\n```sh\nexit 3\n```\n"
        '```sh\ntest "$X" = 1\nfalse\necho never\n```\n'
    )
    script = doc_examples.script(doc_examples.parse_page(page), tmp_path, {})
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "never" not in result.stdout
    assert "::doc-test:: failed (exit 1): false" in result.stderr
