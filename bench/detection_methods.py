"""The detectors the detection benchmark compares, each a function of one cell.

mendb's methods run through the registry as the service runs them
(`make_valuation(name, **params).fit(arrays)`), with the utility named explicitly
so a run does not depend on the "auto" rule it is meant to inform. The reference
is cleanlab's self-confidence label quality on out-of-fold logistic probabilities
(`bench.ref_mendb`). Consensus rows are the mean normalised rank of the named runs
of the same cell (`valuation.consensus`), timed as the sum of their parts.
Every detector returns values where lower means more suspicious.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mendb.valuation.data import TrainingArrays

BAGS = 50  # logistic bags graded by probability rank rows finely with few bags


@dataclass(frozen=True)
class Detector:
    """A method of the benchmark: its name in the report and its parameters."""

    name: str
    method: str
    params: dict[str, Any]
    reference: bool = False


def detectors(seed: int) -> list[Detector]:
    oob = {
        "model": "logistic",
        "score": "probability",
        "n_estimators": BAGS,
        "seed": seed,
        "n_jobs": 1,
    }
    return [
        Detector("knn_shapley", "knn_shapley", {"k": 10, "utility": "accuracy"}),
        Detector("knn_shapley balanced", "knn_shapley", {"k": 10, "utility": "balanced_accuracy"}),
        Detector("data_oob", "data_oob", {**oob, "utility": "accuracy"}),
        Detector("data_oob balanced", "data_oob", {**oob, "utility": "balanced_accuracy"}),
        Detector("influence_sgd", "influence_sgd", {"seed": seed}),
        Detector("influence_adam", "influence_adam", {"seed": seed}),
        Detector(
            "influence_sgd standardised",
            "influence_sgd",
            {"seed": seed, "unit_indicators": False},
        ),
        Detector(
            "influence_adam standardised",
            "influence_adam",
            {"seed": seed, "unit_indicators": False},
        ),
        Detector("cleanlab", "cleanlab", {}, reference=True),
    ]


CONSENSUS: dict[str, tuple[str, ...]] = {
    "consensus knn+oob": ("knn_shapley", "data_oob"),
    "consensus oob+adam": ("data_oob", "influence_adam"),
}


def run_detector(detector: Detector, data: TrainingArrays) -> tuple[NDArray[np.float64], float]:
    """The detector's values on the cell and its wall time in seconds."""
    started = time.perf_counter()
    if detector.method == "cleanlab":
        from bench.ref_mendb import _cleanlab

        values, _ = _cleanlab({"x_train": data.train.x, "y_train": data.train.y}, {})
    else:
        from mendb.valuation.methods import make_valuation

        values = make_valuation(detector.method, **detector.params).fit(data).result.values
    return np.asarray(values, dtype=np.float64), time.perf_counter() - started


def consensus_values(parts: list[NDArray[np.float64]]) -> NDArray[np.float64]:
    """mendb's consensus (mean normalised rank) of runs over the same rows."""
    from mendb.valuation.consensus import consensus
    from mendb.valuation.result import ValuationResult

    keys = np.arange(len(parts[0])).astype(str).astype(object)
    results = [
        ValuationResult(
            keys, v, np.zeros(len(keys)), np.ones(len(keys), np.int64), f"part{i}", {}, 0
        )
        for i, v in enumerate(parts)
    ]
    return np.asarray(consensus(results).values, dtype=np.float64)
