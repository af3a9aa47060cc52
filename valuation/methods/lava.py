"""LAVA-style values (Just et al., "LAVA: Data Valuation without Pre-Specified
Learning Algorithms", ICLR 2023): from the optimal transport between the training
rows and the validation rows, with no model at all.

Both sides are uniform measures over labelled points (x, y). The ground cost of
moving training row i onto validation row j is

    C_ij = |x_i - x_j|^2 + gap * 1[y_i != y_j],

with features measured in units of the validation rows (each column centred and
divided by its standard deviation over the validation rows; a constant column
keeps unit scale) and `gap` the median of the feature part over (training,
validation) pairs. The entropic, unbalanced OT problem

    min_P <P, C> + eps KL(P | a b^T) + rho KL(P 1 | a) + rho KL(P^T 1 | b),

eps = `epsilon` * gap and rho = `reach` * gap (`reach=None`: balanced OT, rho
infinite), is solved in the log domain by Sinkhorn's iterations on the dual
potentials (f, g), each damped by rho / (rho + eps) (Chizat et al. 2018; Séjourné
et al. 2019):

    f_i = -rho/(rho+eps) eps log sum_j b_j exp((g_j - C_ij) / eps),
    g_j = -rho/(rho+eps) eps log sum_i a_i exp((f_i - C_ij) / eps).

eps starts at a bound of the largest cost and is halved every iteration down to
its target (eps-scaling), then the iterations go on until no potential moves by
more than `tol` * eps, i.e. until every marginal is met to a relative `tol`, or
`max_iter`. f_i is the sensitivity of the transport cost to the mass of row i;
LAVA's calibrated gradient moves mass from every other row onto row i:

    grad_i = f_i - sum_{k != i} f_k / (N - 1),     value_i = -grad_i,

so a row that takes the training set away from the validation set (features far
from every validation row, or a label the validation rows around it do not have)
gets a low value. A shift (f + c, g - c) cancels in grad_i. (With finite rho the
exact gradient is rho (1 - exp(-f_i / rho)), a monotone function of f_i; f_i is
kept so that rows far out stay ordered by distance instead of tying at rho.)

Where this departs from LAVA as published, and why (docs/BENCHMARKS.md, "Detection
quality", sets it beside OpenDataVal's LAVA):
- Unbalanced transport. With balanced OT every row must be transported, so a few
  far rows reshape g for everyone, and the converged gradient ranks flipped labels
  by how crowded their neighbourhood is rather than by how they disagree with it.
  OpenDataVal's LAVA runs geomloss's eps-scaling, one iteration per eps, and stops
  far from convergence, where the potentials are still close to a soft distance to
  the nearest validation rows; here the problem is solved to convergence and the
  relaxed marginals keep that behaviour by design.
- Validation units. The shared preprocessing standardises with training
  statistics, so a column in which a few rows were blown up has its spread
  inflated and the other corrupted rows shrink back into the crowd. The
  validation rows are the trusted side of the problem; measured in their units,
  corrupted rows stand out again.
- A constant label cost instead of OTDD's class-to-class distance. OTDD (which
  OpenDataVal uses) computes the Wasserstein distance between the feature clouds
  of each training class and each validation class, but the training clouds hold
  the very rows under suspicion: a few far rows make that distance many times the
  median feature cost, which drowns the feature term. Both were run: the constant,
  on the same scale as the feature costs, ranked better in every cell tried.

Memory stays bounded whatever N is: at most `max_valid` validation rows are used
(a seeded uniform sample when there are more; the seed is recorded), the
(N x M) cost is held only while it has at most `_CACHE` elements and otherwise
rebuilt in row blocks of about `_BLOCK` elements at every iteration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

import numpy as np
from numpy.typing import NDArray

from mendb.valuation._validation import InvalidParameterError, check_int, check_real
from mendb.valuation.base import ProgressCallback, Valuation
from mendb.valuation.data import TrainingArrays
from mendb.valuation.methods._sampling import resolve_seed
from mendb.valuation.result import ValuationResult
from mendb.valuation.task_support import require_classification

_BLOCK = 1 << 21  # elements of one (rows x M) working block: 16 MB in float64
_CACHE = 1 << 24  # the whole (N x M) cost is kept while it has at most this many elements
_SCALING = 0.5  # eps-scaling: eps is halved each warm-up iteration
_GAP_ROWS = 2000  # training rows the median feature cost is taken over

Array = NDArray[np.float64]
CostBlock = Callable[[int, int], Array]
"""Rows [start, stop) of the cost matrix, all columns."""


@dataclass(frozen=True)
class Potentials:
    """Dual potentials of an entropic OT problem and how the solver ended."""

    f: Array
    g: Array
    iterations: int
    converged: bool

    @property
    def dual(self) -> float:
        """<a, f> + <b, g>: the entropic OT cost of the balanced problem."""
        return float(self.f.mean() + self.g.mean())


def sq_distances(x: Array, z: Array) -> Array:
    """|x_i - z_j|^2, clipped at 0 (the expanded form can round below it)."""
    d = x @ z.T
    d *= -2.0
    d += np.einsum("ij,ij->i", x, x)[:, None]
    d += np.einsum("ij,ij->i", z, z)[None, :]
    return np.maximum(d, 0.0, out=d)


def matrix_cost(c: Array) -> CostBlock:
    """A cost held whole in memory."""
    return lambda start, stop: c[start:stop]


# Deliberately like valuation.engine.run in shape only: inputs, then keyword settings.
def sinkhorn(
    cost: CostBlock,
    n: int,
    m: int,
    epsilon: float,
    *,
    scale: float,
    reach: float | None = None,
    max_iter: int = 1000,
    tol: float = 1e-4,
    progress: ProgressCallback | None = None,
) -> Potentials:
    """Log-domain Sinkhorn between uniform measures on n and m points, unbalanced with
    marginal penalty `reach` (None: balanced), with eps-scaling from `scale` (about
    the largest cost) down to `epsilon`.

    One iteration is one pass over the row blocks: each block updates its f from g,
    then adds its terms to the log-sum-exp of the next g.
    """
    log_a, log_b = -np.log(n), -np.log(m)
    block = max(1, _BLOCK // max(m, 1))
    f, g = np.zeros(n), np.zeros(m)
    eps = max(scale, epsilon)
    iterations, converged = 0, False
    while iterations < max_iter:
        iterations += 1
        damp = 1.0 if reach is None else reach / (reach + eps)
        moved = 0.0
        acc = np.full(m, -np.inf)
        for start in range(0, n, block):
            c = cost(start, start + block)
            stop = start + len(c)
            new = -damp * eps * (_lse((g[None, :] - c) / eps, axis=1) + log_b)
            moved = max(moved, float(np.max(np.abs(new - f[start:stop]))))
            f[start:stop] = new
            acc = np.logaddexp(acc, _lse((new[:, None] - c) / eps, axis=0))
        g = -damp * eps * (acc + log_a)
        if eps > epsilon:
            eps = max(epsilon, eps * _SCALING)
        elif moved <= tol * epsilon:
            converged = True
            break
        if progress is not None:
            progress(iterations / max_iter)
    if progress is not None:
        progress(1.0)
    return Potentials(f, g, iterations, converged)


def _lse(t: Array, axis: int) -> Array:
    """log sum exp along `axis`, stabilised by the maximum."""
    top = np.max(t, axis=axis, keepdims=True)
    out = np.log(np.exp(t - top).sum(axis=axis)) + np.squeeze(top, axis=axis)
    return np.asarray(out, dtype=np.float64)


def lava_values(
    x: Array,
    y: NDArray[np.int64],
    xv: Array,
    yv: NDArray[np.int64],
    *,
    epsilon: float,
    reach: float | None,
    max_iter: int,
    tol: float,
    progress: ProgressCallback | None = None,
) -> tuple[Array, Potentials, float]:
    """Minus the calibrated OT gradient of every training row, the solver's state and
    `gap` (the median feature cost: the unit of eps, rho and the label cost)."""
    n, m = len(x), len(xv)
    centre = xv.mean(axis=0)
    spread = xv.std(axis=0)
    spread = np.where(spread > 1e-12, spread, 1.0)
    x = (x - centre) / spread
    xv = (xv - centre) / spread
    sample = np.linspace(0, n - 1, min(n, _GAP_ROWS)).astype(np.intp)
    gap = float(np.median(sq_distances(x[sample], xv)))
    gap = gap if gap > 0 else 1.0

    def build(start: int, stop: int) -> Array:
        c = sq_distances(x[start:stop], xv)
        c += gap * (y[start:stop, None] != yv[None, :])
        return c

    cost = matrix_cost(build(0, n)) if n * m <= _CACHE else build
    radius = np.sqrt(np.einsum("ij,ij->i", x, x).max()) + np.sqrt(
        np.einsum("ij,ij->i", xv, xv).max()
    )
    scale = float(radius**2) + gap  # bounds every cost: the warm-up starts there
    pot = sinkhorn(
        cost,
        n,
        m,
        epsilon * gap,
        scale=scale,
        reach=None if reach is None else reach * gap,
        max_iter=max_iter,
        tol=tol,
        progress=progress,
    )
    f = pot.f
    grad = f - (f.sum() - f) / max(n - 1, 1)
    return -grad, pot, gap


class LAVA(Valuation):
    """Minus the calibrated gradient of the entropic OT distance to the validation set."""

    method = "lava"
    budget_param = "max_iter"
    harmful_below = None  # a transport gradient ranks rows; it has no zero point

    def __init__(
        self,
        epsilon: float = 0.01,
        reach: float | None = 1.0,
        max_iter: int = 1000,
        tol: float = 1e-4,
        max_valid: int = 2000,
        seed: int | None = None,
    ) -> None:
        # Deliberately like the other methods' constructors: each stores its own keywords
        # unchanged under their names (scikit-learn's rule, see valuation.base).
        self.epsilon = epsilon
        self.reach = reach
        self.max_iter = max_iter
        self.tol = tol
        self.max_valid = max_valid
        self.seed = seed

    def fit(self, data: TrainingArrays, progress: ProgressCallback | None = None) -> Self:
        require_classification(
            self.method,
            data,
            "its transport cost compares labels as equal or not, which a numeric target"
            " with many values makes meaningless",
        )
        epsilon = check_real("epsilon", self.epsilon, low=1e-9)
        reach = None if self.reach is None else check_real("reach", self.reach, low=1e-9)
        max_iter = check_int("max_iter", self.max_iter, low=1)
        tol = check_real("tol", self.tol, low=0.0)
        max_valid = check_int("max_valid", self.max_valid, low=1)
        seed = resolve_seed(self.seed)
        for name, value in (("epsilon", epsilon), ("reach", reach), ("tol", tol)):
            if value is not None and not np.isfinite(value):
                raise InvalidParameterError(name, value, "finite")
        if len(data.valid) == 0:
            raise ValueError("LAVA needs validation rows: the validation split is empty")
        if len(data.train) == 0:
            self._result = ValuationResult.exact(
                data.train.keys, np.zeros(0), self.method, self.get_params(), seed=seed
            )
            return self
        keep = np.arange(len(data.valid))
        if len(keep) > max_valid:
            rng = np.random.default_rng(seed)
            keep = np.sort(rng.choice(len(keep), size=max_valid, replace=False))
        values, pot, gap = lava_values(
            np.asarray(data.train.x, dtype=np.float64),
            np.asarray(data.train.y),
            np.asarray(data.valid.x[keep], dtype=np.float64),
            np.asarray(data.valid.y[keep]),
            epsilon=epsilon,
            reach=reach,
            max_iter=max_iter,
            tol=tol,
            progress=progress,
        )
        diagnostics = {
            "iterations": pot.iterations,
            "converged": pot.converged,
            "label_gap": gap,
            "valid_rows_used": len(keep),
        }
        self._result = ValuationResult.exact(
            data.train.keys,
            values,
            self.method,
            self.get_params(),
            seed=seed,
            diagnostics=diagnostics,
        )
        return self
