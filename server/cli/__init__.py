"""The `mendb` command line: thin adapters over `server.operations`, `server.loop`
and the service. Every command takes `--json` for scripts; one module per area."""

from __future__ import annotations

from server.cli import database, datasets, repairs, rounds, service, values
from server.cli._common import cli

__all__ = ["cli", "database", "datasets", "main", "repairs", "rounds", "service", "values"]


def main() -> None:
    cli(prog_name="mendb")
