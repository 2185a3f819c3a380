"""A ``charter`` command for shell scripts that forks from the tests' fork server.

The doc-example runner puts a copy of this file first on the scripts' PATH as
``charter``. It hands its arguments, environment, working directory and its own
stdin/stdout/stderr (as ``/proc/<pid>/fd/N``) to the fork server of
``tests/support/cli_fork.py``, waits, and exits with the command's code, so a
doc's ``charter ...`` line is a new ``charter`` process without the ~1.5
CPU-seconds of imports. It runs the real ``charter`` instead whenever forking
could differ: an import-time setting (``COLUMNS``, ``PYTHON*``...) that is not
the server's, or a stream the child could not reopen as the same thing (a file
opened for appending or not at its start, a closed descriptor).

Only the standard library, and only what starts fast: it runs with ``-I -S``.
"""

import contextlib
import json
import os
import re
import signal
import socket
import stat
import sys

IMPORT_TIME_ENV = re.compile(
    r"^(PYTHON.*|COLUMNS|LINES|TERM|COLORTERM|FORCE_COLOR|NO_COLOR|TTY_.*|CLICOLOR.*|LANG|LC_.*"
    r"|JUPYTER_COLUMNS|JUPYTER_LINES)$"
)
SOCKET = "CHARTER_DOC_TEST_FORK"
SERVE_SOCKET = "CHARTER_DOC_TEST_FORK_SERVE"
SERVER_ENV = "CHARTER_DOC_TEST_FORK_ENV"
REAL = "CHARTER_DOC_TEST_REAL_CHARTER"


def _reopenable(fd: int) -> bool:
    try:
        info = os.fstat(fd)
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode):
        return True  # a pipe, a terminal, /dev/null: reopening gives the same one
    if fd == 0:
        return os.lseek(fd, 0, os.SEEK_CUR) == 0
    import fcntl

    appending = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND
    return not appending and os.lseek(fd, 0, os.SEEK_CUR) == 0


def _same(a: int, b: int) -> bool:
    first, second = os.fstat(a), os.fstat(b)
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def main() -> None:
    env = dict(os.environ)
    args = sys.argv[1:]
    mine = {k: v for k, v in env.items() if IMPORT_TIME_ENV.match(k)}
    address = env.get(SERVE_SOCKET) if args[:1] == ["serve"] else env.get(SOCKET)
    if (
        not address
        or json.dumps(sorted(mine.items())) != env.get(SERVER_ENV)
        or not all(_reopenable(fd) for fd in (0, 1, 2))
    ):
        os.execv(env[REAL], [env[REAL], *args])  # noqa: S606  # the real command, as is
    pid = os.getpid()
    streams = {
        name: f"/proc/{pid}/fd/{fd}" for fd, name in enumerate(("stdin", "stdout", "stderr"))
    }
    if _same(1, 2):
        streams["stderr"] = streams["stdout"]  # 2>&1: one stream, as the child must see it
    request = {"args": args, "env": env, "cwd": os.getcwd(), **streams}
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(address)
    conn.sendall(json.dumps(request).encode() + b"\n")
    reader = conn.makefile("rb")
    child = int(reader.readline())
    forwarded = [signal.SIGKILL]

    def forward(number: int, _frame: object) -> None:
        forwarded[0] = signal.Signals(number)
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, number)

    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, forward)
    line = reader.readline()
    code = int(line) if line.strip() else 128 + int(forwarded[0])
    os._exit(code)


if __name__ == "__main__":
    main()
