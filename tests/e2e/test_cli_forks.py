"""The end-to-end tests run `arrimage` in a fork of a process that has done its imports (tests/e2e/cli_forks.py):
here, that a command run that way answers byte for byte what the installed console script answers, for the
things a fork could get wrong (the terminal width and the environment of each command, its working directory, exit
codes, stderr, a record that exists or not), and that each command is a process of its own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.e2e.harness import Result, cli_env, run_cli

pytestmark = pytest.mark.slow

COMMANDS = [
    ("--help",),
    ("cases", "--help"),
    ("ententes", "list", "--help"),
    ("cases", "show", "X"),  # a usage error: exit 2, one line on stderr
    ("cases", "show", "C-ABCDEFGH23"),  # no record at this path: exit 3, in words
    ("standards",),
    ("standards", "--json"),
    ("cases", "list"),
    ("nosuchcommand",),
]


def both(*args: str, env: dict[str, str], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Result, Result]:
    forked = run_cli(*args, env=env, cwd=cwd)
    with monkeypatch.context() as spawned:
        spawned.setenv("ARRIMAGE_TEST_CLI", "spawn")
        console_script = run_cli(*args, env=env, cwd=cwd)
    return forked, console_script


@pytest.mark.parametrize("columns", [60, 200])
def test_a_forked_command_answers_what_the_console_script_answers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    env = cli_env(record_path=tmp_path / "record.sqlite", data_dir=tmp_path / "var", columns=columns,
                  target="127.0.0.1:1")
    for args in COMMANDS:
        forked, console_script = both(*args, env=env, cwd=tmp_path, monkeypatch=monkeypatch)
        assert forked == console_script, args
    widths = {len(line) for line in run_cli("--help", env=env).out.splitlines()}
    assert max(widths) == columns  # the width of this command's own environment, not the fork server's


def test_each_command_is_its_own_process_in_its_own_directory(tmp_path: Path) -> None:
    """Two commands in two directories, each with its own relative record path: each finds its own, and what one
    command does to its process (its environment) is not seen by the next."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    env = cli_env(record_path=Path("record.sqlite"), data_dir=Path("var"), columns=120, target="127.0.0.1:1")
    first = run_cli("--config", str(tmp_path / "absent.toml"), "standards", "--json", env=env, cwd=tmp_path / "a")
    second = run_cli("standards", "--json", env=env, cwd=tmp_path / "b")
    assert first.code != 0 and "absent.toml" in first.err  # --config set ARRIMAGE_CONFIG in that process only
    assert second.code == 0, second
    assert json.loads(second.out)
    assert "ARRIMAGE_CONFIG" not in os.environ
