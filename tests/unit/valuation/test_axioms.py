"""The semivalue axioms as property tests over random small games.

Efficiency and the null player hold exactly for every permutation sample (the
marginals along a permutation telescope to u(N) - u(empty); a null player's are
all 0). Symmetry holds in expectation, so it is checked within 5 standard errors.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mendb.valuation.engine import run
from mendb.valuation.samplers import LOOSampler, MSRSampler, PermutationSampler, beta_coefficients
from mendb.valuation.stopping import MaxSamples
from tests.unit.valuation.games import smooth_game

weights = st.lists(st.floats(-1.0, 1.0), min_size=1, max_size=4)
games = st.builds(
    lambda w, pair, scale, bonus: smooth_game([pair, pair, *w, 0.0], scale, bonus),
    weights, st.floats(-1.0, 1.0), st.floats(0.1, 3.0), st.floats(0.0, 0.5),
)


def _run(game, sampler, samples: int, seed: int):
    return run(game, sampler, game.n, MaxSamples(samples), max_samples=samples, seed=seed,
               n_chains=2, block_size=16)


@settings(max_examples=25, deadline=None)
@given(games, st.integers(0, 2**32))
def test_shapley_values_sum_to_the_gain_of_the_full_set(game, seed: int) -> None:
    estimate = _run(game, PermutationSampler(), 50, seed)
    gain = game(np.arange(game.n)) - game.empty
    assert abs(estimate.values.sum() - gain) <= 1e-9 * max(1.0, abs(gain))


@settings(max_examples=25, deadline=None)
@given(games, st.integers(0, 2**32), st.sampled_from(["shapley", "beta", "loo"]))
def test_null_player_gets_zero(game, seed: int, kind: str) -> None:
    sampler = {
        "shapley": PermutationSampler(),
        "beta": PermutationSampler(0.0, lambda n: beta_coefficients(n, 16.0, 1.0)),
        "loo": LOOSampler(),
    }[kind]
    estimate = _run(game, sampler, 50, seed)
    assert estimate.values[-1] == 0.0


@settings(max_examples=20, deadline=None)
@given(games, st.integers(0, 2**32), st.sampled_from(["shapley", "banzhaf"]))
def test_symmetric_players_get_equal_values(game, seed: int, kind: str) -> None:
    sampler = PermutationSampler() if kind == "shapley" else MSRSampler()
    estimate = _run(game, sampler, 2000, seed)
    gap = abs(estimate.values[0] - estimate.values[1])
    assert gap <= 5 * np.hypot(estimate.stderr[0], estimate.stderr[1]) + 1e-9
