"""The `mendb` command line: thin adapters over `mendb.server.operations`, `mendb.server.loop`
and the service. Every command takes `--json` for scripts; one module per area.

Each area's module is imported when one of its commands runs (see LazyGroup), so
that the commands which do no numeric work start without torch or scikit-learn.
"""

from __future__ import annotations

from mendb.server.cli._common import cli

__all__ = ["COMMANDS", "cli", "main"]

# command -> (the module of this package that defines it, the summary `mendb --help` lists for it).
COMMANDS: dict[str, tuple[str, str]] = {
    "db": ("database", "The database: URL, migrations, the embedded server."),
    "register": ("datasets", "Register a table as a dataset."),
    "datasets": ("datasets", "List registered datasets."),
    "import": ("datasets", "Create a table from a CSV or Parquet file."),
    "export": ("datasets", "Write a dataset's latest scores and its repairs to files."),
    "propose": ("repairs", "Diagnose rows and propose verified repairs."),
    "embed": ("repairs", "Embed a dataset's text columns into mendb.embeddings."),
    "review": ("repairs", "List a dataset's repairs (the audit table)."),
    "accept": ("repairs", "Accept proposals, by id, by confidence, or by verification."),
    "reject": ("repairs", "Reject proposals by id."),
    "apply": ("repairs", "Apply all accepted repairs of a dataset in one transaction."),
    "revert": ("repairs", "Restore the old values of applied repairs."),
    "demo": ("rounds", "Plant errors in a real dataset, find them, mend them, retrain."),
    "loop": ("rounds", "Value, propose, apply and retrain, round after round."),
    "explain": ("rounds", "Say in words which kinds of rows have low value."),
    "report": ("rounds", "Write an HTML report: values, curves, rounds, repairs."),
    "serve": ("service", "Run the HTTP API and worker processes for queued runs."),
    "worker": ("service", "Run one worker process without the HTTP API."),
    "token": ("service", "API tokens: create (the token is shown once), list, revoke."),
    "value": ("values", "Value every training row of a dataset."),
    "scores": ("scores", "Show the lowest-valued rows of the latest valuation."),
}
for _name, (_module, _summary) in COMMANDS.items():
    cli.add_lazy(_name, f"{__name__}.{_module}", _summary)


def main() -> None:
    cli(prog_name="mendb")
