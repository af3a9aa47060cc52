"""The report reads the cells the way the figures say: shares of the mean gap per
table, averaged over tables, and a verdict that looks at every model."""

from __future__ import annotations

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
