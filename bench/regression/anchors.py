"""Who else finds wrong numeric targets, on the same prepared rows in the same run.

- cleanlab: `cleanlab.regression.learn.CleanLearning(model).find_label_issues`
  (5 folds, 5 bootstrap refits for the epistemic uncertainty, aleatoric uncertainty
  included), its `label_quality` as the value (lower = more likely an issue); with
  its default `LinearRegression` ("cleanlab") and with a
  `HistGradientBoostingRegressor` ("cleanlab_hgb"). In mendb's environment, in
  this process.
- pyDVL TMC-Shapley (R² of linear regression) and Data-OOB (bagged regression
  trees), and OpenDataVal's Data-OOB for regression: in the reference
  virtualenvs (`bench.envs`), one fresh process per job through `bench.runner`
  on the cell's .npz, runners `bench.regression.ref_pydvl` and `ref_odv`. A
  reference environment that cannot be built is reported as not run.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench import runner
from bench.envs import ENVS, ensure

# (name shown, library, runner module, method, parameters)
REFERENCE = (
    ("pydvl_tmc", "pydvl", "bench.regression.ref_pydvl", "tmc_shapley", {"n_jobs": 1}),
    ("pydvl_data_oob", "pydvl", "bench.regression.ref_pydvl", "data_oob",
     {"n_estimators": 100, "n_jobs": 1}),
    ("odv_data_oob", "odv", "bench.regression.ref_odv", "data_oob", {"n_estimators": 100}),
)  # fmt: skip
IN_PROCESS = ("cleanlab", "cleanlab_hgb")
ANCHORS = (*IN_PROCESS, *(r[0] for r in REFERENCE))


def _hgb(seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=100, random_state=seed)


def cleanlab_issues(
    x: NDArray[np.float64], y: NDArray[np.float64], seed: int, model: Any = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """cleanlab's label quality per row (lower = more likely wrong) and its
    out-of-fold predicted value per row."""
    from cleanlab.regression.learn import CleanLearning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        issues = CleanLearning(model, seed=seed).find_label_issues(x, y)
    quality = issues["label_quality"].to_numpy(np.float64)
    predicted = issues["predicted_label"].to_numpy(np.float64)
    return quality, predicted


def run_in_process(name: str, x: NDArray[np.float64], y: NDArray[np.float64], seed: int
                   ) -> tuple[NDArray[np.float64], float]:  # fmt: skip
    started = time.perf_counter()
    model = _hgb(seed) if name == "cleanlab_hgb" else None
    quality, _ = cleanlab_issues(x, y, seed, model)
    return quality, time.perf_counter() - started


def save_cell(path: Path, train: tuple[Any, Any], valid: tuple[Any, Any]) -> None:
    """The prepared rows every reference library reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=train[0], y_train=np.asarray(train[1], np.float64),
             x_valid=valid[0], y_valid=np.asarray(valid[1], np.float64))  # fmt: skip


def environments(names: tuple[str, ...]) -> dict[str, tuple[bool, str]]:
    """Build (once) the reference environments the named anchors need; each
    library's (usable, versions or why not)."""
    libs = sorted({lib for name, lib, *_ in REFERENCE if name in names})
    return {lib: ensure(ENVS[lib]) for lib in libs}


def run_reference(
    name: str, cell: Path, tag: str, seed: int, extra: dict[str, Any], timeout: float
) -> runner.Outcome:
    """One reference anchor on the cell's .npz, in its own environment."""
    _, lib, module, method, params = next(r for r in REFERENCE if r[0] == name)
    return runner.run_job(lib, method, {**params, **extra, "seed": seed}, cell,
                          f"regression/{tag}_{name}", timeout, runner=module)  # fmt: skip
