"""mendb's methods (and cleanlab, which installs beside it), for `bench.child`.

mendb methods run through the registry exactly as the service runs them:
`make_valuation(name, **params).fit(TrainingArrays).result` on the prepared arrays.
Values: lower = more suspicious, as mendb stores them.

cleanlab: out-of-fold predicted probabilities of a logistic regression (5 folds,
scikit-learn `LogisticRegression(max_iter=2000)`), then
`cleanlab.rank.get_label_quality_scores` (self-confidence); lower = more likely a
label issue, so no sign change.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.data import arrays_from_saved


def prepare(job: dict[str, Any]) -> None:
    if job["lib"] == "cleanlab":
        import cleanlab.rank  # noqa: F401
        import sklearn.linear_model  # noqa: F401
    else:
        import mendb.valuation.methods  # noqa: F401


def run(method: str, params: dict[str, Any], a: dict[str, NDArray[Any]]
        ) -> tuple[NDArray[np.float64], dict[str, Any]]:
    if method == "cleanlab":
        return _cleanlab(a, params)
    from mendb.valuation.methods import make_valuation

    result = make_valuation(method, **params).fit(arrays_from_saved(a)).result
    keep = ("samples", "utility_evaluations", "gelman_rubin_max", "elapsed_s")
    extras = {k: result.diagnostics.get(k) for k in keep if k in result.diagnostics}
    return result.values, extras


def _cleanlab(a: dict[str, NDArray[Any]], params: dict[str, Any]
              ) -> tuple[NDArray[np.float64], dict[str, Any]]:
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x, y = a["x_train"], a["y_train"]
    folds = min(params.get("folds", 5), int(np.bincount(y).min()))
    cv = StratifiedKFold(max(folds, 2), shuffle=True, random_state=0)
    probs = cross_val_predict(LogisticRegression(max_iter=2000), x, y, cv=cv,
                              method="predict_proba", n_jobs=params.get("n_jobs", 1))
    return get_label_quality_scores(y, probs), {"folds": max(folds, 2)}
