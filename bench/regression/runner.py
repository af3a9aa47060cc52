"""Run the grids, each cell once: a cell's result is a JSON file under
`bench/out/regression/cells/` and a cell whose file exists is skipped, so a long
run that stopped can be continued (a loop cell stored before the loop also ran
with the user's own model, without "own" figures, is run again). Cells run one
after another in this process (one thread for the numeric libraries: the
machine's cores are shared); the loop cells share one embedded PostgreSQL under
`bench/out/regression/pg`."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

OUT = Path(os.environ.get("BENCH_REGRESSION_OUT",
                          Path(__file__).resolve().parents[1] / "out" / "regression"))  # fmt: skip
CELLS = OUT / "cells"


def cell_path(key: str) -> Path:
    return CELLS / f"{key}.json"


def done(key: str, needs: tuple[str, ...] = ()) -> bool:
    """Whether the cell's file exists and holds every top-level entry in `needs`."""
    path = cell_path(key)
    if not path.exists():
        return False
    return not needs or all(k in json.loads(path.read_text()) for k in needs)


def _log(line: str) -> None:
    print(line, flush=True)


def _save(key: str, result: dict[str, Any]) -> None:
    result["finished"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    result["load"] = round(os.getloadavg()[0], 1)
    path = cell_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".tmp").write_text(json.dumps(result, indent=1, default=str))
    path.with_suffix(".tmp").replace(path)


def _each(
    specs: list[Any],
    run: Callable[[Any], dict[str, Any]],
    summary: Callable[[dict[str, Any]], str],
    needs: tuple[str, ...] = (),
) -> int:
    failed = 0
    for spec in specs:
        if done(spec.key, needs):
            continue
        _log(spec.key)
        try:
            with threadpool_limits(1):
                result = run(spec)
        except Exception:  # one broken cell must not end a long run
            failed += 1
            _log(traceback.format_exc())
            continue
        _save(spec.key, result)
        _log(summary(result))
    return failed


def _detection_summary(result: dict[str, Any]) -> str:
    parts = [f"{name} {row['auroc']:.3f}" if row.get("ok") else f"{name} -"
             for name, row in result["methods"].items()]  # fmt: skip
    return f"  AUROC: {', '.join(parts)}; {result['seconds']:.0f} s"


def run_detection(specs: list[Any], anchors_named: tuple[str, ...], tmc_seconds: float) -> int:
    from bench.regression import anchors
    from bench.regression.detection import run_cell

    todo = [s for s in specs if not cell_path(s.key).exists()]
    if not todo:
        return 0
    usable = anchors.environments(anchors_named)
    for lib, (ok, why) in usable.items():
        _log(f"{lib}: {'ready, ' if ok else 'NOT RUN, '}{why}")
    return _each(todo, lambda s: run_cell(s, anchors_named, usable, OUT / "npz",
                                          tmc_seconds=tmc_seconds), _detection_summary)  # fmt: skip


def _loop_summary(result: dict[str, Any]) -> str:
    from bench.regression.loop import OWN

    s = result["scores"]
    shown = [m for m in ("clean", "noisy", "mendb", "cleanlab", "random", OWN) if m in s]
    fmt = " ".join(f"{m} {s[m]['linear']['rmse']:.4g}/{s[m]['boosting']['rmse']:.4g}"
                   for m in shown)  # fmt: skip
    own = f", own {result[OWN]['budget']}; own: {result[OWN]['reason']}" if OWN in result else ""
    return (
        f"  RMSE linear/boosting: {fmt}; B {result['budget']}{own};"
        f" {result['reason']}; {result['seconds']['cell']:.0f} s"
    )


def run_loops(specs: list[Any]) -> int:
    from bench.regression.loop import OWN, cleanup, has_own, run_cell
    from mendb.db.embedded import stop as stop_server
    from mendb.server.context import Mendb
    from mendb.server.settings import Settings

    todo = [s for s in specs if not done(s.key, (OWN,) if has_own(s) else ())]
    if not todo:
        return 0
    home = OUT / "pg"
    stop_server(home)
    shutil.rmtree(home, ignore_errors=True)
    app = Mendb.open(Settings(home=home, actor="bench"))

    def run(spec: Any) -> dict[str, Any]:
        try:
            return run_cell(app, spec, _log)
        finally:
            cleanup(app, spec)

    try:
        return _each(todo, run, _loop_summary, (OWN,))
    finally:
        app.close()
        stop_server(home)


def load_cells(keys: list[str]) -> list[dict[str, Any]]:
    return [json.loads(cell_path(k).read_text()) for k in keys if cell_path(k).exists()]
