"""The report reads the cells the way the figures say: shares of the mean gap per
table, averaged over tables, and a verdict that looks at every model."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench.loop import report
from bench.loop.downstream import MODELS


def _cell(table: str, seed: int, final: float, clean: float, noisy: float) -> dict[str, Any]:
    def scores(value: float) -> dict[str, dict[str, float]]:
        # log-loss moves opposite to balanced accuracy, by the same amount
        return {m: {"balanced_accuracy": value, "log_loss": 1.0 - value, "accuracy": value,
                    "macro_f1": value} for m in MODELS}  # fmt: skip

    return {
        "spec": {"table": table, "noise": "under_report", "validation": "trusted", "seed": seed},
        "scores": {"clean": scores(clean), "noisy": scores(noisy), "mendb": scores(final)},
        "relabels": {"mendb": {"right": 9, "wrong": 1}},
    }


def test_recovered_averages_each_tables_share_of_its_mean_gap() -> None:
    a = [_cell("a", 0, 0.8, 0.9, 0.6), _cell("a", 1, 0.8, 0.9, 0.6)]  # 2/3
    b = [_cell("b", 0, 0.7, 0.8, 0.6), _cell("b", 1, 0.6, 0.8, 0.6)]  # mean 0.65: 1/4
    for metric in ("balanced_accuracy", "log_loss"):
        value, (low, high) = report.recovered([a, b], "mendb", "logistic", metric)
        assert value == pytest.approx((2 / 3 + 1 / 4) / 2)
        assert low <= value <= high


def test_verdict_names_what_was_worse() -> None:
    worse = [_cell("a", s, 0.5, 0.9, 0.6) for s in range(3)]
    ok, what = report.verdict(worse)
    assert not ok and len(what) == 2 * len(MODELS)
    better = [_cell("a", s, 0.7, 0.9, 0.6) for s in range(3)]
    assert report.verdict(better) == (True, [])


def test_stop_kinds_count_alike_whatever_the_figures_and_names() -> None:
    from bench.loop.experiment import stop_kind

    a = stop_kind("class 'good' share 0.825 -> 0.914, beyond 1.645 standard errors")
    b = stop_kind("class 'bad' share 0.1 -> 0.3, beyond 2 standard errors")
    assert a == b == "class '…' share # -> #, beyond # standard errors"


def test_recovered_without_a_gap_is_nan_and_reads_n_a() -> None:
    flat = [_cell("a", s, 0.7, 0.8, 0.8) for s in range(3)]
    value, (low, high) = report.recovered([flat], "mendb", "logistic", "balanced_accuracy")
    assert math.isnan(value) and math.isnan(low) and math.isnan(high)
    assert report._share([flat], "mendb", "logistic", "balanced_accuracy", ci=True) == "n/a"


def test_recovered_keeps_a_negative_share_and_its_interval() -> None:
    worse = [_cell("a", s, 0.5 + 0.01 * s, 0.8, 0.6) for s in range(3)]  # about -0.45
    value, (low, high) = report.recovered([worse], "mendb", "logistic", "balanced_accuracy")
    assert value == pytest.approx(-0.45)
    assert low <= value <= high < 0
    text = report._share([worse], "mendb", "logistic", "balanced_accuracy", ci=True)
    assert text.startswith("-45 % [")


def test_one_seed_gives_a_share_without_an_interval() -> None:
    one = [_cell("a", 0, 0.7, 0.8, 0.6)]
    assert report._share([one], "mendb", "logistic", "balanced_accuracy", ci=True) == "50 %"


def test_precision_sums_right_and_wrong_over_cells() -> None:
    cells = [_cell("a", s, 0.7, 0.8, 0.6) for s in range(3)]  # 9 right, 1 wrong each
    cells[0]["relabels"]["mendb"] = {"right": 0, "wrong": 0}
    assert report._precision(cells) == (pytest.approx(18 / 20), 18, 2)
    assert math.isnan(report._precision(cells[:1])[0])


def test_relabels_table_counts_rows_and_averages_the_minority_share() -> None:
    from bench.loop.experiment import METHODS

    cells = []
    for seed, loop_share in ((0, 0.3), (1, 0.4)):
        cell = _cell("credit_data", seed, 0.7, 0.8, 0.6)
        cell["planted"] = {"flipped_train": 10}
        cell["budget"] = 6
        cell["relabels"] = {m: {"right": 4, "wrong": 1, "wrong_into_majority": 1}
                            for m in METHODS}  # fmt: skip
        cell["minority_share"] = {"clean": 0.4, "noisy": 0.2, "mendb": loop_share}
        cells.append(cell)
    line = report.relabels_table(cells).splitlines()[2]
    assert line.startswith("| trusted | credit_data | under_report | 20 | 12 | 8 / 2 (2) |")
    assert line.endswith("| 40.0 % / 20.0 % / 35.0 % |")
