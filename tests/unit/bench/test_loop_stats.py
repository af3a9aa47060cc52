"""The figures the loop benchmark publishes, checked by hand on tiny inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.loop import stats


def test_recovered_share_is_oriented_by_the_metric() -> None:
    # accuracy-like: noisy 0.6, clean 0.8, final 0.75 wins back 0.15 of 0.2
    assert stats.recovered_share(0.75, 0.8, 0.6, True) == pytest.approx(0.75)
    # log-loss: noisy 0.5, clean 0.3, final 0.45 wins back 0.05 of 0.2
    assert stats.recovered_share(0.45, 0.3, 0.5, False) == pytest.approx(0.25)
    # worse than noisy is negative, better than clean above 1
    assert stats.recovered_share(0.5, 0.8, 0.6, True) == pytest.approx(-0.5)
    assert stats.recovered_share(0.2, 0.3, 0.5, False) == pytest.approx(1.5)


def test_no_gap_gives_no_share() -> None:
    assert math.isnan(stats.recovered_share(0.7, 0.7, 0.7, True))
    # noise that made the metric better leaves nothing to win back
    assert math.isnan(stats.recovered_share(0.7, 0.6, 0.65, True))
    assert math.isnan(stats.recovered_share(0.2, 0.4, 0.3, False))
    # a gap below MIN_GAP is a row or two of the test split
    tiny = stats.MIN_GAP / 2
    assert math.isnan(stats.recovered_share(0.7, 0.7 + tiny, 0.7, True))


def test_share_of_mean_gap_takes_means_first() -> None:
    rows = np.array([[0.9, 1.0, 0.8], [0.7, 0.8, 0.7]])  # (final, clean, noisy)
    # means: final 0.8, clean 0.9, noisy 0.75 -> 0.05 / 0.15; per-seed shares would be 0.5 and nan
    assert stats.share_of_mean_gap(rows, True) == pytest.approx(1 / 3)


def test_mean_of_shares_leaves_out_groups_without_a_gap() -> None:
    a = np.array([[0.9, 1.0, 0.8]])  # share 0.5
    b = np.array([[0.8, 0.8, 0.6]])  # share 1.0
    none = np.array([[0.8, 0.7, 0.7]])
    assert stats.mean_of_shares([a, b, none], True) == pytest.approx(0.75)


def test_bootstrap_interval_of_constant_seeds_is_the_value() -> None:
    rows = np.tile([0.9, 1.0, 0.8], (5, 1))
    low, high = stats.bootstrap_interval([rows], lambda g: stats.mean_of_shares(g, True))
    assert low == pytest.approx(0.5) and high == pytest.approx(0.5)


def test_bootstrap_interval_spans_the_seeds_and_holds_their_mean() -> None:
    values = np.array([[0.0], [1.0], [2.0], [3.0]])
    low, high = stats.bootstrap_interval([values], lambda g: float(g[0].mean()))
    assert 0.0 <= low < 1.5 < high <= 3.0


def test_bootstrap_interval_needs_two_seeds_per_group() -> None:
    one = np.array([[1.0]])
    two = np.array([[1.0], [2.0]])
    low, high = stats.bootstrap_interval([two, one], lambda g: 0.0)
    assert math.isnan(low) and math.isnan(high)


def test_never_worse_flags_only_a_fall_beyond_the_interval() -> None:
    noisy = np.array([0.70, 0.70, 0.70, 0.70])
    clearly_worse = stats.never_worse(noisy - 0.05, noisy, True)
    assert clearly_worse.worse and clearly_worse.mean == pytest.approx(-0.05)
    mixed = stats.never_worse(noisy + np.array([-0.02, 0.03, -0.01, 0.02]), noisy, True)
    assert not mixed.worse and mixed.low < 0 < mixed.high
    # for log-loss a higher value is the worse one
    assert stats.never_worse(noisy + 0.1, noisy, False).worse
    assert not stats.never_worse(noisy - 0.1, noisy, False).worse


def test_never_worse_on_one_seed_reads_the_difference() -> None:
    assert stats.never_worse(np.array([0.69]), np.array([0.70]), True).worse
    assert not stats.never_worse(np.array([0.70]), np.array([0.70]), True).worse


def test_precision() -> None:
    assert stats.precision(9, 1) == pytest.approx(0.9)
    assert math.isnan(stats.precision(0, 0))


def test_downstream_scores_a_single_class_training_set_as_certain() -> None:
    from bench.loop.downstream import evaluate
    from mendb.valuation.data import Split, TrainingArrays

    rng = np.random.default_rng(0)

    def split(n: int, y: np.ndarray) -> Split:
        return Split(rng.normal(size=(n, 2)), y.astype(np.int64), np.arange(n).astype(object))

    raw = TrainingArrays(
        split(20, np.zeros(20)), split(4, np.array([0, 1, 0, 1])),
        split(4, np.array([0, 1, 0, 1])), ("a", "b"), ("u", "v"),
    )  # fmt: skip
    for model_scores in evaluate(raw, seed=0).values():
        assert model_scores["balanced_accuracy"] == pytest.approx(0.5)
        assert model_scores["accuracy"] == pytest.approx(0.5)
        assert model_scores["log_loss"] > 10  # half the test rows called impossible


def test_negative_recovery_stays_negative_in_the_mean_of_shares() -> None:
    worse = np.array([[0.5, 0.8, 0.6]])  # final below noisy: -0.5
    better = np.array([[0.75, 0.8, 0.6]])  # 0.75
    assert stats.mean_of_shares([worse, better], True) == pytest.approx(0.125)


def test_mean_of_shares_without_any_gap_is_nan() -> None:
    none = np.array([[0.8, 0.7, 0.7], [0.9, 0.7, 0.7]])
    assert math.isnan(stats.mean_of_shares([none], True))


def test_bootstrap_interval_without_any_finite_draw_is_nan() -> None:
    none = np.array([[0.8, 0.7, 0.7], [0.9, 0.7, 0.7]])
    low, high = stats.bootstrap_interval([none], lambda g: stats.mean_of_shares(g, True))
    assert math.isnan(low) and math.isnan(high)


def test_bootstrap_interval_is_seeded_and_inside_the_draws() -> None:
    rows = np.array([[0.7, 0.8, 0.6], [0.8, 0.8, 0.6], [0.65, 0.8, 0.6]])

    def share(g: list[np.ndarray]) -> float:
        return stats.mean_of_shares(g, True)

    first = stats.bootstrap_interval([rows], share, draws=200, seed=3)
    assert first == stats.bootstrap_interval([rows], share, draws=200, seed=3)
    # every resample's mean final lies between the lowest and the highest seed's
    assert 0.25 - 1e-12 <= first[0] <= first[1] <= 1.0 + 1e-12


def test_minority_share() -> None:
    assert stats.minority_share(np.array([0, 1, 1, 0, 1]), 0) == pytest.approx(0.4)
    assert stats.minority_share(np.array([1, 1]), 0) == 0.0
    assert math.isnan(stats.minority_share(np.array([], dtype=np.int64), 0))


def test_label_changes_without_relabels_counts_only_the_flips_left() -> None:
    from bench.loop.experiment import label_changes

    clean = np.array([1, 1, 0, 0])
    noisy = np.array([0, 1, 0, 1])
    assert label_changes(clean, noisy, noisy.copy(), majority=0) == {
        "right": 0, "wrong": 0, "wrong_into_majority": 0, "flips_left": 2,
    }  # fmt: skip
    # mending both flips leaves none; the clean row 2 broken into the minority class
    # is wrong but neither "into majority" nor a planted flip left
    after = np.array([1, 1, 1, 0])
    assert label_changes(clean, noisy, after, majority=0) == {
        "right": 2, "wrong": 1, "wrong_into_majority": 0, "flips_left": 0,
    }  # fmt: skip
