"""Can the values be trusted for this utility? The MTM fit (Rethinking Data
Shapley for Data Selection Tasks, Wang et al., ICML 2024).

Ranking rows by a semivalue selects well when the utility is close to a
monotonically transformed modular function

    u(S) ~ f(w0 + sum_{i in S} w_i),   f non-decreasing.

From the (subset, utility) pairs a run sampled anyway we fit it by alternating:
a ridge fit of w on targets t (first t = u), an isotonic fit f of u against
z = w0 + X w, then t = f^-1(u) (the isotonic curve inverted by interpolation) for
the next ridge fit. The fit is scored on held-out samples: R^2 of f(z) against u
and the root-mean-square residual. A low R^2 earns a plain-words warning.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import Ridge

from mendb.valuation.samplers import Record

POOR_FIT_R2 = 0.5
WARNING = (
    "the sampled utilities are poorly explained by a monotone function of a sum of "
    "per-row weights (held-out R^2 {r2:.2f}): for this utility, ranking rows by value "
    "may be no better than random"
)
_MIN_RECORDS = 20
_MAX_CELLS = 20_000_000


def _design(records: list[Record], n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.zeros((len(records), n))
    for row, (subset, _) in enumerate(records):
        x[row, subset] = 1.0
    return x, np.array([score for _, score in records])


def _inverse(
    f_of_z: NDArray[np.float64], z: NDArray[np.float64], u: NDArray[np.float64]
) -> NDArray[np.float64]:
    """t with f(t) ~ u: interpolate u on the fitted curve, plateaus at their mid z."""
    levels, inverse = np.unique(f_of_z, return_inverse=True)
    mid = np.bincount(inverse, weights=z) / np.bincount(inverse)
    return np.interp(u, levels, mid) if len(levels) > 1 else z


def _r2(u: NDArray[np.float64], pred: NDArray[np.float64]) -> float:
    sst = float(((u - u.mean()) ** 2).sum())
    return 1.0 - float(((u - pred) ** 2).sum()) / sst if sst > 0 else float("nan")


def mtm_fit(
    records: list[Record], n: int, seed: int, n_iter: int = 8, alpha: float = 1.0
) -> dict[str, Any]:
    """Fit u(S) ~ f(w0 + sum w_i) on 80% of the records, score it on the rest."""
    if len(records) < _MIN_RECORDS:
        return {"status": "skipped", "reason": f"only {len(records)} sampled utilities"}
    if len(records) * n > _MAX_CELLS:
        return {"status": "skipped", "reason": f"too many rows ({n}) for the MTM fit"}
    x, u = _design(records, n)
    order = np.random.default_rng(seed).permutation(len(u))
    cut = int(0.8 * len(u))
    train, test = order[:cut], order[cut:]
    ridge, iso = Ridge(alpha=alpha), IsotonicRegression(out_of_bounds="clip")
    targets = u[train]
    modular_r2 = _r2(u[test], ridge.fit(x[train], targets).predict(x[test]))
    best: tuple[float, float] = (-np.inf, np.nan)
    for _ in range(n_iter):
        z = ridge.fit(x[train], targets).predict(x[train])
        f_of_z = iso.fit(z, u[train]).predict(z)
        pred = iso.predict(ridge.predict(x[test]))
        r2 = _r2(u[test], pred)
        if not r2 > best[0]:
            break
        best = (r2, float(np.sqrt(np.mean((u[test] - pred) ** 2))))
        targets = _inverse(f_of_z, z, u[train])
    r2, rmse = best
    return {
        "status": "ok",
        "r2": float(r2) if np.isfinite(r2) else None,
        "residual_rmse": rmse,
        "modular_r2": float(modular_r2) if np.isfinite(modular_r2) else None,
        "samples_train": len(train),
        "samples_test": len(test),
        "warning": _warning(r2),
    }


def _warning(r2: float) -> str | None:
    if not np.isfinite(r2):
        return "the sampled utilities are constant: values carry no ranking information"
    return WARNING.format(r2=r2) if r2 < POOR_FIT_R2 else None
