"""pyDVL 0.10 methods for `bench.child`, run in bench/.venv-pydvl (numpy 1.26).

- knn_shapley: `KNNShapleyValuation(KNeighborsClassifier(k))`, inside
  `joblib.parallel_config(n_jobs)`.
- tmc_shapley: `TMCShapleyValuation` (its default truncation, RelativeTruncation
  rtol 0.01) and msr_banzhaf: `MSRBanzhafValuation`; both stop at `MaxTime(s)` or
  `MaxUpdates(u)`, with u(S) = accuracy on the validation rows of scikit-learn's
  `LogisticRegression()` fitted on S (`default=0` when a fit fails), run with
  `joblib.parallel_config(n_jobs)`. Utility evaluations are counted by a
  subclass of `ModelUtility` that appends one byte to a file per call, so calls
  in joblib's worker processes are counted too.
- data_oob: `DataOOBValuation` over a fitted
  `BaggingClassifier(DecisionTreeClassifier(), n_estimators=B)`; the fit is timed.

pyDVL's values, like mendb's, are low for harmful rows: no sign change.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np
from numpy.typing import NDArray


def prepare(job: dict[str, Any]) -> None:
    """Imports, and joblib's worker processes started and warmed up, outside the
    timed call (generous to pyDVL: mendb's own pool start-up is timed)."""
    import pydvl.valuation  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    from joblib import Parallel, delayed, parallel_config

    n_jobs = int(job.get("params", {}).get("n_jobs", 2))
    if n_jobs > 1:
        with parallel_config(n_jobs=n_jobs):
            Parallel()(delayed(_warm)() for _ in range(2 * n_jobs))


def _warm() -> int:
    import pydvl.valuation  # noqa: F401
    import sklearn.linear_model
    import sklearn.neighbors  # noqa: F401

    return 0


def _counting_utility() -> Any:
    from pydvl.valuation.utility import ModelUtility

    class CountingUtility(ModelUtility):  # type: ignore[misc]
        counter_path = ""

        def __call__(self, sample: Any) -> float:
            fd = os.open(self.counter_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                os.write(fd, b".")
            finally:
                os.close(fd)
            return float(super().__call__(sample))

    return CountingUtility




def run(method: str, params: dict[str, Any], a: dict[str, NDArray[Any]]
        ) -> tuple[NDArray[np.float64], dict[str, Any]]:
    from joblib import parallel_config
    from pydvl.valuation import Dataset

    train = Dataset(a["x_train"], a["y_train"])
    valid = Dataset(a["x_valid"], a["y_valid"])
    n_jobs = int(params.get("n_jobs", 2))
    extras: dict[str, Any] = {"n_jobs": n_jobs}
    if method == "knn_shapley":
        from pydvl.valuation import KNNShapleyValuation
        from sklearn.neighbors import KNeighborsClassifier

        valuation = KNNShapleyValuation(KNeighborsClassifier(n_neighbors=params["k"]), valid,
                                        progress=False)
        with parallel_config(n_jobs=n_jobs):
            valuation.fit(train)
    elif method == "data_oob":
        from pydvl.valuation import DataOOBValuation
        from sklearn.ensemble import BaggingClassifier
        from sklearn.tree import DecisionTreeClassifier

        model = BaggingClassifier(DecisionTreeClassifier(), n_estimators=params["n_estimators"],
                                  random_state=params.get("seed", 0), n_jobs=n_jobs)
        model.fit(a["x_train"], a["y_train"])
        valuation = DataOOBValuation(model)
        valuation.fit(train)
    # Deliberately like bench/regression/ref_pydvl.py:run in shape: each runner fits its
    # own pyDVL methods the same way (the Monte Carlo ones under one parallel_config).
    elif method in ("tmc_shapley", "msr_banzhaf"):
        valuation, counter = _semivalue(method, params, valid)
        with parallel_config(n_jobs=n_jobs):
            valuation.fit(train)
        extras["utility_evaluations"] = os.path.getsize(counter)
        os.unlink(counter)
    else:
        raise ValueError(f"unknown pyDVL method {method!r}")
    return values_by_position(valuation.result, len(a["y_train"]), extras), extras


def values_by_position(result: Any, rows: int, extras: dict[str, Any]) -> NDArray[np.float64]:
    """pyDVL's result as values by row position; a row pyDVL left out (Data-OOB: never
    out of bag) is NaN. Its status and the rows left out go into `extras`."""
    values = np.full(rows, np.nan)
    values[np.asarray(result.indices, dtype=np.int64)] = np.asarray(result.values, np.float64)
    extras["status"] = str(getattr(result, "status", ""))
    extras["missing_rows"] = int(np.isnan(values).sum())
    return values


def _semivalue(method: str, params: dict[str, Any], valid: Any) -> tuple[Any, str]:
    from pydvl.valuation import MSRBanzhafValuation, TMCShapleyValuation
    from pydvl.valuation.scorers import SupervisedScorer
    from pydvl.valuation.stopping import MaxTime, MaxUpdates
    from sklearn.linear_model import LogisticRegression

    counting = _counting_utility()
    fd, counter = tempfile.mkstemp(prefix="pydvl-evals-")
    os.close(fd)
    counting.counter_path = counter
    scorer = SupervisedScorer("accuracy", valid, default=0.0, range=(0.0, 1.0))
    utility = counting(LogisticRegression(), scorer)
    stop = MaxTime(params["max_time"]) if params.get("max_time") else MaxUpdates(
        params["max_updates"])
    seed = params.get("seed", 0)
    if method == "tmc_shapley":
        return TMCShapleyValuation(utility, is_done=stop, seed=seed, progress=False,
                                   show_warnings=False), counter
    return MSRBanzhafValuation(utility, is_done=stop, batch_size=params.get("batch_size", 16),
                               seed=seed, progress=False, show_warnings=False), counter
