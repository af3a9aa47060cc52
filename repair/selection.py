"""Which rows to look at: the lowest-valued ones, and never a row that helps."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from valuation.result import ValuationResult


def select_suspects(
    values: ValuationResult, max_rows: int, threshold: float = 0.0
) -> NDArray[np.int64]:
    """Indices of rows with value below `threshold` (never above 0), lowest first."""
    threshold = min(threshold, 0.0)
    below = np.flatnonzero(values.values < threshold)
    order = below[np.argsort(values.values[below], kind="stable")]
    return order[:max_rows].astype(np.int64)
