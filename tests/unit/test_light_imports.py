"""Commands that do no numeric work start without the numeric stack, nor the HTTP
service's pydantic and SQLAlchemy: each runs in a fresh interpreter, which then
reports which of those it imported. What is checked is what a command imports, not
how long it takes."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mendb.server.cli import COMMANDS, cli

HEAVY = (
    *("torch", "sklearn", "sentence_transformers", "matplotlib", "numpy", "duckdb", "pyarrow"),
    *("pydantic", "sqlalchemy", "fastapi", "uvicorn"),
)

_PROBE = """
import json, sys
from mendb.server.cli import cli
try:
    cli(sys.argv[1:], prog_name="mendb")
except SystemExit:
    pass
heavy = [m for m in {heavy!r} if m in sys.modules]
print("\\n" + json.dumps(heavy))
"""


def imported_heavy(args: list[str], env: dict[str, str] | None = None) -> list[str]:
    """Run `mendb ARGS` in a new interpreter; the heavy modules it imported."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


LIGHT = [
    ["--help"],
    ["datasets", "--help"],
    ["review", "--help"],
    ["accept", "--help"],
    ["reject", "--help"],
    ["apply", "--help"],
    ["revert", "--help"],
    ["token", "--help"],
    ["token", "create", "--help"],
    ["token", "list", "--help"],
    ["db", "--help"],
    ["db", "url", "--help"],
    ["serve", "--help"],
    ["worker", "--help"],
]


@pytest.mark.parametrize("args", LIGHT, ids=" ".join)
def test_a_light_command_does_not_import_the_numeric_stack(args: list[str]) -> None:
    assert imported_heavy(args) == []


def test_scores_does_not_import_the_numeric_stack() -> None:
    assert imported_heavy(["scores", "--help"]) == []


def test_the_probe_sees_a_heavy_command() -> None:
    # The guard above is only worth something if the probe can see an import.
    assert "sklearn" in imported_heavy(["value", "--help"])


def test_light_commands_run_without_the_numeric_stack(dsn: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": dsn, "MENDB_HOME": str(tmp_path)}
    for args in (["datasets"], ["token", "list"], ["review", "nothing"], ["db", "url"]):
        assert imported_heavy([*args, "--json"], env) == [], args


def test_every_command_is_listed_with_the_module_that_defines_it() -> None:
    for module in {module for module, _ in COMMANDS.values()}:
        importlib.import_module(f"mendb.server.cli.{module}")
    defined = {name: command.callback.__module__ for name, command in cli.commands.items()}
    listed = {name: f"mendb.server.cli.{module}" for name, (module, _) in COMMANDS.items()}
    assert {n: m for n, m in defined.items() if m is not None} == listed
