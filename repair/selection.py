"""Which rows to look at: rows with hard evidence of a broken cell, then the
rows valued below the method's harm threshold; never a row that helps unless the
evidence names it."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from valuation.result import ValuationResult


def select_suspects(
    values: ValuationResult,
    max_rows: int,
    evidence: NDArray[np.int64] | None = None,
) -> NDArray[np.int64]:
    """Indices of at most `max_rows` rows: first the `evidence` rows (hard evidence
    of a broken cell, strongest first), then the rows `values` counts as harmful
    (below its `harmful_below`), lowest first."""
    below = np.flatnonzero(values.harmful())
    order = below[np.argsort(values.values[below], kind="stable")]
    first = np.asarray(evidence if evidence is not None else [], dtype=np.int64)
    rest = order[~np.isin(order, first)]
    return np.concatenate([first, rest])[:max_rows].astype(np.int64)
