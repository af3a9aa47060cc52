"""The arrays a valuation method works on.

`db/` builds these from a registered table; tests build them from numpy. For a
classification task the labels are integer class indices into `classes`; for a
regression task they are the target's values as float64 and `classes` is empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mendb.valuation.task import Task

__all__ = ["Split", "Task", "TrainingArrays"]




@dataclass(frozen=True)
class Split:
    """One part of a dataset: features, labels (class codes, or a regression target's
    float values) and the rows' keys."""

    x: NDArray[np.float64]
    y: NDArray[Any]
    keys: NDArray[np.object_]

    def __post_init__(self) -> None:
        if self.x.ndim != 2:
            raise ValueError(f"x must be 2-dimensional, got shape {self.x.shape}")
        if not (len(self.x) == len(self.y) == len(self.keys)):
            raise ValueError(
                f"x, y and keys differ in length: {len(self.x)}, {len(self.y)}, {len(self.keys)}"
            )

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class TrainingArrays:
    """Training, validation and test splits of one dataset, with the column layout.

    `missing` flags the training cells that were null in the table (NaN in `x`
    until `valuation.preprocess.prepare` imputes them). `feature_kinds` says, per
    column of `x`, "numeric", "categorical" (a 1-based code into `categories`) or
    "vector" (one component of a vector column); empty means all numeric.
    """

    train: Split
    valid: Split
    test: Split
    classes: tuple[str, ...]
    feature_names: tuple[str, ...]
    missing: NDArray[np.bool_] | None = field(default=None)
    feature_kinds: tuple[str, ...] = ()
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    task: Task = Task.CLASSIFICATION
    # Out-of-fold predictions the user stored in the table for the training rows
    # (`--predictions COLUMN`): a regression target's predicted values, shape (n,), or
    # class probabilities, shape (n, n_classes); None when not given.
    predictions: NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        if self.task is Task.REGRESSION and self.classes:
            raise ValueError("a regression task has no classes")
        if self.predictions is not None and len(self.predictions) != len(self.train):
            raise ValueError(
                f"{len(self.predictions)} stored predictions for {len(self.train)} training rows"
            )

    @property
    def n_classes(self) -> int:
        return len(self.classes)
