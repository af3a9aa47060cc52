"""Evidence that a regression target is wrong, calibrated on trusted rows.

The idea behind cleanlab's regression label quality: a target is suspect when it
lies far from what the rest of the data says it should be. Two witnesses speak:

- the median target of the row's k nearest trusted training rows (valued above
  the harm threshold, not suspects; the row itself never counts). Where the
  target hangs on a few features (a price on its carats among a score of one-hot
  columns), plain distances let the others choose the neighbours and the witness
  is weak; so the search runs where its neighbours predict the calibration rows
  better: in the prepared features, or in the features each scaled by the size of
  its coefficient in a robust linear fit (`neighbour_space`), which keeps a
  feature the target moves with nonlinearly from being ignored;
- an out-of-fold prediction: a Huber regressor (robust, so the errors sought do
  not drag it towards themselves) fitted on the other folds of the training and
  validation rows; or the user's stored out-of-fold predictions
  (`TrainingArrays.predictions`), which need no model at all. The user's own
  estimator is not used here: one fitted with squared error follows the very
  errors this looks for; its stored predictions are the way to bring it in.

Each residual is divided by its robust scale (1.4826 times the median absolute
residual of the calibration rows); the row's `residual` is the smaller of the two.
A target that spans decades is measured on asinh(y / its 5th percentile)
(`valuation.target_scale`), told by the calibration rows: on y itself such a
target's errors grow with its size, and the null's tail comes out so heavy that no
slip is ever doubted.
Its uncertainty comes from a bootstrap over the neighbours' targets (a row far
only from one odd neighbour is not far): the neighbours' residual tested is the
bootstrap's lower end.

Calibration: the same statistic on trusted rows is the null distribution: the
validation rows (which the loop trusts) when there are enough and no stored
predictions (those cover the training rows only), else the trusted training rows.
Per witness, a row's tail probability is the share of the null at least as far;
beyond the null's upper decile a Pareto tail (Hill's estimate of its index)
extrapolates, which stays conservative for light-tailed noise and follows
heavy-tailed noise. A target must be far from both witnesses, so its tail
probability is the larger of the two (an intersection-union test).
Tail probabilities of all training rows go through Benjamini-Hochberg, and a row's
`doubt` is 1 minus its q-value: of the rows doubted at c or more, the expected
share of sound targets is at most 1 - c. Computing it over every training row, not
only the suspects valuation chose, keeps the selection from biasing it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import HuberRegressor
from sklearn.model_selection import KFold

from mendb.repair.evidence import nearest, trusted_or_all
from mendb.repair.proposals import RepairContext, TargetEvidence, WrongTask
from mendb.valuation.data import Task, TrainingArrays
from mendb.valuation.target_scale import decades_scale

MAD_SCALE = 1.4826  # makes the median absolute residual of normal noise its deviation
MIN_CALIBRATION = 20  # validation rows needed to calibrate on them
TAIL_SHARE = 0.1  # the null's upper share that the Pareto tail is fitted to
MIN_TAIL = 5  # ... and the fewest rows it is fitted to
ROBUST_MODEL = "huber out-of-fold"
STORED_MODEL = "stored predictions"
PREPARED_SPACE = "prepared features"
WEIGHTED_SPACE = "features weighted by a robust linear fit"
CHOICE_ROWS = 2000  # calibration rows the neighbour space is chosen on, at most


@dataclass(frozen=True)
class TargetSettings:
    k: int = 10
    folds: int = 5
    bootstrap: int = 100
    interval: tuple[float, float] = (0.1, 0.9)  # bootstrap quantiles reported
    seed: int = 0


@dataclass(frozen=True)
class TargetAssessment:
    """The evidence for every training row (arrays indexed like `data.train`)."""

    neighbours: NDArray[np.float64]  # median target of the nearest trusted rows
    neighbours_range: NDArray[np.float64]  # (n, 2): their lowest and highest target
    model: NDArray[np.float64]
    neighbours_scale: float
    model_scale: float
    model_name: str
    residual: NDArray[np.float64]
    interval: NDArray[np.float64]  # (n, 2) bootstrap quantiles of the residual
    tail: NDArray[np.float64]
    doubt: NDArray[np.float64]
    calibration: str
    reference: float | None = None  # the asinh scale's reference (None: y itself)
    neighbour_space: str = PREPARED_SPACE

    def evidence(self, index: int) -> TargetEvidence:
        low, high = self.neighbours_range[index]
        return TargetEvidence(
            neighbours_estimate=_round(self.neighbours[index]),
            neighbours_range=(_round(low), _round(high)),
            neighbours_scale=_round(self.neighbours_scale),
            model_estimate=_round(self.model[index]),
            model_scale=_round(self.model_scale),
            model=self.model_name,
            residual=round(float(self.residual[index]), 4),
            residual_interval=(
                round(float(self.interval[index, 0]), 4),
                round(float(self.interval[index, 1]), 4),
            ),
            tail_probability=float(f"{self.tail[index]:.4g}"),
            calibration=self.calibration,
            doubt=round(float(self.doubt[index]), 6),
            reference=None if self.reference is None else _round(self.reference),
            neighbour_space=self.neighbour_space,
        )

    def doubted(self, rows: NDArray[np.int64], threshold: float) -> NDArray[np.int64]:
        """Of `rows`, those doubted at `threshold` or more, most doubted first."""
        rows = np.asarray(rows, dtype=np.int64)
        kept = rows[self.doubt[rows] >= threshold]
        return kept[np.argsort(-self.doubt[kept], kind="stable")]


def assess_targets(
    context: RepairContext, settings: TargetSettings | None = None
) -> TargetAssessment:
    """The evidence on every training row of a regression dataset (prepared arrays)."""
    s = settings or TargetSettings()
    data = context.data
    if data.task is not Task.REGRESSION:
        raise WrongTask(
            f"target evidence is for regression; {context.label_column!r} holds classes",
            column=context.label_column,
        )
    trusted = trusted_or_all(context.trusted(), context.suspects)
    stored = data.predictions is not None and np.ndim(data.predictions) == 1
    validated = not stored and len(data.valid) >= MIN_CALIBRATION
    scale = decades_scale(data.valid.y if validated else data.train.y[trusted])
    data = scale.applied(data)
    y = np.asarray(data.train.y, dtype=np.float64)
    everyone = np.arange(len(y))
    space, weights = neighbour_space(data, trusted, validated, s)
    train_x = data.train.x * weights
    train_targets = _neighbour_targets(train_x, train_x, y, trusted, s.k, everyone)
    if stored:
        model_train = np.asarray(data.predictions, dtype=np.float64)
        model_valid = np.zeros(0)
    else:
        model_train, model_valid = out_of_fold_predictions(data, s.folds, s.seed)
    if validated:
        null_y = np.asarray(data.valid.y, dtype=np.float64)
        null_targets = _neighbour_targets(data.valid.x * weights, train_x, y, trusted, s.k, None)
        null_model = model_valid
        calibration = f"{len(null_y)} validation rows"
    else:
        null_y, null_targets, null_model = y[trusted], train_targets[trusted], model_train[trusted]
        calibration = f"{len(trusted)} trusted training rows"
    n_scale = _scale(null_y - np.median(null_targets, axis=1), null_y)
    m_scale = _scale(null_y - null_model, null_y)
    rng = np.random.default_rng(s.seed)
    point, bounds, near = _residuals(y, train_targets, model_train, n_scale, m_scale, rng, s)
    _, _, null_near = _residuals(null_y, null_targets, null_model, n_scale, m_scale, rng, s)
    # Far from both witnesses (an intersection-union test): the larger of the two
    # tail probabilities.
    tail = np.maximum(
        tail_probability(near[0], null_near[0]), tail_probability(near[1], null_near[1])
    )
    return TargetAssessment(
        neighbours=scale.inverse(np.median(train_targets, axis=1)),
        neighbours_range=scale.inverse(
            np.stack([train_targets.min(axis=1), train_targets.max(axis=1)], 1)
        ),
        model=scale.inverse(model_train),
        neighbours_scale=n_scale,
        model_scale=m_scale,
        model_name=STORED_MODEL if stored else ROBUST_MODEL,
        residual=point,
        interval=bounds,
        tail=tail,
        doubt=1.0 - benjamini_hochberg(tail),
        calibration=calibration,
        reference=scale.reference,
        neighbour_space=space,
    )


def neighbour_space(
    data: TrainingArrays, trusted: NDArray[np.int64], validated: bool, s: TargetSettings
) -> tuple[str, NDArray[np.float64]]:
    """(name, per-feature weights) of the space the neighbours are searched in: the
    prepared features, or each scaled by the size of its coefficient in a robust
    linear fit of the target, whichever's neighbours predict (at most `CHOICE_ROWS`
    of) the calibration rows better, by their residual scale."""
    prepared = np.ones(data.train.x.shape[1])
    x = np.concatenate([data.train.x, data.valid.x])
    if len(x) < 2 or x.shape[1] == 0:
        return PREPARED_SPACE, prepared
    coefficients = np.abs(_robust_fit(x, np.concatenate([data.train.y, data.valid.y])).coef_)
    if not np.any(coefficients > 0):
        return PREPARED_SPACE, prepared
    y = np.asarray(data.train.y, dtype=np.float64)
    rng = np.random.default_rng(s.seed)
    if validated:
        rows = _at_most(np.arange(len(data.valid)), rng)
        queries, truth, query_rows = data.valid.x[rows], data.valid.y[rows], None
    else:
        rows = _at_most(trusted, rng)
        queries, truth, query_rows = data.train.x[rows], y[rows], rows

    def scale_in(weights: NDArray[np.float64]) -> float:
        points = data.train.x * weights
        targets = _neighbour_targets(queries * weights, points, y, trusted, s.k, query_rows)
        return _scale(truth - np.median(targets, axis=1), truth)

    if scale_in(coefficients) < scale_in(prepared):
        return WEIGHTED_SPACE, coefficients
    return PREPARED_SPACE, prepared


def _at_most(rows: NDArray[np.int64], rng: np.random.Generator) -> NDArray[np.int64]:
    if len(rows) <= CHOICE_ROWS:
        return rows
    return np.sort(rng.choice(rows, CHOICE_ROWS, replace=False))


def _robust_fit(x: NDArray[np.float64], y: NDArray[np.float64]) -> HuberRegressor:
    model = HuberRegressor(max_iter=500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, np.asarray(y, dtype=np.float64))
    return model


def out_of_fold_predictions(
    data: TrainingArrays, folds: int = 5, seed: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each training and validation row's prediction by a Huber regressor fitted on
    the other folds of both (`seed` draws the folds)."""
    x = np.concatenate([data.train.x, data.valid.x])
    y = np.concatenate([data.train.y, data.valid.y]).astype(np.float64)
    out = np.full(len(y), float(np.median(y)) if len(y) else 0.0)
    folds = min(folds, len(y))
    if folds >= 2:
        for fit_rows, held in KFold(folds, shuffle=True, random_state=seed).split(x):
            out[held] = _robust_fit(x[fit_rows], y[fit_rows]).predict(x[held])
    return out[: len(data.train)], out[len(data.train) :]


def tail_probability(
    statistic: NDArray[np.float64], null: NDArray[np.float64]
) -> NDArray[np.float64]:
    """P(null >= statistic): the empirical share (with one pseudo-count) up to the
    null's upper `TAIL_SHARE` quantile, a Pareto tail fitted there beyond it."""
    null = np.sort(null[np.isfinite(null)])
    if len(null) == 0:
        return np.ones(len(statistic))
    at_least = len(null) - np.searchsorted(null, statistic, side="left")
    p = (1.0 + at_least) / (len(null) + 1.0)
    top = max(MIN_TAIL, int(np.ceil(TAIL_SHARE * len(null))))
    if len(null) <= top:
        return p
    threshold, exceed = float(null[-top - 1]), null[-top:]
    if threshold <= 0 or not np.any(exceed > threshold):
        return p
    index = 1.0 / float(np.mean(np.log(exceed / threshold)))  # Hill's estimator
    beyond = statistic > threshold
    p[beyond] = top / len(null) * (statistic[beyond] / threshold) ** -index
    return np.clip(p, 0.0, 1.0)


def benjamini_hochberg(p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Benjamini-Hochberg q-values of p-values."""
    n = len(p)
    if n == 0:
        return np.zeros(0)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * n / np.arange(1, n + 1)
    q = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out


# Deliberately like valuation.methods.knn_regression:knn_shapley_regression, knn_shapley,
# proxy:_loss and ts_shapley:_fill_unsampled in shape only: numpy kernels whose typed
# array parameters come first; the computations differ.
def _neighbour_targets(
    queries: NDArray[np.float64],
    points: NDArray[np.float64],
    y: NDArray[np.float64],
    trusted: NDArray[np.int64],
    k: int,
    query_rows: NDArray[np.int64] | None,
) -> NDArray[np.float64]:
    """(len(queries), k) targets of each query's k nearest trusted rows; a query
    that is itself a training row (`query_rows`) is not its own neighbour."""
    k = max(1, min(k, len(trusted) - 1 if query_rows is not None else len(trusted)))
    width = k + 1 if query_rows is not None else k
    _, found = nearest(queries, points[trusted], width)
    found = trusted[found]
    if query_rows is not None:
        order = np.argsort(found == query_rows[:, None], axis=1, kind="stable")[:, :k]
        found = np.take_along_axis(found, order, 1)
    return y[found]


def _scale(residuals: NDArray[np.float64], targets: NDArray[np.float64]) -> float:
    """1.4826 times the median absolute residual; never zero (a tiny share of the
    targets' spread stands in where most residuals are exactly zero)."""
    scale = MAD_SCALE * float(np.median(np.abs(residuals))) if len(residuals) else 0.0
    floor = 1e-6 * (float(np.std(targets)) if len(targets) else 0.0) or 1e-12
    return max(scale, floor)


def _residuals(
    y: NDArray[np.float64],
    targets: NDArray[np.float64],
    model: NDArray[np.float64],
    n_scale: float,
    m_scale: float,
    rng: np.random.Generator,
    s: TargetSettings,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(the smaller scaled residual, (n, 2) its bootstrap interval, (2, n) the
    statistics tested: the neighbours' residual at the bootstrap's lower end, the
    model's residual). The bootstrap redraws the neighbours' targets."""
    from_model = np.abs(y - model) / m_scale
    from_neighbours = np.abs(y - np.median(targets, axis=1)) / n_scale
    point = np.minimum(from_neighbours, from_model)
    if len(y) == 0 or s.bootstrap < 1:
        return point, np.stack([point, point], 1), np.stack([from_neighbours, from_model])
    rows, k = targets.shape
    draws = np.empty((s.bootstrap, rows))
    for b in range(s.bootstrap):
        picks = rng.integers(0, k, size=(rows, k))
        draws[b] = np.abs(y - np.median(np.take_along_axis(targets, picks, 1), axis=1))
    draws /= n_scale
    low = np.quantile(draws, s.interval[0], axis=0)
    bounds = np.quantile(np.minimum(draws, from_model), s.interval, axis=0).T
    return point, bounds, np.stack([low, from_model])


def _round(value: float) -> float:
    # Twelve significant digits: what the audit table shows, without binary noise.
    return float(f"{float(value):.12g}")
