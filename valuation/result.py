"""The value object every valuation method returns; it mirrors `mendb.scores`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class ValuationResult:
    """Per-row values of one method on one dataset.

    `stderr` is the standard error of a Monte Carlo estimate (0 for exact methods);
    `counts` is the number of samples each value averages (1 for exact methods).
    `diagnostics` carries method-level figures such as convergence or fit quality;
    a Monte Carlo method's `diagnostics["convergence"]` says whether its estimate
    converged (`valuation.stopping.Convergence`), read through `converged`.
    `harmful_below` is the value below which a row hurts the model: 0 for values
    that are marginal contributions (Shapley, Banzhaf, influence), 0.5 for Data-OOB
    (most learners that did not see the row predict another label); None where the
    values only rank rows (LAVA's transport gradient).
    """

    row_keys: NDArray[np.object_]
    values: NDArray[np.float64]
    stderr: NDArray[np.float64]
    counts: NDArray[np.int64]
    method: str
    params: dict[str, Any]
    seed: int | None
    diagnostics: dict[str, Any] = field(default_factory=dict)
    harmful_below: float | None = 0.0

    def __post_init__(self) -> None:
        n = len(self.row_keys)
        for name in ("values", "stderr", "counts"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries, expected {n}")

    def __len__(self) -> int:
        return len(self.row_keys)

    @property
    def converged(self) -> bool | None:
        """False when the method's own convergence checks failed; None when it has
        none (exact methods) or nothing could check it."""
        convergence = self.diagnostics.get("convergence") or {}
        return convergence.get("converged")

    def harmful(self) -> NDArray[np.bool_]:
        """Rows valued below `harmful_below` (none where there is no such point)."""
        if self.harmful_below is None:
            return np.zeros(len(self), dtype=bool)
        return self.values < self.harmful_below

    def ranks(self) -> NDArray[np.int64]:
        """Rank 1 is the lowest value, the row most likely to hurt the model."""
        order = np.argsort(self.values, kind="stable")
        ranks = np.empty(len(order), dtype=np.int64)
        ranks[order] = np.arange(1, len(order) + 1)
        return ranks

    @classmethod
    def exact(
        cls,
        row_keys: NDArray[np.object_],
        values: NDArray[np.float64],
        method: str,
        params: dict[str, Any],
        seed: int | None = None,
        diagnostics: dict[str, Any] | None = None,
        harmful_below: float | None = 0.0,
    ) -> ValuationResult:
        """A result with no sampling error."""
        n = len(values)
        return cls(
            row_keys=row_keys,
            values=np.asarray(values, dtype=np.float64),
            stderr=np.zeros(n),
            counts=np.ones(n, dtype=np.int64),
            method=method,
            params=params,
            seed=seed,
            diagnostics=diagnostics or {},
            harmful_below=harmful_below,
        )
