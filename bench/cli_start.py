"""How long the command line takes to answer, for commands that do no numeric work.

    python -m bench.cli_start [--repeats 7] [--write]

Sets up by itself: the embedded PostgreSQL in a temporary folder, migrated, with the
small table registered and valued as `demo`, so that the commands below find
something to read. Then, `--repeats` times and in turn, it runs each command as a user would, a
new `mendb` process with DATABASE_URL set, and times it from start to exit: the
interpreter's start, the imports, the connection and the query. Prints JSON (best
and median seconds of each); `--write` puts them in the "Command-line start" section
of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.scratch import scratch_home

SECTION = "Command-line start"
TARGET_S = 0.5
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("--help",),
    ("review", "--help"),
    ("datasets", "--json"),
    ("scores", "demo", "--limit", "5", "--json"),
    ("review", "demo", "--json"),
    ("token", "list", "--json"),
    ("db", "url"),
)
_MENDB = Path(sys.executable).with_name("mendb")


def _prepare(home: Path) -> str:
    """The embedded server's URL, with a small table registered and valued as `demo`."""
    from mendb.db import datasets
    from mendb.server.context import Mendb
    from mendb.server.settings import Settings

    app = Mendb.open(Settings(database_url=None, home=home), pooled=False)
    with app.connection() as conn:
        conn.execute(
            "CREATE TABLE demo AS SELECT i AS id, random() AS a, random() AS b, i % 2 AS y"
            " FROM generate_series(1, 500) AS i; ALTER TABLE demo ADD PRIMARY KEY (id)"
        )
        datasets.register(conn, "demo", "demo", "id", "y", datasets.parse_feature_spec("a,b"))
    env = {**os.environ, "DATABASE_URL": app.url, "MENDB_HOME": str(home)}
    _run(("value", "demo", "--method", "knn_shapley"), env)
    return app.url


def _run(args: tuple[str, ...], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([str(_MENDB), *args], env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"mendb {' '.join(args)} failed: {done.stderr.decode()[-500:]}")
    return elapsed


def measure(url: str, home: Path, repeats: int) -> dict[str, Any]:
    env = {**os.environ, "DATABASE_URL": url, "MENDB_HOME": str(home)}
    times: dict[str, list[float]] = {" ".join(c): [] for c in COMMANDS}
    for command in COMMANDS:  # warm the page cache and the server
        _run(command, env)
    for _ in range(repeats):
        for command in COMMANDS:
            times[" ".join(command)].append(_run(command, env))
    return {
        "repeats": repeats,
        "best_s": {k: round(min(v), 3) for k, v in times.items()},
        "median_s": {k: round(statistics.median(v), 3) for k, v in times.items()},
    }


def section(result: dict[str, Any], load_before: tuple[float, ...]) -> str:
    """The "Command-line start" section, stamped with this machine now; the prose
    is bench/templates/cli_start.md.j2."""
    from bench.render import render
    from bench.report import machine_now

    slowest = max(result["median_s"].values())
    return render(
        "cli_start.md.j2", r=result, target=TARGET_S, met=slowest < TARGET_S, slowest=slowest,
        **machine_now(load_before),
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--write", action="store_true", help="Update docs/BENCHMARKS.md.")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with scratch_home("mendb-cli-") as home:
        result = measure(_prepare(home), home, args.repeats)
    print(json.dumps(result, indent=2))
    if args.write:
        from bench.report import replace_sections

        replace_sections({SECTION: section(result, load_before)})


if __name__ == "__main__":
    main()
