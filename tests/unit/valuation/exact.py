"""Brute-force oracles: exact semivalues by enumerating every subset (n <= 8)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

Utility = Callable[[tuple[int, ...]], float]
Weight = Callable[[int, int], float]
"""weight(n, s): the coefficient of a marginal contribution to a subset of size s."""


def shapley_weight(n: int, s: int) -> float:
    return 1.0 / (n * math.comb(n - 1, s))


def banzhaf_weight(n: int, s: int) -> float:
    return 1.0 / 2 ** (n - 1)


def beta_weight(alpha: float, beta: float) -> Weight:
    """Beta(alpha, beta) Shapley (Kwon & Zou 2022): B(s + beta, n-s-1 + alpha) / B(alpha, beta)."""

    def log_beta(a: float, b: float) -> float:
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)

    def weight(n: int, s: int) -> float:
        return math.exp(log_beta(s + beta, n - s - 1 + alpha) - log_beta(alpha, beta))

    return weight


def exact_semivalue(
    n: int, utility: Utility, weight: Weight = shapley_weight
) -> NDArray[np.float64]:
    """sum over S not containing i of weight(n, |S|) * (u(S + i) - u(S))."""
    cache: dict[tuple[int, ...], float] = {}

    def u(subset: tuple[int, ...]) -> float:
        if subset not in cache:
            cache[subset] = utility(subset)
        return cache[subset]

    values = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            for subset in itertools.combinations(others, size):
                with_i = tuple(sorted((*subset, i)))
                values[i] += weight(n, size) * (u(with_i) - u(subset))
    return values


def exact_shapley(n: int, utility: Utility) -> NDArray[np.float64]:
    return exact_semivalue(n, utility, shapley_weight)
