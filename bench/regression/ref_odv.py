"""OpenDataVal 1.3's Data-OOB for regression, for `bench.child`, run in
bench/.venv-odv (stubs for its image and NLP imports as in `bench.ref_odv`).

- data_oob: `DataOob(num_models=B)` over
  `RegressionSkLearnWrapper(DecisionTreeRegressor)`, each row scored by
  `metrics.neg_mse` of its out-of-bag predictions against its recorded value; the
  target as an (n, 1) tensor, OpenDataVal's layout for one regression output.

OpenDataVal's data values are high for helpful rows, like mendb's: no sign change.
Imports only numpy at the top: this module is imported in OpenDataVal's environment.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.ref_odv import import_odv
from bench.ref_odv import prepare as prepare  # imports outside the timed call


def run(method: str, params: dict[str, Any], a: dict[str, NDArray[Any]]
        ) -> tuple[NDArray[np.float64], dict[str, Any]]:  # fmt: skip
    import torch

    dataval = import_odv()
    if method != "data_oob":
        raise ValueError(f"unknown OpenDataVal regression method {method!r}")
    from opendataval.metrics import neg_mse
    from opendataval.model import RegressionSkLearnWrapper
    from sklearn.tree import DecisionTreeRegressor

    seed = int(params.get("seed", 0))
    torch.manual_seed(seed)

    def column(y: NDArray[Any]) -> Any:
        return torch.tensor(np.asarray(y, np.float32)).reshape(-1, 1)

    xt = torch.tensor(a["x_train"], dtype=torch.float32)
    xv = torch.tensor(a["x_valid"], dtype=torch.float32)
    evaluator = dataval.DataOob(num_models=params["n_estimators"], random_state=seed)
    evaluator.input_model(RegressionSkLearnWrapper(DecisionTreeRegressor))
    evaluator.input_metric(neg_mse)
    evaluator.input_data(xt, column(a["y_train"]), xv, column(a["y_valid"]))
    evaluator.train_data_values()
    values = np.asarray(evaluator.evaluate_data_values(), dtype=np.float64)
    return values, {"n_estimators": params["n_estimators"]}
