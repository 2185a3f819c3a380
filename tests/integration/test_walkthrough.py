"""The README's walk-through runs, step by step, on a fresh store: ``examples/walkthrough.sh``.

The script is run as a user runs it (bash, real servers on free ports, the example
agents as separate Python processes). Its ``charter`` commands go through the test
suite's fork server (tests/support/cli_fork.py), a new process per command that
starts with the CLI already imported, so forty commands cost their work and not
forty times the imports.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support import cli_fork
from tests.support.server import CHARTER, ROOT

SCRIPT = ROOT / "examples" / "walkthrough.sh"
README = ROOT / "README.md"
BEGIN, END = "# -- README: begin", "# -- README: end"

#: A ``charter`` on PATH that asks the fork server to run the command as this process would:
#: its arguments, environment, directory and standard streams; signals are passed on.
SHIM = """#!{python} -S
import json, os, signal, socket, sys
me = os.getpid()
conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
conn.connect(os.environ["CHARTER_TEST_FORK_SOCKET"])
names = ("stdin", "stdout", "stderr")
streams = {{name: f"/proc/{{me}}/fd/{{fd}}" for fd, name in enumerate(names)}}
request = {{"args": sys.argv[1:], "env": dict(os.environ), "cwd": os.getcwd(), **streams}}
conn.sendall(json.dumps(request).encode() + b"\\n")
reader = conn.makefile("rb")
child = int(reader.readline())
def forward(number, _frame):
    try:
        os.kill(child, number)
    except ProcessLookupError:
        pass
for number in (signal.SIGTERM, signal.SIGINT):
    signal.signal(number, forward)
line = reader.readline()
sys.exit(int(line) if line.strip() else 1)
"""


def script_section() -> str:
    text = SCRIPT.read_text()
    return text.split(BEGIN, 1)[1].split("\n", 1)[1].split(END, 1)[0]


def readme_block() -> str:
    text = README.read_text()
    marker = text.index("<!-- the block below is examples/walkthrough.sh")
    return text[marker:].split("```sh\n", 1)[1].split("```", 1)[0]


def test_the_readme_shows_the_script_word_for_word() -> None:
    assert readme_block() == script_section(), (
        "README.md's walk-through block and examples/walkthrough.sh (between its README "
        "markers) differ: copy the script's section into the README"
    )


def test_the_script_is_executable_and_valid_bash() -> None:
    assert SCRIPT.stat().st_mode & stat.S_IXUSR
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False).returncode == 0


@pytest.mark.slow
def test_the_walkthrough_runs_on_a_fresh_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_")}
    env |= {"CHARTER_HOME": str(home), "COLUMNS": "200", "TMPDIR": str(tmp_path)}
    server = cli_fork._server_for(env, CHARTER, ROOT, ("uvicorn", "charter.server"))
    shim = tmp_path / "bin" / "charter"
    shim.parent.mkdir()
    shim.write_text(SHIM.format(python=sys.executable))
    shim.chmod(0o755)
    # before .venv/bin, which the script adds to PATH only when it is not there yet
    env["PATH"] = f"{shim.parent}:{ROOT / '.venv' / 'bin'}:{env['PATH']}"
    env["CHARTER_TEST_FORK_SOCKET"] = server.address
    done = subprocess.run(
        ["bash", str(SCRIPT)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    for line in [
        f"CHARTER_HOME={home}",
        "registered support-summarizer",
        "ALLOW",
        "outside_schedule",
        '"active": true',
        "revoked",
        '"active": false',
        "registered finance-reconciler",
        "→ allowed by charter/finance-reconciler",  # the guard example, in-process
        "→ DENIED ['",
        "read_ticket 4711 → allowed",
        "200",
        "every step passed",
    ]:
        assert line in out, (line, out[-6000:])
    assert (home / "map.svg").exists()
    assert "Traceback" not in out
    # the servers it started are gone
    ports = re.findall(r"is up: http://127\.0\.0\.1:(\d+)", out)
    assert len(ports) == 2, out[-3000:]
    for port in ports:
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", int(port)), 1):
            pass


@pytest.mark.slow
@pytest.mark.parametrize(
    ("example", "framework"),
    [
        ("guard_example.py", None),
        ("langchain_tool.py", "langchain_core"),
        ("openai_agents_tool.py", "agents"),
    ],
)
def test_an_sdk_example_without_its_agent_is_one_line_not_a_traceback(
    tmp_path: Path, example: str, framework: str | None
) -> None:
    if framework is not None and importlib.util.find_spec(framework) is None:
        pytest.skip(f"{framework} is not installed (make setup installs the SDK extras)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_")}
    env["CHARTER_HOME"] = str(tmp_path / "home")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "sdk" / example)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: agent: finance-reconciler is not"), lines
    assert "unknown_agent" in lines[0] and "examples/walkthrough.sh" in lines[0]
