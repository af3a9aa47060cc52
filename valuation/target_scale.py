"""The scale a regression target is valued and its errors are measured on.

A target that spans decades (prices, wages, durations: its 95th percentile ten
times its 5th or more) has errors that grow with it: a linear model's squared error
is ruled by the dear rows, one robust residual scale is too tight for them and too
loose for the cheap ones, and a slip on a cheap row hides in the spread. Such a
target is measured on asinh(y / m), m its 5th percentile: the log scale from there
up (asinh(y / m) is close to log(2 y / m) once y is a few times m), linear near
zero, so a value that slipped below zero still has a place. Any other target is
measured as it is.

Valuation (`server.operations`), the target evidence (`repair.target`) and the
ridge the loop judges with (`valuation.judge_regression`) read it from here; the
judges' errors and every value written back stay on y.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from mendb.valuation.data import Task, TrainingArrays

DECADE = 10.0  # the 95th / 5th percentile ratio from which a target is measured on asinh
MIN_ROWS = 20  # reference rows needed to say


@dataclass(frozen=True)
class TargetScale:
    """asinh(y / reference), or y itself where `reference` is None."""

    reference: float | None = None

    def forward(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        values = np.asarray(values, dtype=np.float64)
        return values if self.reference is None else np.arcsinh(values / self.reference)

    def inverse(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        values = np.asarray(values, dtype=np.float64)
        return values if self.reference is None else np.sinh(values) * self.reference

    def describe(self) -> str:
        return "y" if self.reference is None else f"asinh(y / {self.reference:.6g})"

    def applied(self, data: TrainingArrays) -> TrainingArrays:
        """The rows with their targets (and stored predictions) on this scale."""
        if self.reference is None:
            return data
        predictions = data.predictions
        if predictions is not None and np.ndim(predictions) == 1:
            predictions = self.forward(predictions)
        return replace(
            data,
            train=replace(data.train, y=self.forward(data.train.y)),
            valid=replace(data.valid, y=self.forward(data.valid.y)),
            test=replace(data.test, y=self.forward(data.test.y)),
            predictions=predictions,
        )


def decades_scale(targets: NDArray[np.float64]) -> TargetScale:
    """asinh over the 5th percentile of positive `targets` that span decades; y
    itself for any others, or for fewer than `MIN_ROWS`."""
    finite = np.asarray(targets, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if len(finite) < MIN_ROWS:
        return TargetScale()
    low, high = np.percentile(finite, [5, 95])
    if low <= 0 or high < DECADE * low:
        return TargetScale()
    return TargetScale(float(low))


def value_scale(data: TrainingArrays) -> TargetScale:
    """The scale a dataset's rows are valued on: told by the validation targets
    (the rows valuation trusts) when there are enough, else the training ones; a
    class label keeps its own."""
    if data.task is not Task.REGRESSION:
        return TargetScale()
    reference = data.valid.y if len(data.valid) >= MIN_ROWS else data.train.y
    return decades_scale(reference)
