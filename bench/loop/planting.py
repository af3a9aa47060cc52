"""Label noise as it happens in recorded data, planted on rows the benchmark
chooses. Labels are class indices; `eligible` marks the rows noise may touch (the
training rows, and the validation rows when validation is drawn from the noisy
table); the sealed test rows are never eligible.

- symmetric: a share of the rows gets another class, uniformly: the easy case;
- under_report: a share of the minority class is recorded as the majority, never
  the reverse (a condition that goes unreported);
- pairwise: two similar classes are confused both ways, a share of each;
- instance: flips concentrated near the boundary of a model fitted on clean rows,
  each to the class the model finds most likely after the true one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

NOISES = ("symmetric", "under_report", "pairwise", "instance")
RATES = {"symmetric": 0.10, "under_report": 0.40, "pairwise": 0.20, "instance": 0.10}


@dataclass(frozen=True)
class NoiseContext:
    """What the noise kinds need beyond the labels: the minority and majority
    class, the confused pairs, and a clean model's class probabilities per row."""

    n_classes: int
    minority: int
    majority: int
    pairs: tuple[tuple[int, int], ...]
    clean_proba: NDArray[np.float64]


@dataclass(frozen=True)
class Planted:
    labels: NDArray[np.int64]
    flipped: NDArray[np.bool_]


def _draw(rows: NDArray[np.int64], rate: float, rng: np.random.Generator) -> NDArray[np.int64]:
    count = round(rate * len(rows))
    return np.sort(rng.choice(rows, count, replace=False)).astype(np.int64)


def symmetric(
    y: NDArray[np.int64], eligible: NDArray[np.bool_], n_classes: int, rate: float,
    rng: np.random.Generator,
) -> NDArray[np.int64]:  # fmt: skip
    rows = _draw(np.flatnonzero(eligible), rate, rng)
    out = y.copy()
    out[rows] = (y[rows] + rng.integers(1, n_classes, size=len(rows))) % n_classes
    return out


def under_report(
    y: NDArray[np.int64], eligible: NDArray[np.bool_], minority: int, majority: int, rate: float,
    rng: np.random.Generator,
) -> NDArray[np.int64]:  # fmt: skip
    rows = _draw(np.flatnonzero(eligible & (y == minority)), rate, rng)
    out = y.copy()
    out[rows] = majority
    return out


def pairwise(
    y: NDArray[np.int64], eligible: NDArray[np.bool_], pairs: tuple[tuple[int, int], ...],
    rate: float, rng: np.random.Generator,
) -> NDArray[np.int64]:  # fmt: skip
    out = y.copy()
    for a, b in pairs:
        from_a = _draw(np.flatnonzero(eligible & (y == a)), rate, rng)
        from_b = _draw(np.flatnonzero(eligible & (y == b)), rate, rng)
        out[from_a], out[from_b] = b, a
    return out


def boundary_weights(y: NDArray[np.int64], proba: NDArray[np.float64]) -> NDArray[np.float64]:
    """How near each row lies to the clean model's boundary: the probability the
    model gives to classes other than the row's own (0 far inside its class)."""
    return np.clip(1.0 - proba[np.arange(len(y)), y], 0.0, 1.0)


def instance(
    y: NDArray[np.int64], eligible: NDArray[np.bool_], proba: NDArray[np.float64], rate: float,
    rng: np.random.Generator,
) -> NDArray[np.int64]:  # fmt: skip
    rows = np.flatnonzero(eligible)
    count = round(rate * len(rows))
    weights = boundary_weights(y[rows], proba[rows]) + 1e-12
    chosen = rng.choice(rows, count, replace=False, p=weights / weights.sum())
    others = proba[chosen].copy()
    others[np.arange(len(chosen)), y[chosen]] = -np.inf
    out = y.copy()
    out[chosen] = others.argmax(axis=1)
    return out


def most_confused_pair(y: NDArray[np.int64], proba: NDArray[np.float64]) -> tuple[int, int]:
    """The two classes a model mixes up most: the largest probability mass each
    gives the other, summed over their rows."""
    k = proba.shape[1]
    mass = np.zeros((k, k))
    for c in range(k):
        mass[c] = proba[y == c].sum(axis=0)
    both = mass + mass.T
    np.fill_diagonal(both, -np.inf)
    a, b = np.unravel_index(int(np.argmax(both)), both.shape)
    return (int(min(a, b)), int(max(a, b)))


def plant(
    noise: str, y: NDArray[np.int64], eligible: NDArray[np.bool_], context: NoiseContext,
    rng: np.random.Generator,
) -> Planted:  # fmt: skip
    if noise not in RATES:
        raise ValueError(f"unknown noise {noise!r}; one of {', '.join(NOISES)}")
    rate = RATES[noise]
    if noise == "symmetric":
        labels = symmetric(y, eligible, context.n_classes, rate, rng)
    elif noise == "under_report":
        labels = under_report(y, eligible, context.minority, context.majority, rate, rng)
    elif noise == "pairwise":
        labels = pairwise(y, eligible, context.pairs, rate, rng)
    else:
        labels = instance(y, eligible, context.clean_proba, rate, rng)
    return Planted(labels, labels != y)
