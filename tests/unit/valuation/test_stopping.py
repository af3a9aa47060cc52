"""Stopping rules compose, report completion, and stop the engine."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from mendb.valuation.engine import run
from mendb.valuation.samplers import MSRSampler, PermutationSampler
from mendb.valuation.stopping import (
    GelmanRubin,
    MaxSamples,
    MaxTime,
    RankStability,
    StandardErrorBelow,
)
from tests.unit.valuation.games import smooth_game


@dataclass
class FakeStatus:
    samples: int = 0
    elapsed: float = 0.0
    values: np.ndarray = field(default_factory=lambda: np.arange(4.0))
    stderr: np.ndarray = field(default_factory=lambda: np.full(4, 0.1))
    rhat: float = float("nan")


def test_or_stops_at_the_first_and_reports_the_larger_completion() -> None:
    rule = MaxSamples(10) | MaxTime(100.0)
    status = FakeStatus(samples=5, elapsed=80.0)
    assert not rule.done(status) and rule.completion(status) == pytest.approx(0.8)
    assert rule.done(FakeStatus(samples=10))


def test_and_needs_both_and_reports_the_smaller_completion() -> None:
    rule = MaxSamples(10) & StandardErrorBelow(0.05, min_samples=1)
    status = FakeStatus(samples=10)
    assert not rule.done(status)
    assert rule.completion(status) == pytest.approx(0.25)  # (0.05 / 0.1) ** 2
    assert rule.done(FakeStatus(samples=10, stderr=np.full(4, 0.01)))


def test_rank_stability_needs_a_streak_of_stable_checks() -> None:
    rule = RankStability(tolerance=0.01, patience=2)
    assert not rule.done(FakeStatus())
    assert not rule.done(FakeStatus())
    assert rule.completion(FakeStatus()) == 0.5
    assert not rule.done(FakeStatus(values=np.arange(4.0)[::-1]))  # order flipped: streak reset
    assert rule.completion(FakeStatus()) == 0.0


def test_gelman_rubin_threshold() -> None:
    rule = GelmanRubin(1.05, min_samples=1)
    assert not rule.done(FakeStatus(samples=5, rhat=1.2))
    assert rule.completion(FakeStatus(samples=5, rhat=1.1)) == pytest.approx(0.5)
    assert rule.done(FakeStatus(samples=5, rhat=1.01))


def test_standard_error_rule_stops_the_engine_early() -> None:
    game = smooth_game([0.5, -0.2, 0.3, 0.1], 1.0, 0.1)
    stopping = MaxSamples(100_000) | StandardErrorBelow(0.02)
    estimate = run(game, MSRSampler(), game.n, stopping, max_samples=100_000, seed=0,
                   block_size=50)
    assert estimate.samples < 100_000 and estimate.stderr.max() < 0.02


def test_gelman_rubin_across_chains_stops_the_engine() -> None:
    game = smooth_game([0.5, -0.2, 0.3, 0.1], 1.0, 0.1)
    progress: list[float] = []
    estimate = run(game, PermutationSampler(), game.n, GelmanRubin(1.05), max_samples=50_000,
                   seed=1, n_chains=4, block_size=25, progress=progress.append)
    assert estimate.samples < 50_000 and estimate.rhat <= 1.05
    assert progress[-1] == 1.0


def test_a_rule_instance_can_be_reused_across_runs() -> None:
    game = smooth_game([0.5, -0.2, 0.3], 1.0, 0.0)
    rule = MaxSamples(10**6) | RankStability(0.0, patience=3)
    first = run(game, PermutationSampler(), game.n, rule, max_samples=10**6, seed=2)
    second = run(game, PermutationSampler(), game.n, rule, max_samples=10**6, seed=2)
    assert first.samples == second.samples
