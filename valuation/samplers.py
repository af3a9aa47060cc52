"""Samplers: how a block of Monte Carlo samples turns into per-row sums.

A semivalue of row i is

    v_i = sum over S not containing i of w(n, |S|) * (u(S + i) - u(S)),

Shapley: w = 1 / (n C(n-1, s)); Banzhaf: w = 1 / 2^(n-1); Beta(alpha, beta)
Shapley (Kwon & Zou, AISTATS 2022): w = B(s + beta, n - s - 1 + alpha) / B(alpha, beta).

Every sample k draws its randomness from `SeedSequence(seed, spawn_key=(k,))`, so a
sample is the same whichever block or worker computes it. A block returns a `Tally`
(per-row count, sum and sum of squares of what it observed); the engine adds
tallies up in block order, and the sampler turns the sums into values and
standard errors.

- `PermutationSampler`: a uniform permutation gives each row one marginal
  contribution to the prefix before it, whose size is uniform on 0..n-1; weighting
  the contribution at prefix size s by n C(n-1, s) w(n, s) makes the mean unbiased
  for any semivalue (coefficient 1 for Shapley). With `truncation` > 0 a
  permutation stops being evaluated once |u(N) - u(prefix)| < truncation * |u(N)|
  and the remaining rows get 0 (TMC, Ghorbani & Zou, ICML 2019).
- `MSRSampler`: maximum sample reuse (Wang & Jia, AISTATS 2023): S contains each
  row with probability 1/2 and one u(S) serves every row:
  v_i = mean{u(S) : i in S} - mean{u(S) : i not in S}, the Banzhaf value.
- `LOOSampler`: sample i is u(N) - u(N minus i), exact leave-one-out in n samples.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import betaln, gammaln

from mendb.valuation.utility import Utility

Record = tuple[NDArray[np.int64], float]
"""A sampled subset (sorted row indices) and its utility, kept for the MTM fit."""

_RECORDS_PER_SAMPLE = 2


@dataclass
class Tally:
    """Per-row sums over some samples; `rows` None means rows 0..n-1 in order."""

    count: NDArray[np.int64]
    total: NDArray[np.float64]
    total_sq: NDArray[np.float64]
    rows: NDArray[np.int64] | None = None
    samples: int = 0
    evaluations: int = 0
    extra: NDArray[np.float64] = field(default_factory=lambda: np.zeros(3))
    records: list[Record] = field(default_factory=list)

    @classmethod
    def zeros(cls, n: int, rows: NDArray[np.int64] | None = None) -> Tally:
        return cls(np.zeros(n, np.int64), np.zeros(n), np.zeros(n), rows)

    def add(self, rows: NDArray[np.int64], contributions: NDArray[np.float64]) -> None:
        """Add one observation per listed row (rows must be distinct)."""
        self.count[rows] += 1
        self.total[rows] += contributions
        self.total_sq[rows] += contributions * contributions

    def merge(self, other: Tally) -> None:
        """Add another tally's sums in; self must be dense (rows None)."""
        target: Any = slice(None) if other.rows is None else other.rows
        self.count[target] += other.count
        self.total[target] += other.total
        self.total_sq[target] += other.total_sq
        self.samples += other.samples
        self.evaluations += other.evaluations
        self.extra += other.extra
        self.records.extend(other.records)


def sample_rng(seed: int, k: int) -> np.random.Generator:
    """The generator of sample k: independent of blocks, workers and chains."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))


def mean_and_stderr(tally: Tally) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Sample mean and its standard error per row (0 for rows with one sample or none)."""
    count = np.maximum(tally.count, 1)
    mean = tally.total / count
    var = np.maximum(tally.total_sq / count - mean * mean, 0.0) * count / np.maximum(count - 1, 1)
    return mean, np.sqrt(var / count)


class Sampler(ABC):
    """Turns sample ids into a tally (on a worker) and tallies into estimates."""

    def size(self, n: int) -> int | None:
        """How many distinct samples exist, or None when unbounded."""
        return None

    @abstractmethod
    def run(self, utility: Any, ids: NDArray[np.int64], seed: int) -> Tally:
        """Compute the samples `ids` and return their sums."""

    def estimate(self, tally: Tally) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return mean_and_stderr(tally)


def shapley_coefficients(n: int) -> NDArray[np.float64]:
    return np.ones(n)


def beta_coefficients(n: int, alpha: float, beta: float) -> NDArray[np.float64]:
    """n C(n-1, s) B(s + beta, n - s - 1 + alpha) / B(alpha, beta) for s = 0..n-1."""
    s = np.arange(n, dtype=np.float64)
    log_comb = gammaln(n) - gammaln(s + 1) - gammaln(n - s)
    log_w = betaln(s + beta, n - s - 1 + alpha) - betaln(alpha, beta)
    weights: NDArray[np.float64] = np.exp(math.log(n) + log_comb + log_w)
    return weights


class PermutationSampler(Sampler):
    """Marginal contributions along uniform permutations, optionally truncated."""

    def __init__(
        self,
        truncation: float = 0.0,
        coefficients: Callable[[int], NDArray[np.float64]] = shapley_coefficients,
    ) -> None:
        self.truncation = truncation
        self.coefficients = coefficients

    def run(self, utility: Utility, ids: NDArray[np.int64], seed: int) -> Tally:
        n = utility.n
        tally = Tally.zeros(n)
        coef = self.coefficients(n)
        full = utility(np.arange(n)) if self.truncation > 0 else 0.0
        for k in ids:
            rng = sample_rng(seed, int(k))
            perm = rng.permutation(n)
            scores, evaluated = self._prefix_scores(utility, perm, full)
            tally.add(perm, coef * np.diff(scores))
            tally.evaluations += evaluated
            for j in rng.integers(1, evaluated + 1, size=min(_RECORDS_PER_SAMPLE, evaluated)):
                tally.records.append((np.sort(perm[:j]), float(scores[j])))
        tally.samples = len(ids)
        return tally

    def _prefix_scores(
        self, utility: Utility, perm: NDArray[np.int64], full: float
    ) -> tuple[NDArray[np.float64], int]:
        """u of every prefix (after truncation the rest repeat the last score), and
        how many prefixes were evaluated."""
        scores = np.empty(len(perm) + 1)
        scores[0] = utility.empty
        for j in range(1, len(perm) + 1):
            scores[j] = utility(perm[:j])
            if self.truncation > 0 and abs(full - scores[j]) < self.truncation * abs(full):
                scores[j + 1 :] = scores[j]
                return scores, j
        return scores, len(perm)


class MSRSampler(Sampler):
    """Uniform subsets, each utility reused by every row (Banzhaf values)."""

    def run(self, utility: Utility, ids: NDArray[np.int64], seed: int) -> Tally:
        n = utility.n
        tally = Tally.zeros(n)
        for k in ids:
            rng = sample_rng(seed, int(k))
            subset = np.flatnonzero(rng.random(n) < 0.5)
            score = utility(subset)
            tally.add(subset, np.full(len(subset), score))
            tally.extra += (1.0, score, score * score)
            tally.records.append((subset, score))
        tally.samples = tally.evaluations = len(ids)
        return tally

    def estimate(self, tally: Tally) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        inside, se_in = mean_and_stderr(tally)
        total, total_sum, total_sq = tally.extra
        out = Tally(
            np.asarray(total - tally.count, np.int64),
            total_sum - tally.total,
            total_sq - tally.total_sq,
        )
        outside, se_out = mean_and_stderr(out)
        known = (tally.count > 0) & (out.count > 0)
        return np.where(known, inside - outside, 0.0), np.where(
            known, np.hypot(se_in, se_out), np.inf
        )


class LOOSampler(Sampler):
    """Sample i is row i's leave-one-out difference u(N) - u(N minus i)."""

    def size(self, n: int) -> int | None:
        return n

    def run(self, utility: Utility, ids: NDArray[np.int64], seed: int) -> Tally:
        n = utility.n
        tally = Tally.zeros(n)
        everyone = np.arange(n)
        full = utility(everyone)
        for i in ids:
            rest = np.delete(everyone, i)
            score = utility(rest)
            tally.add(np.array([i]), np.array([full - score]))
            tally.records.append((rest, score))
        tally.samples = len(ids)
        tally.evaluations = len(ids) + 1
        return tally
