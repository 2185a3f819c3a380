"""Run the ``charter`` command in a fresh process without paying its imports each time.

A *fork server* imports ``charter.cli.main`` once, then forks one child per
invocation. The child is a new process like the one ``subprocess.run`` starts —
its own pid, environment, working directory, stdin/stdout/stderr and exit
status, no state from earlier invocations — but it starts with the CLI already
imported, which saves the ~1.5 CPU-seconds of imports each ``charter`` process
otherwise spends. The child runs ``main()`` as the console script does, then
the interpreter's exit handlers, and exits with the command's code.

Run as a script, this module is the server (one per pytest worker, started on
first use): it reads one request per connection on a Unix socket and forks; the
child sends back its pid, then its exit code.

Settings read at import (the console width, Rich's colour switches, Python's
own ``PYTHON*`` variables) cannot differ between invocations of one server, so
each distinct set of them gets its own server.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

#: Environment read when the CLI is imported (or the interpreter starts).
IMPORT_TIME_ENV = re.compile(
    r"^(PYTHON.*|COLUMNS|LINES|TERM|COLORTERM|FORCE_COLOR|NO_COLOR|TTY_.*|CLICOLOR.*|LANG|LC_.*"
    r"|JUPYTER_COLUMNS|JUPYTER_LINES)$"
)


def _import_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if IMPORT_TIME_ENV.match(k)}


# ---------------------------------------------------------------- the server (a script)


def _child(conn: socket.socket, charter: str) -> None:
    """In the forked child: become ``charter <args>`` and never return."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        reader = conn.makefile("rb")
        request = json.loads(reader.readline())
        conn.sendall(f"{os.getpid()}\n".encode())
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()  # TZ, as a new process reads it
        for fd, name, mode in ((0, "stdin", os.O_RDONLY), (1, "stdout", os.O_WRONLY)):
            opened = os.open(request[name], mode)
            os.dup2(opened, fd)
            os.close(opened)
        if request["stderr"] == request["stdout"]:
            os.dup2(1, 2)  # stderr=subprocess.STDOUT
        else:
            opened = os.open(request["stderr"], os.O_WRONLY)
            os.dup2(opened, 2)
            os.close(opened)
        sys.argv = [charter, *request["args"]]
        from charter.cli.main import main

        try:
            main()
            code = 0
        except SystemExit as exc:  # what the interpreter does with it
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        threading._shutdown()  # type: ignore[attr-defined]  # as the interpreter does at exit
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        code &= 0xFF  # what a parent sees of an exit status
        try:
            conn.sendall(f"{code}\n".encode())
        finally:
            os._exit(code)


def _serve(address: str, executable: str, preload: tuple[str, ...]) -> None:
    # As the console script has it: its own directory first on the path, not ours.
    sys.path[0] = str(Path(executable).parent)
    importlib.import_module("charter.cli.main")  # the point: import once, fork many
    for name in ("alembic.command", "alembic.config", *preload):  # what commands import
        importlib.import_module(name)

    if threading.active_count() != 1:
        raise SystemExit("the CLI started a thread at import; forking would be unsafe")
    signal.signal(signal.SIGTERM, _stop_serving)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(64)
    listener.settimeout(2)
    parent = os.getppid()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    try:
        while os.getppid() == parent:  # the pytest worker is gone: so are we
            _reap()
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            if os.fork() == 0:
                listener.close()
                _child(conn, executable)
            conn.close()
    except _Stop:
        pass
    # Wait for the children, so that their CPU time is counted in ours (and the test run's).
    deadline = time.monotonic() + 10
    while _reap() and time.monotonic() < deadline:
        time.sleep(0.05)


class _Stop(Exception):
    pass


def _stop_serving(_signal: int, _frame: object) -> None:
    raise _Stop


def _reap() -> bool:
    """Collect the children that have exited; whether any are still running."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


# ---------------------------------------------------------------- the client (pytest side)


class _Server:
    def __init__(self, env: dict[str, str], charter: str, cwd: Path, preload: tuple[str, ...]):
        self.directory = tempfile.mkdtemp(prefix="charter-fork-")
        self.address = os.path.join(self.directory, "socket")
        self.process = subprocess.Popen(
            [sys.executable, __file__, self.address, charter, *preload],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline() != b"ready\n":
            raise RuntimeError("the charter fork server did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        try:
            os.unlink(self.address)
            os.rmdir(self.directory)
        except OSError:
            pass


_servers: dict[str, _Server] = {}
_lock = threading.Lock()


def _server_for(env: dict[str, str], charter: str, cwd: Path, preload: tuple[str, ...]) -> _Server:
    key = json.dumps([charter, preload, sorted(_import_env(env).items())])
    with _lock:
        server = _servers.get(key)
        if server is None or server.process.poll() is not None:
            # the server's own environment: only what is read at import differs by key
            base = {k: v for k, v in os.environ.items() if not IMPORT_TIME_ENV.match(k)}
            server = _Server({**base, **_import_env(env)}, charter, cwd, preload)
            _servers[key] = server
        return server


@atexit.register
def _stop_all() -> None:
    for server in _servers.values():
        server.stop()


class ForkedProcess:
    """What a test uses of ``subprocess.Popen``: pid, poll, wait, terminate, kill."""

    def __init__(self, args: list[str], conn: socket.socket) -> None:
        self.args = args
        self._conn = conn
        self._reader = conn.makefile("rb")
        self.pid = int(self._reader.readline())
        self.returncode: int | None = None
        self._signalled = signal.SIGKILL

    def _finish(self, line: bytes) -> int:
        # no exit code: the child died of a signal before it could send one
        self.returncode = int(line) if line.strip() else -self._signalled
        self._reader.close()
        self._conn.close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is not None:
            return self.returncode
        self._conn.settimeout(timeout)
        try:
            line = self._reader.readline()
        except TimeoutError:
            raise subprocess.TimeoutExpired(self.args, timeout or 0) from None
        return self._finish(line)

    def poll(self) -> int | None:
        if self.returncode is None:
            readable, _, _ = select.select([self._conn], [], [], 0)
            if readable:
                return self.wait()
        return self.returncode

    def send_signal(self, number: int) -> None:
        if self.returncode is None:
            self._signalled = signal.Signals(number)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, number)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def spawn(
    command: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    stdin: str = os.devnull,
    stdout: str,
    stderr: str | None = None,
    preload: tuple[str, ...] = (),
) -> ForkedProcess:
    """``subprocess.Popen(command, ...)`` for ``charter``, output to files (stderr: with stdout).

    ``preload`` names modules the command imports when it runs (``charter serve`` imports
    the API app): the fork server imports them once too. Servers differ by preload, so a
    command never finds a module imported that it would not have imported itself.
    """
    charter, *args = command
    server = _server_for(env, charter, cwd, preload)
    streams = {"stdin": stdin, "stdout": stdout, "stderr": stderr or stdout}
    request = {"args": args, "env": env, "cwd": str(cwd), **streams}
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(server.address)
    conn.sendall(json.dumps(request).encode() + b"\n")
    return ForkedProcess(command, conn)


def run(
    command: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    input_text: str | None,
    timeout: float,
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(command, capture_output=True, text=True, ...)`` for ``charter``."""
    with tempfile.TemporaryDirectory(prefix="charter-run-") as scratch:
        paths = {name: os.path.join(scratch, name) for name in ("stdin", "stdout", "stderr")}
        Path(paths["stdin"]).write_text(input_text or "")
        for name in ("stdout", "stderr"):
            Path(paths[name]).touch()
        process = spawn(
            command,
            env=env,
            cwd=cwd,
            stdin=os.devnull if input_text is None else paths["stdin"],
            stdout=paths["stdout"],
            stderr=paths["stderr"],
        )
        try:
            returncode = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        stdout = Path(paths["stdout"]).read_text()
        stderr = Path(paths["stderr"]).read_text()
    return subprocess.CompletedProcess(command, returncode, stdout, stderr)


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2], tuple(sys.argv[3:]))
