"""Which rows to look at: rows with hard evidence of a broken cell, then the
rows valued below the method's harm threshold, then rows whose label the data
contradicts; never a row that helps unless the evidence names it."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mendb.valuation.result import ValuationResult


def select_suspects(
    values: ValuationResult,
    max_rows: int,
    evidence: NDArray[np.int64] | None = None,
    doubted: NDArray[np.int64] | None = None,
) -> NDArray[np.int64]:
    """Indices of at most `max_rows` rows: first the `evidence` rows (hard evidence
    of a broken cell, strongest first), then the rows `values` counts as harmful
    (below its `harmful_below`), lowest first, then the `doubted` rows (a label
    its neighbours and a classifier contradict, most doubted first)."""
    below = np.flatnonzero(values.harmful())
    order = below[np.argsort(values.values[below], kind="stable")]
    groups = (evidence, order, doubted)
    rows = np.concatenate([np.asarray(g if g is not None else [], np.int64) for g in groups])
    _, first = np.unique(rows, return_index=True)  # a row counts where it comes first
    return rows[np.sort(first)][:max_rows].astype(np.int64)


def doubt_pool(values: ValuationResult, max_rows: int) -> NDArray[np.int64]:
    """The rows worth asking whether their label is contradicted: the lowest-valued
    rows that are not harmful, four times the budget at most (a flip valuation
    missed sits just above zero; asking every row of a large table costs a
    neighbour search per row)."""
    above = np.flatnonzero(~values.harmful())
    order = above[np.argsort(values.values[above], kind="stable")]
    return order[: 4 * max_rows].astype(np.int64)
