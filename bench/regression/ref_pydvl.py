"""pyDVL 0.10's regression valuations for `bench.child`, run in bench/.venv-pydvl.

- data_oob: `DataOOBValuation` over a fitted
  `BaggingRegressor(DecisionTreeRegressor(), n_estimators=B)`; pyDVL scores a
  regressor's out-of-bag predictions by the negative squared error (`neg_l2_distance`).
- tmc_shapley: `TMCShapleyValuation` (its default truncation) with u(S) = R² on the
  validation rows of scikit-learn's `LinearRegression()` fitted on S (0, the R² of
  predicting a constant, where a fit fails), stopped by `MaxTime(s)` or
  `MaxUpdates(u)`; utility evaluations counted as in `bench.ref_pydvl`.

pyDVL's values, like mendb's, are low for harmful rows: no sign change. Imports only
numpy at the top: this module is imported in pyDVL's environment.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.ref_pydvl import _counting_utility, values_by_position
from bench.ref_pydvl import prepare as prepare  # imports and joblib warm-up, untimed


def run(method: str, params: dict[str, Any], a: dict[str, NDArray[Any]]
        ) -> tuple[NDArray[np.float64], dict[str, Any]]:  # fmt: skip
    from joblib import parallel_config
    from pydvl.valuation import Dataset

    train = Dataset(a["x_train"], a["y_train"])
    valid = Dataset(a["x_valid"], a["y_valid"])
    n_jobs = int(params.get("n_jobs", 1))
    seed = int(params.get("seed", 0))
    extras: dict[str, Any] = {"n_jobs": n_jobs}
    if method == "data_oob":
        from pydvl.valuation import DataOOBValuation
        from sklearn.ensemble import BaggingRegressor
        from sklearn.tree import DecisionTreeRegressor

        model = BaggingRegressor(DecisionTreeRegressor(), n_estimators=params["n_estimators"],
                                 random_state=seed, n_jobs=n_jobs)  # fmt: skip
        model.fit(a["x_train"], a["y_train"])
        valuation = DataOOBValuation(model)
        valuation.fit(train)
    elif method == "tmc_shapley":
        valuation, counter = _tmc(params, valid, seed)
        with parallel_config(n_jobs=n_jobs):
            valuation.fit(train)
        extras["utility_evaluations"] = os.path.getsize(counter)
        os.unlink(counter)
    else:
        raise ValueError(f"unknown pyDVL regression method {method!r}")
    return values_by_position(valuation.result, len(a["y_train"]), extras), extras


def _tmc(params: dict[str, Any], valid: Any, seed: int) -> tuple[Any, str]:
    from pydvl.valuation import TMCShapleyValuation
    from pydvl.valuation.scorers import SupervisedScorer
    from pydvl.valuation.stopping import MaxTime, MaxUpdates
    from sklearn.linear_model import LinearRegression

    counting = _counting_utility()
    fd, counter = tempfile.mkstemp(prefix="pydvl-evals-")
    os.close(fd)
    counting.counter_path = counter
    scorer = SupervisedScorer("r2", valid, default=0.0, range=(-np.inf, 1.0))
    utility = counting(LinearRegression(), scorer)
    if params.get("max_time"):
        stop = MaxTime(params["max_time"])
    else:
        stop = MaxUpdates(params["max_updates"])
    return TMCShapleyValuation(utility, is_done=stop, seed=seed, progress=False,
                               show_warnings=False), counter  # fmt: skip
