"""Per-row errors of a downstream regressor: what a regression round is judged on.

A numeric target is judged by its squared error (whose mean is the MSE, and whose
root the RMSE the user reads) and its absolute error (the MAE). The MSE is the
proper score for the mean the model predicts; the MAE is far less swayed by a few
rows and guards what the MSE alone would trade away: a round that wins the MSE on a
handful of extreme rows while most rows get worse. Both are means of per-row
losses, so two models measured on the same rows compare by paired differences
(`valuation.judge.paired_change`), as classification's log-loss and balanced error
do.

The model fitted for judging is a ridge regression on the prepared (standardised)
features by default, or the user's own regressor (`ModelSpec`) when the loop has
one. The ridge learns the target on the scale it is valued on
(`valuation.target_scale`): a price that spans decades is multiplicative, and a
linear fit of the price itself is ruled by the dear rows. Its squared errors on that
scale (`row_learned_squared_error`) are what the MSE judge pairs: on y the dear rows'
errors are so spread that the paired margin swallows a right round's gain. The RMSE
and MAE a user reads stay on y. The user's model learns y, as they train it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import Ridge

from mendb.valuation.data import Split
from mendb.valuation.models import ModelSpec
from mendb.valuation.target_scale import TargetScale

# The ridge's penalty on standardised features: small enough to leave a
# well-determined fit as least squares would, large enough that collinear one-hot
# columns and few rows still give a unique fit.
RIDGE_ALPHA = 1.0


@dataclass(frozen=True, eq=False)
class Regressor:
    """The fitted downstream regressor, predicting y; with no model (no training
    rows' spread to learn), it predicts the training mean. `scale`: the scale the
    model learned the target on."""

    model: Any
    mean: float
    scale: TargetScale = field(default_factory=TargetScale)

    def predict(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.model is None or len(x) == 0:
            return np.full(len(x), self.mean)
        predicted = np.asarray(self.model.predict(x), dtype=np.float64).reshape(len(x))
        return self.scale.inverse(predicted)


def fit_regressor(
    train: Split, seed: int = 0, model: ModelSpec | None = None, scale: TargetScale | None = None
) -> Regressor:
    """Ridge regression on the training split, learning the target on `scale` (y
    where None), or the user's regressor, learning y."""
    if len(train) == 0:
        raise ValueError("cannot fit the downstream model on an empty training split")
    y = np.asarray(train.y, dtype=np.float64)
    if not np.all(np.isfinite(y)):
        raise ValueError("regression targets must be finite numbers")
    if len(train) < 2:
        return Regressor(None, float(y.mean()))
    if model is not None:
        own = model.build()
        own.fit(train.x, y)
        return Regressor(own, float(y.mean()))
    learned = scale or TargetScale()
    ridge = Ridge(alpha=RIDGE_ALPHA, random_state=seed)
    ridge.fit(train.x, learned.forward(y))
    return Regressor(ridge, float(y.mean()), learned)


@dataclass(frozen=True)
class ErrorScores:
    """A split's error figures, in the target's units (RMSE, MAE) and squared (MSE)."""

    rmse: float
    mae: float
    mse: float
    rows: int


@dataclass(frozen=True, eq=False)
class ErrorMeasurement:
    """The downstream regressor's predictions on a split's rows, with the rows'
    recorded targets; `scale`, the scale the regressor learned the target on."""

    predictions: NDArray[np.float64]
    targets: NDArray[np.float64]
    scale: TargetScale = field(default_factory=TargetScale)

    def __post_init__(self) -> None:
        if self.predictions.shape != self.targets.shape or self.targets.ndim != 1:
            raise ValueError(
                f"predictions {self.predictions.shape} and targets {self.targets.shape}"
                " must be the same single column"
            )

    @classmethod
    def of(cls, model: Regressor, split: Split) -> ErrorMeasurement:
        return cls(model.predict(split.x), np.asarray(split.y, dtype=np.float64), model.scale)

    def __len__(self) -> int:
        return len(self.targets)

    def row_squared_error(self) -> NDArray[np.float64]:
        errors: NDArray[np.float64] = (self.predictions - self.targets) ** 2
        return errors

    def row_learned_squared_error(self) -> NDArray[np.float64]:
        """Each row's squared error on the scale the regressor learned: the loss it
        minimised, whose rows are alike in spread where those on y are not."""
        forward = self.scale.forward
        errors: NDArray[np.float64] = (forward(self.predictions) - forward(self.targets)) ** 2
        return errors

    def row_absolute_error(self) -> NDArray[np.float64]:
        errors: NDArray[np.float64] = np.abs(self.predictions - self.targets)
        return errors

    def scores(self) -> ErrorScores:
        if len(self) == 0:
            nan = float("nan")
            return ErrorScores(nan, nan, nan, 0)
        mse = float(self.row_squared_error().mean())
        return ErrorScores(math.sqrt(mse), float(self.row_absolute_error().mean()), mse, len(self))


def measure_errors(
    train: Split,
    split: Split,
    seed: int = 0,
    model: ModelSpec | None = None,
    scale: TargetScale | None = None,
) -> ErrorMeasurement:
    return ErrorMeasurement.of(fit_regressor(train, seed, model, scale), split)
