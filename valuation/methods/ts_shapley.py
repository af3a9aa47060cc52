"""Transferred Shapley for large N (TS-DShapley; Schoch et al., "Data Selection for
Fine-tuning Large Language Models Using Transferred Shapley Values", ACL SRW 2023).

Exact or TMC Shapley over a million rows is out of reach, so the value is
transferred from many small games:

1. The features are reduced by PCA to `n_components` dimensions (covariance
   accumulated in chunks, then an eigendecomposition).
2. Each chain deals the N rows, in a random order, into subsets of about
   `subset_size` rows; every row is in exactly one subset per chain.
3. In each subset, Shapley values of the utility "validation accuracy of a ridge
   classifier on the subset" are estimated from `permutations` random
   permutations. The proxy is fitted along a permutation by recursive least
   squares (Sherman-Morrison), O(d^2) per added row instead of a refit, and all
   (subset, permutation) pairs of a block advance together as batched arrays.
   The ridge classifier: W = (X^T X + lam I)^-1 X^T Y on [z, 1] with one-hot Y,
   predicting argmax(z W); u(empty) is the majority-class accuracy as in
   `valuation.utility`. With `utility="balanced_accuracy"` (or "auto" on an
   imbalanced label) the accuracy is balanced: each validation row is weighted by
   `valuation.utility.class_weights`. For a regression target the proxy is ridge
   regression of the centred target, W = (X^T X + lam I)^-1 X^T (y - c) with c the
   mean training target, predicting c + z W, scored by minus the validation MSE
   ("neg_mse", what "auto" picks) or clipped R² ("r2"); u(empty) predicts c.
   (The recursive fit is the point of the method, so it fits no user model.)
4. A row's value is the mean of its marginal contributions over every subset and
   permutation it took part in; the standard error comes from their spread.
   Chains are the engine's chains (sample k = subset k // n_chains of chain
   k mod n_chains), so R-hat across them is reported.

Rows never sampled (only when a time limit or `max_samples` stops the run early)
get the mean value of their `fallback_neighbors` nearest sampled rows in the PCA
space (a KNN regression fitted on at most 200,000 sampled rows), a count of 0 and
an infinite standard error, and the run is flagged as not converged
(`diagnostics["convergence"]`).
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray
from sklearn.neighbors import KNeighborsRegressor

from mendb.valuation._validation import check_int, check_real
from mendb.valuation.base import ProgressCallback
from mendb.valuation.data import TrainingArrays
from mendb.valuation.methods._sampling import (
    MonteCarloOptions,
    SamplingMethod,
    resolve_seed,
    sample,
)
from mendb.valuation.samplers import Sampler, Tally, sample_rng
from mendb.valuation.task_support import is_regression
from mendb.valuation.utility import UtilityChoice, class_weights

_CHUNK = 65_536
_FALLBACK_FIT_ROWS = 200_000


def pca(x: NDArray[np.floating], k: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean and the top-k principal axes (d x k) of x, reading it in chunks."""
    mean = np.zeros(x.shape[1])
    for start in range(0, len(x), _CHUNK):
        mean += x[start : start + _CHUNK].sum(axis=0, dtype=np.float64)
    mean /= max(len(x), 1)
    cov = np.zeros((x.shape[1], x.shape[1]))
    for start in range(0, len(x), _CHUNK):
        block = x[start : start + _CHUNK] - mean
        cov += block.T @ block
    eigval, eigvec = np.linalg.eigh(cov)
    axes = eigvec[:, np.argsort(eigval)[::-1][:k]]
    return mean, axes * np.sign(axes[np.argmax(np.abs(axes), axis=0), range(axes.shape[1])])


def project(
    x: NDArray[np.floating], mean: NDArray[np.float64], axes: NDArray[np.float64]
) -> NDArray[np.float64]:
    out = np.empty((len(x), axes.shape[1]))
    for start in range(0, len(x), _CHUNK):
        out[start : start + _CHUNK] = (x[start : start + _CHUNK] - mean) @ axes
    return out


class Game:
    """The payload: projected rows with a bias column, labels, validation rows and
    their weights in the accuracy (1, or class-balancing when `balanced`). With a
    regression `metric` ("neg_mse" or "r2") the labels are targets, centred on the
    training mean, and the proxy has one output."""

    # Deliberately like valuation.utility.ModelUtility: both payloads take the training
    # and the validation arrays; these are projected by PCA first.
    def __init__(
        self,
        z: NDArray[np.float64],
        y: NDArray[Any],
        zv: NDArray[np.float64],
        yv: NDArray[Any],
        n_classes: int,
        lam: float,
        balanced: bool = False,
        metric: str | None = None,
    ) -> None:
        self.z = np.hstack([z, np.ones((len(z), 1))])
        self.zv = np.hstack([zv, np.ones((len(zv), 1))])
        self.y, self.yv, self.n_classes, self.lam = y, yv, n_classes, lam
        self.metric = metric if metric in ("neg_mse", "r2") else None
        if self.metric is not None:  # a regression target
            centre = float(np.mean(y)) if len(y) else 0.0
            self.y, self.yv, self.n_classes = y - centre, yv - centre, 1
            self.wv = np.ones(len(yv))
            self.empty = float(self.score(np.zeros((1, len(yv), 1)))[0])
            return
        self.wv = class_weights(yv) if balanced else np.ones(len(yv))
        majority = np.argmax(np.bincount(y, minlength=n_classes))
        self.empty = float(np.mean(self.wv * (yv == majority))) if len(yv) else 0.0

    def target(self, rows: NDArray[np.int64]) -> NDArray[np.float64]:
        """The proxy's targets for `rows`: one-hot labels, or the centred target."""
        if self.metric is not None:
            return np.asarray(self.y[rows], dtype=np.float64)[:, None]
        one_hot: NDArray[np.float64] = np.eye(self.n_classes)[self.y[rows]]
        return one_hot

    def score(self, outputs: NDArray[np.float64]) -> NDArray[np.float64]:
        """The utility of each group's proxy from its (groups, validation rows,
        outputs) predictions on the validation rows."""
        if self.metric is None:
            predicted = np.argmax(outputs, axis=2)
            accuracy: NDArray[np.float64] = ((predicted == self.yv) * self.wv).mean(axis=1)
            return accuracy
        if len(self.yv) == 0:
            return np.zeros(len(outputs))
        squared = np.square(outputs[:, :, 0] - self.yv).mean(axis=1)
        if self.metric == "neg_mse":
            negative: NDArray[np.float64] = -squared
            return negative
        variance = float(np.var(self.yv))
        if variance == 0.0:
            return np.where(squared == 0.0, 1.0, 0.0)
        r2: NDArray[np.float64] = np.maximum(0.0, 1.0 - squared / variance)
        return r2


@lru_cache(maxsize=8)
def _chain_order(seed: int, chain: int, n: int) -> NDArray[np.int64]:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(chain, 0)))
    return rng.permutation(n)


class SubsetSampler(Sampler):
    """Sample k: subset k // n_chains of chain k mod n_chains, `permutations` times."""

    def __init__(self, subset_size: int, permutations: int, n_chains: int) -> None:
        self.subset_size, self.permutations, self.n_chains = subset_size, permutations, n_chains

    def per_chain(self, n: int) -> int:
        return max(1, -(-n // self.subset_size))

    def size(self, n: int) -> int:
        return self.n_chains * self.per_chain(n)

    def subset(self, seed: int, k: int, n: int) -> NDArray[np.int64]:
        chain, j = k % self.n_chains, k // self.n_chains
        count = self.per_chain(n)
        return _chain_order(seed, chain, n)[j * n // count : (j + 1) * n // count]

    def run(self, game: Game, ids: NDArray[np.int64], seed: int) -> Tally:
        n = len(game.y)
        groups = []
        for k in ids:
            rows = self.subset(seed, int(k), n)
            rng = sample_rng(seed, int(k))
            groups += [rows[rng.permutation(len(rows))] for _ in range(self.permutations)]
        width = max(len(g) for g in groups)
        order = np.full((len(groups), width), -1)
        for g, rows in enumerate(groups):
            order[g, : len(rows)] = rows
        marginals = _rls_marginals(game, order)
        flat = order.ravel()
        keep = flat >= 0
        rows, inverse = np.unique(flat[keep], return_inverse=True)
        values = marginals.ravel()[keep]
        tally = Tally(
            np.bincount(inverse, minlength=len(rows)).astype(np.int64),
            np.bincount(inverse, values, len(rows)).astype(np.float64),
            np.bincount(inverse, values * values, len(rows)).astype(np.float64),
            rows=rows,
        )
        tally.samples, tally.evaluations = len(ids), int(keep.sum())
        return tally


def _rls_marginals(game: Game, order: NDArray[np.int64]) -> NDArray[np.float64]:
    """Marginal accuracy gains along each row of `order` (-1 pads, gaining 0)."""
    n_groups, width = order.shape
    dim, k = game.z.shape[1], game.n_classes
    inverse = np.broadcast_to(np.eye(dim) / game.lam, (n_groups, dim, dim)).copy()
    weights = np.zeros((n_groups, dim, k))
    previous = np.full(n_groups, game.empty)
    marginals = np.zeros((n_groups, width))
    for t in range(width):
        rows = order[:, t]
        valid = rows >= 0
        x = np.where(valid[:, None], game.z[rows], 0.0)
        target = np.where(valid[:, None], game.target(rows), 0.0)
        px = np.matmul(inverse, x[:, :, None])[:, :, 0]
        gain = px / (1.0 + (x * px).sum(axis=1))[:, None]
        inverse -= gain[:, :, None] * px[:, None, :]
        error = target - np.matmul(x[:, None, :], weights)[:, 0, :]
        weights += gain[:, :, None] * error[:, None, :]
        score = game.score(np.matmul(game.zv, weights))
        marginals[:, t] = np.where(valid, score - previous, 0.0)
        previous = np.where(valid, score, previous)
    return marginals


class TSShapley(SamplingMethod):
    """Transferred Shapley: PCA, a ridge proxy, Shapley on many small subsets.

    `max_samples=None` (the default) deals every row into one subset per chain."""

    method = "ts_shapley"
    defaults = MonteCarloOptions(n_chains=2, block_size=32)
    settings = ("max_time", "rhat_below", "n_chains", "block_size", "seed", "executor", "n_jobs")
    # A chain holds each row in one subset only, so the spread within a chain never
    # sees how a row's value moves from subset to subset, and R-hat grows with that
    # movement however many permutations are run: it is reported, and held to a
    # limit only when `rhat_below` is given.
    _judge_rhat = False

    # Deliberately like the other methods' constructors: a keyword-only signature that
    # `param_hints` reads for the HTTP schema.
    def __init__(
        self,
        *,
        n_components: int = 16,
        subset_size: int = 256,
        permutations: int = 4,
        ridge: float = 1.0,
        max_valid: int = 512,
        fallback_neighbors: int = 10,
        max_samples: int | None = None,
        utility: str = "auto",
        options: MonteCarloOptions | None = None,
        **settings: Any,
    ) -> None:
        # Deliberately like the other methods' constructors: each stores its own keywords
        # unchanged under their names (scikit-learn's rule, see valuation.base).
        self.n_components = n_components
        self.subset_size = subset_size
        self.permutations = permutations
        self.ridge = ridge
        self.max_valid = max_valid
        self.fallback_neighbors = fallback_neighbors
        self.max_samples = max_samples
        self.utility = utility
        self._set_options(options, settings)

    def fit(self, data: TrainingArrays, progress: ProgressCallback | None = None) -> Self:
        n = len(data.train)
        sampler = SubsetSampler(
            check_int("subset_size", self.subset_size, low=1),
            check_int("permutations", self.permutations, low=1),
            check_int("n_chains", self.options.n_chains, low=1),
        )
        budget = sampler.size(n) if self.max_samples is None else self.max_samples
        options = replace(self.options, max_samples=budget).checked()
        seed = resolve_seed(options.seed)
        choice = self._choose_utility(data)
        game, z = self._game(data, seed, choice)
        estimate = sample(game, sampler, n, options, seed, progress)
        values, stderr = _fill_unsampled(
            z,
            estimate.values,
            estimate.stderr,
            estimate.counts,
            check_int("fallback_neighbors", self.fallback_neighbors, low=1),
        )
        estimate = replace(estimate, values=values, stderr=stderr)
        diagnostics = estimate.diagnostics(options.n_chains)
        diagnostics["never_sampled"] = int((estimate.counts == 0).sum())
        self._result = self._make_result(
            data, estimate, options, seed, diagnostics, progress, utility=choice
        )
        return self

    def _game(
        self, data: TrainingArrays, seed: int, choice: UtilityChoice
    ) -> tuple[Game, NDArray[np.float64]]:
        k = min(check_int("n_components", self.n_components, low=1), data.train.x.shape[1])
        max_valid = check_int("max_valid", self.max_valid, low=1)
        lam = check_real("ridge", self.ridge, low=1e-12)
        mean, axes = pca(data.train.x, k)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1 << 31,)))
        chosen = np.sort(rng.permutation(len(data.valid))[:max_valid])
        z = project(data.train.x, mean, axes)
        zv = project(data.valid.x[chosen], mean, axes)
        game = Game(
            z,
            data.train.y,
            zv,
            data.valid.y[chosen],
            data.n_classes,
            lam,
            choice.balanced,
            choice.metric if is_regression(data) else None,
        )
        return game, z


def _fill_unsampled(
    z: NDArray[np.float64],
    values: NDArray[np.float64],
    stderr: NDArray[np.float64],
    counts: NDArray[np.int64],
    neighbors: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """KNN regression of sampled values in PCA space for rows never sampled."""
    seen = counts > 0
    if seen.all() or not seen.any():
        return values, np.where(seen, stderr, np.inf)
    known = np.flatnonzero(seen)
    if len(known) > _FALLBACK_FIT_ROWS:
        known = np.random.default_rng(0).choice(known, _FALLBACK_FIT_ROWS, replace=False)
    knn = KNeighborsRegressor(n_neighbors=min(neighbors, len(known))).fit(z[known], values[known])
    filled = values.copy()
    filled[~seen] = knn.predict(z[~seen])
    return filled, np.where(seen, stderr, np.inf)
