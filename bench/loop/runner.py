"""Run the grid of cells, each once: a cell's result is a JSON file under
`bench/out/loop/cells/`, and a cell whose file exists is skipped, so a long run
that stopped can be continued. `jobs` worker processes each start their own
embedded PostgreSQL and take every `jobs`-th cell."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from bench.loop.experiment import CellSpec, cleanup, run_cell
from mendb.db.embedded import stop as stop_server
from mendb.server.context import Mendb
from mendb.server.settings import Settings

REPO = Path(__file__).resolve().parents[2]
OUT = Path(os.environ.get("BENCH_LOOP_OUT", Path(__file__).resolve().parents[1] / "out" / "loop"))
CELLS = OUT / "cells"


def cell_path(spec: CellSpec) -> Path:
    return CELLS / f"{spec.key}.json"


def pending(specs: list[CellSpec]) -> list[CellSpec]:
    return [s for s in specs if not cell_path(s).exists()]


def _log(line: str) -> None:
    print(line, flush=True)


def _summary(result: dict[str, Any]) -> str:
    lr = result["scores"]
    fmt = " ".join(
        f"{m} {lr[m]['logistic']['balanced_accuracy']:.3f}/{lr[m]['logistic']['log_loss']:.3f}"
        for m in ("clean", "noisy", "mendb", "cleanlab")
    )
    rel = result["relabels"]["mendb"]
    return (
        f"  bal.acc/log-loss (logistic): {fmt}; B {result['budget']}; relabels"
        f" {rel['right']} right {rel['wrong']} wrong; {result['reason']};"
        f" {result['seconds']['cell']:.0f} s (loop {result['seconds']['mendb']:.0f} s)"
    )


def run_serial(specs: list[CellSpec], home: Path) -> int:
    """Run the cells in this process against one embedded server at `home`;
    returns how many failed (each failure is logged, the rest go on)."""
    CELLS.mkdir(parents=True, exist_ok=True)
    stop_server(home)
    shutil.rmtree(home, ignore_errors=True)
    app = Mendb.open(Settings(home=home, actor="bench"))
    try:
        # One thread per process: on a shared machine parallel cells (--jobs) use
        # the cores better than threads inside small fits do.
        with threadpool_limits(1):
            failed = _run_cells(app, pending(specs))
    finally:
        app.close()
        stop_server(home)
    return failed


def _run_cells(app: Mendb, specs: list[CellSpec]) -> int:
    failed = 0
    for spec in specs:
        if cell_path(spec).exists():  # done meanwhile by another process
            continue
        _log(f"{spec.name}")
        try:
            result = run_cell(app, spec, _log, OUT / "clean")
        except Exception:  # one broken cell must not end a long run
            failed += 1
            _log(traceback.format_exc())
            continue
        finally:
            cleanup(app, spec)
        result["finished"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        result["load"] = round(os.getloadavg()[0], 1)
        _log(_summary(result))
        path = cell_path(spec)
        path.with_suffix(".tmp").write_text(json.dumps(result, indent=1, default=str))
        path.with_suffix(".tmp").replace(path)
    return failed


def _shares(specs: list[CellSpec], jobs: int) -> Iterator[list[CellSpec]]:
    todo = pending(specs)
    for j in range(jobs):
        yield todo[j::jobs]


def run_parallel(specs: list[CellSpec], jobs: int) -> int:
    """`jobs` worker processes (`python -m bench.loop --worker`), each with its
    own server under `bench/out/loop/pg<j>`; their logs go to `worker<j>.log`."""
    if jobs <= 1:
        return run_serial(specs, OUT / "pg")
    OUT.mkdir(parents=True, exist_ok=True)
    workers = []
    for j, share in enumerate(_shares(specs, jobs)):
        if not share:
            continue
        plan = OUT / f"worker{j}.json"
        plan.write_text(json.dumps([s.__dict__ for s in share]))
        log = (OUT / f"worker{j}.log").open("a")
        command = [sys.executable, "-m", "bench.loop", "--worker", str(plan), "--home",
                   str(OUT / f"pg{j}")]  # fmt: skip
        process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        workers.append((process, log))
    failed = 0
    while workers:
        time.sleep(2)
        for process, log in list(workers):
            if process.poll() is not None:
                failed += process.returncode != 0
                log.close()
                workers.remove((process, log))
    return failed
