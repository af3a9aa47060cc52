"""The own-model loop's accounting in the Regression section: the boosted model's
recovered share with the proxy's loop and with the loop run with `--model`, judged
per cell with a gap; cells stored before the own-model run are run again and
reported apart; the section keeps the stored cells of the part a run skipped."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from bench.regression import cli, report, runner
from bench.regression.loop import OWN, OWN_MODEL, own_config


def _scores(linear: float, boosting: float) -> dict[str, dict[str, float]]:
    return {"linear": {"rmse": linear, "mae": linear / 2},
            "boosting": {"rmse": boosting, "mae": boosting / 2}}  # fmt: skip


def _cell(noise: str, seed: int, proxy: float, own: float | None,
          noisy: float = 20.0) -> dict[str, Any]:  # fmt: skip
    scores = {"clean": _scores(10, 10), "noisy": _scores(20, noisy),
              "mendb": _scores(11, proxy), "cleanlab": _scores(15, 15),
              "random": _scores(19, 20)}  # fmt: skip
    change = {"changed": 3, "changed_planted": 3, "planted_left": 1}
    cell: dict[str, Any] = {
        "spec": {"table": "diabetes", "noise": noise, "seed": seed, "max_rows": 1000},
        "rows": {"train": 265, "valid": 88, "test": 89}, "planted": 4, "budget": 3,
        "scores": scores, "changes": {"mendb": change}, "seconds": {"cell": 2.0},
    }  # fmt: skip
    if own is not None:
        cell["scores"][OWN] = _scores(11, own)
        cell["changes"][OWN] = {**change, "changed_planted": 4}
        cell[OWN] = {"model": OWN_MODEL, "budget": 5, "reason": "stopped"}
    return cell


def _target(body: str) -> str:
    line = next(x for x in body.splitlines() if x.startswith("| own model:"))
    return line


def test_the_own_model_loop_is_judged_against_the_proxy_loop() -> None:
    # swap: proxy (20 - 12) / 10 = 80 %, own (20 - 11) / 10 = 90 %: met;
    # slipped_zero: proxy 80 %, own mean RMSE (13 + 15) / 2 = 14 -> 60 %: behind
    loops = [_cell("swap", 0, 12, 11), _cell("swap", 1, 12, 11),
             _cell("slipped_zero", 0, 12, 13), _cell("slipped_zero", 1, 12, 15)]  # fmt: skip
    body = report.render_section([], loops, argparse.Namespace())
    assert _target(body) == (
        "| own model: boosting's recovery with --model >= with the proxy | **not met** |"
        " 1 of 2 cells with a gap; behind: diabetes/slipped_zero 60.0 % < 80.0 % |"
    )
    tail = "| 6 / 10 | 6 / 8 of 8 |"
    assert f"| diabetes | swap | 10 / 20 / 12 / 11 | 80.0 % | 90.0 % {tail} yes |" in body
    assert (
        f"| diabetes | slipped_zero | 10 / 20 / 12 / 14 | 80.0 % | 60.0 % {tail} **no** |" in body
    )
    assert OWN_MODEL in body


def test_an_equal_recovery_meets_the_target_and_no_gap_is_counted_apart() -> None:
    loops = [_cell("swap", 0, 12, 12), _cell("heavy_tail", 0, 10, 10, noisy=10.0)]
    body = report.render_section([], loops, argparse.Namespace())
    assert _target(body).endswith("| met | 1 of 1 cells with a gap; 1 cells without a gap |")
    assert "| diabetes | heavy_tail | 10 / 10 / 10 / 10 | n/a | n/a |" in body


def test_cells_stored_without_the_own_model_run_are_reported_apart() -> None:
    body = report.render_section([], [_cell("swap", 0, 12, None)], argparse.Namespace())
    assert _target(body).endswith("| n/a | 0 of 0 cells with a gap; 1 cells not run with --model |")
    assert "### The loop with the user's own model" not in body
    assert "| diabetes | swap | 10 / 20 / 11 |" in body  # the proxy's loop table stays


def test_a_stored_loop_cell_without_the_own_model_run_is_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "CELLS", tmp_path)
    (tmp_path / "old.json").write_text(json.dumps({"scores": {}}))
    (tmp_path / "new.json").write_text(json.dumps({"scores": {}, OWN: {}}))
    assert runner.done("old") and not runner.done("old", (OWN,))
    assert runner.done("new", (OWN,)) and not runner.done("missing")


def test_a_loop_only_run_reports_the_stored_detection_cells() -> None:
    args = cli.parser().parse_args(["--quick", "--only", "loop", "--noise", "slipped_zero"])
    detection, loops = cli.grids(args)
    assert not detection and loops
    every_detection, every_loop = cli.grids(args, every_part=True)
    assert every_detection and every_loop == loops


def test_the_own_model_config_is_the_boosted_downstream_model() -> None:
    config = own_config(3)
    config.check()  # the estimator imports and takes its parameters
    assert config.model == OWN_MODEL and config.seed == 3
    assert config.model_params == {"max_iter": 100, "random_state": 3}


def test_table_wide_cells_get_a_table_of_their_own_and_no_say_in_the_targets() -> None:
    train = [_cell("swap", 0, 12, 11), _cell("swap", 1, 12, 11)]
    wide = [_cell("swap", s, 20, None) for s in (0, 1)]
    for cell in wide:
        cell["spec"]["where"] = "table"
    body = report.render_section([], train + wide, argparse.Namespace())
    head, _, tail = body.partition("### The loop when the validation rows carry the noise too")
    assert tail and "| diabetes | swap |" in tail
    # The targets read the training-only cells: pooled in, the table-wide cells, which
    # recovered nothing here, would pull the share below the target.
    assert "loop, boosting: >= 80 % of the RMSE gap recovered | met |" in head
