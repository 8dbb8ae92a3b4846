"""The end-to-end tests' `arrimage`, imported once: a process that has imported the CLI and every command group, then
runs each command the tests send it in a fork of itself.

Why: a fresh `arrimage cases show X` spends ~1.2 s of its ~1.4 s importing (Temporal's client, the domain's models,
the record); the end-to-end layer runs the CLI about a thousand times, so those imports were most of CI's time. A
fork starts with them done and is otherwise the process a shell user gets: its own pid, its own environment (the
test's, set before the command runs), working directory, stdin (/dev/null), stdout and stderr (files the test reads
back), default signal handling, the interpreter's normal exit (atexit handlers, flushed streams, non-daemon threads
joined) and its exit status (negative: the signal that ended it).

What a fork cannot change is what the interpreter read at its own start-up (PYTHON* variables, the locale): the
tests' side (tests/e2e/harness.py `run_cli`) runs the real console script instead when a test sets any of those, or
when ARRIMAGE_TEST_CLI=spawn asks for it everywhere. Nothing here is imported by the project.

Protocol, one connection per command: the test sends one JSON line {argv, env, cwd, out, err}; this process answers
the command's pid on one line, then its exit status on another when it has ended.

Run as `python tests/e2e/cli_forks.py SOCKET`, started with no COLUMNS or LINES in its environment: rich's consoles,
built when the CLI's modules are imported, then read the terminal width of each command's own environment.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time


def _import_the_cli() -> None:
    # As the console script: the interpreter's directory first on the path, not this file's.
    sys.path[0] = os.path.dirname(sys.executable)
    import importlib

    import cli.main as main

    for deferred in (*main.DEFERRED_COMMANDS.values(), *main.DEFERRED_GROUPS.values()):
        importlib.import_module(deferred.module)
    importlib.import_module("workers.bootstrap")


def _serve(path: str) -> socket.socket:
    """Accept commands until the test process is gone; return only in a forked child, with its connection."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the children that wait on each command are reaped by the kernel
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(64)
    server.settimeout(1.0)
    parent = os.getppid()
    while True:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            if os.getppid() != parent:  # the pytest process that started us has ended
                sys.exit(0)
            continue
        if os.fork() == 0:
            server.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            conn.settimeout(None)
            return conn
        conn.close()


def _redirect(fd: int, path: str, flags: int) -> None:
    opened = os.open(path, flags, 0o600)
    os.dup2(opened, fd)
    os.close(opened)


def main() -> None:
    _import_the_cli()
    conn = _serve(sys.argv[1])
    request = json.loads(conn.makefile("rb").readline())
    pid = os.fork()
    if pid:  # this child waits for the command and reports its exit status
        conn.sendall(f"{pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
        os._exit(0)
    # The command's own process.
    conn.close()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    _redirect(0, os.devnull, os.O_RDONLY)
    _redirect(1, request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    _redirect(2, request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    sys.argv = list(request["argv"])
    from cli.main import app

    sys.exit(app())  # as the console script: the interpreter's own exit from here


if __name__ == "__main__":
    main()
