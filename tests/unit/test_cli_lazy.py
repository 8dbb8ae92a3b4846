"""`arrimage` imports a command group's module only when that group is run (cli/main.py, `_Commands`): its root
help and the completion of a command name come from a static table, kept here equal to each group's own help,
and naming every group module of the CLI. What a command loaded is read in a fresh interpreter as it leaves."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import subprocess
import sys

import pytest
import typer
from typer._click.core import Command

import cli
from cli.main import DEFERRED_COMMANDS, DEFERRED_GROUPS, app

DEFERRED = DEFERRED_COMMANDS | DEFERRED_GROUPS
# The engine: what a group's module loads (the domain's models, the record, Temporal), and FHIR's models.
ENGINE = ("domain", "usecases", "adapters", "workers", "workflows", "activities", "gateway", "verifier", "temporalio",
          "eventsourcing", "psycopg", "fhir")


def first_paragraph(command: Command) -> str:
    """What the root's help lists for a command (typer.rich_utils `_make_command_help`)."""
    return inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0]


@pytest.mark.parametrize("name", list(DEFERRED))
def test_the_table_says_what_each_command_says_of_itself(name: str) -> None:
    command = typer.main.get_group(app).commands[name]  # built: its module imported
    assert (DEFERRED[name].help, DEFERRED[name].hidden) == (first_paragraph(command), command.hidden)
    assert isinstance(command, typer.core.TyperGroup) == (name in DEFERRED_GROUPS)


def test_every_command_group_of_the_cli_is_in_the_table() -> None:
    groups = set()
    for module in pkgutil.iter_modules(cli.__path__, "cli."):
        if module.name != "cli.main" and isinstance(getattr(importlib.import_module(module.name), "app", None),
                                                    typer.Typer):
            groups.add(module.name)
    assert groups == {d.module for d in DEFERRED_GROUPS.values()}


def test_the_root_lists_its_commands_in_the_order_typer_gives() -> None:
    root = typer.main.get_group(app)
    assert list(root.commands) == ["standards", "demo", "up", "doctor", "gateway", "codec-server", "worker",
                                   "ententes", "agreements", "cases", "episodes", "report", "audit", "partners",
                                   "users", "directory"]


def imported(*args: str, **env: str) -> tuple[set[str], str]:
    """The modules loaded by `arrimage ARGS` when it leaves (through `os._exit`, cli.main `_leave`), and its stdout."""
    probe = (
        "import os, sys\n"
        "leave = os._exit\n"
        "def modules(code):\n"
        "    sys.stderr.write('\\n' + ' '.join(sys.modules) + '\\n')\n"
        "    sys.stderr.flush()\n"
        "    leave(code)\n"
        "os._exit = modules\n"
        f"sys.argv = ['arrimage', *{list(args)!r}]\n"
        "from cli.main import app\n"
        "app()\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "120", **env})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(proc.stderr.splitlines()[-1].split()), proc.stdout


def engine(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in ENGINE)


def test_the_root_help_loads_no_group_and_nothing_of_the_engine() -> None:
    modules, out = imported("--help")
    assert "cases" in out and "directory" in out
    assert engine(modules) == []
    assert sorted(m for m in modules if m.startswith("cli")) == ["cli", "cli.main"]


def test_completing_a_command_name_loads_none_either() -> None:
    modules, out = imported(_ARRIMAGE_COMPLETE="complete_bash", COMP_WORDS="arrimage c", COMP_CWORD="1")
    assert out.split() == ["codec-server", "cases"]  # in the order of `arrimage --help`
    assert engine(modules) == []


def test_a_group_loads_its_own_module_only() -> None:
    modules, out = imported("cases", "--help")
    assert "reassign" in out
    assert "cli.cases" in modules
    assert not {"cli.audit", "cli.ententes", "cli.demo", "cli.directory", "workers.embedded", "workers.worker",
                "fhir"} & modules
