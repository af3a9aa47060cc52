"""The `mendb` command line: thin adapters over `server.operations`, `server.loop`
and the service. Every command takes `--json` for scripts; one module per area.

Each area's module is imported when one of its commands runs (see LazyGroup), so
that the commands which do no numeric work start without torch or scikit-learn.
"""

from __future__ import annotations

from server.cli._common import cli

__all__ = ["COMMANDS", "cli", "main"]

# command -> (the module that defines it, the summary `mendb --help` lists for it).
COMMANDS: dict[str, tuple[str, str]] = {
    "db": ("server.cli.database", "The database: URL, migrations, the embedded server."),
    "register": ("server.cli.datasets", "Register a table as a dataset."),
    "datasets": ("server.cli.datasets", "List registered datasets."),
    "import": ("server.cli.datasets", "Create a table from a CSV or Parquet file."),
    "export": ("server.cli.datasets", "Write a dataset's latest scores and its repairs to files."),
    "propose": ("server.cli.repairs", "Diagnose rows and propose verified repairs."),
    "embed": ("server.cli.repairs", "Embed a dataset's text columns into mendb.embeddings."),
    "review": ("server.cli.repairs", "List a dataset's repairs (the audit table)."),
    "accept": ("server.cli.repairs", "Accept proposals, by id, by confidence, or by verification."),
    "reject": ("server.cli.repairs", "Reject proposals by id."),
    "apply": ("server.cli.repairs", "Apply all accepted repairs of a dataset in one transaction."),
    "revert": ("server.cli.repairs", "Restore the old values of applied repairs."),
    "demo": ("server.cli.rounds", "Plant errors in a real dataset, find them, mend them, retrain."),
    "loop": ("server.cli.rounds", "Value, propose, apply and retrain, round after round."),
    "explain": ("server.cli.rounds", "Say in words which kinds of rows have low value."),
    "report": ("server.cli.rounds", "Write an HTML report: values, curves, rounds, repairs."),
    "serve": ("server.cli.service", "Run the HTTP API and worker processes for queued runs."),
    "worker": ("server.cli.service", "Run one worker process without the HTTP API."),
    "token": ("server.cli.service", "API tokens: create (the token is shown once), list, revoke."),
    "value": ("server.cli.values", "Value every training row of a dataset."),
    "scores": ("server.cli.scores", "Show the lowest-valued rows of the latest valuation."),
}
for _name, (_module, _summary) in COMMANDS.items():
    cli.add_lazy(_name, _module, _summary)


def main() -> None:
    cli(prog_name="mendb")
