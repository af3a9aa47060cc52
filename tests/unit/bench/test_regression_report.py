"""The Regression section renders from cell files: the targets are judged from the
cells' figures, a method that did not run says why, and the command line's grids
are what `--quick` promises."""

from __future__ import annotations

import argparse
from typing import Any

from bench.regression import cli, report


def _detection_cell(seed: int, default_auroc: float) -> dict[str, Any]:
    row = {"ok": True, "seconds": 1.0, "ap": 0.5, "p_at_k": 0.5}
    return {
        "spec": {"table": "diabetes", "noise": "swap", "seed": seed, "max_rows": 1000},
        "rows": {"train": 265, "valid": 88, "test": 89}, "planted": 26, "features": 10,
        "source": "sklearn load_diabetes", "seconds": 3.0, "load": 1.0,
        "finished": "2025-01-01 00:00 UTC",
        "methods": {
            "knn_shapley": {**row, "auroc": 0.9},
            "mendb_default": {**row, "auroc": default_auroc},
            "cleanlab": {**row, "auroc": 0.8},
            "pydvl_tmc": {"ok": False, "error": "not run: did not install", "seconds": 0.0},
        },
    }  # fmt: skip


def _scores(linear: float, boosting: float) -> dict[str, dict[str, float]]:
    return {"linear": {"rmse": linear, "mae": linear / 2},
            "boosting": {"rmse": boosting, "mae": boosting / 2}}  # fmt: skip


def _loop_cell(seed: int) -> dict[str, Any]:
    scores = {"clean": _scores(10, 10), "noisy": _scores(20, 20), "mendb": _scores(11, 12),
              "cleanlab": _scores(15, 15), "random": _scores(19, 20)}  # fmt: skip
    change = {"changed": 3, "changed_planted": 3, "planted_left": 0}
    return {
        "spec": {"table": "diabetes", "noise": "swap", "seed": seed, "max_rows": 1000},
        "rows": {"train": 265, "valid": 88, "test": 89}, "planted": 4, "budget": 3,
        "scores": scores, "changes": {"mendb": change}, "seconds": {"cell": 2.0},
    }  # fmt: skip


def test_the_section_judges_the_targets_from_the_cells() -> None:
    detect = [_detection_cell(0, 0.95), _detection_cell(1, 0.85)]
    loops = [_loop_cell(0), _loop_cell(1)]
    body = report.render_section(detect, loops, argparse.Namespace(quick=True))
    assert "mendb's default AUROC >= the best anchor in every cell | met | 1 of 1" in body
    # linear: (20 - 11) / (20 - 10) = 90 %; boosting: (20 - 12) / 10 = 80 %
    assert "| diabetes | swap | 10 / 20 / 11 | 90 % | 50 % | 10 % | 80 % |" in body
    assert "pydvl_tmc (2 of 2 cells): not run: did not install" in body
    assert "python -m bench.regression --quick" in body


def test_a_default_behind_an_anchor_is_not_met() -> None:
    body = report.render_section([_detection_cell(0, 0.7)], [], argparse.Namespace())
    assert "**not met**" in body and "diabetes/swap 0.700 < 0.800" in body


def test_quick_is_two_seeds_of_the_small_tables() -> None:
    args = cli.parser().parse_args(["--quick"])
    detection, loops = cli.grids(args)
    assert {s.table for s in detection} == set(cli.QUICK_TABLES)
    assert {s.seed for s in detection} == {0, 1} and len(loops) == 2 * len(detection)
    assert {s.where for s in loops} == {"train", "table"}
    assert len({s.key for s in loops}) == len(loops)  # a table-wide cell has its own file
    assert {s.max_rows for s in detection + loops} == {cli.QUICK_ROWS}
    only, none = cli.grids(cli.parser().parse_args(["--quick", "--only", "detection"]))
    assert only and not none


def test_a_cell_without_a_gap_is_counted_apart() -> None:
    flat = _loop_cell(0)
    flat["scores"]["noisy"] = _scores(10, 10)
    body = report.render_section([], [_loop_cell(0), flat | {"spec": {**flat["spec"],
                                 "noise": "heavy_tail"}}], argparse.Namespace())  # fmt: skip
    assert "| met | 1 of 1 cells with a gap; 1 cells without a gap |" in body
