"""Small synthetic games and datasets for the Monte Carlo estimators' tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from mendb.valuation import Split, TrainingArrays
from mendb.valuation.utility import ModelUtility


class Game:
    """u(S) = fn(sorted tuple S); satisfies valuation.utility.Utility."""

    def __init__(self, n: int, fn: Callable[[tuple[int, ...]], float]) -> None:
        self.n = n
        self.fn = fn
        self.empty = fn(())

    def __call__(self, indices: NDArray[np.int64]) -> float:
        return self.fn(tuple(sorted(int(i) for i in indices)))


def smooth_game(weights: list[float], scale: float, bonus: float) -> Game:
    """tanh(scale * sum of weights in S) + bonus * sqrt(#rows of S with a weight != 0)."""
    w = np.array(weights)

    def u(subset: tuple[int, ...]) -> float:
        idx = list(subset)
        active = int(np.count_nonzero(w[idx])) if idx else 0
        return float(np.tanh(scale * w[idx].sum()) + bonus * np.sqrt(active))

    return Game(len(w), u)


def dataset(n: int, seed: int, n_valid: int = 40, noise: float = 0.6) -> TrainingArrays:
    """Two Gaussian features, a noisy linear binary label."""
    rng = np.random.default_rng(seed)

    def split(m: int) -> Split:
        x = rng.normal(size=(m, 2))
        y = (x[:, 0] + noise * rng.normal(size=m) > 0).astype(np.int64)
        return Split(x, y, np.array([f"r{i}" for i in range(m)], dtype=object))

    return TrainingArrays(split(n), split(n_valid), split(4), ("neg", "pos"), ("a", "b"))


def utility_of(data: TrainingArrays) -> Callable[[tuple[int, ...]], float]:
    """The default ModelUtility of a dataset, as a function of a tuple of rows."""
    u = ModelUtility(data.train.x, data.train.y, data.valid.x, data.valid.y)
    return lambda subset: u(np.array(subset, dtype=np.int64))
