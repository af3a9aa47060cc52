"""The arrays a valuation method works on.

`db/` builds these from a registered table; tests build them from numpy. Labels are
encoded as integer class indices into `classes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Split:
    """One part of a dataset: features, encoded labels and the rows' keys."""

    x: NDArray[np.float64]
    y: NDArray[np.int64]
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

    @property
    def n_classes(self) -> int:
        return len(self.classes)
