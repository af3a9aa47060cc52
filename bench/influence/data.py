"""What the influence benchmark runs: the detection grid, each method's settings and
the synthetic throughput rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

DATASETS = ("breast_cancer", "digits", "wine")
NOISES = ("flip10", "flip20")
METHODS = ("influence_sgd", "influence_adam", "knn_shapley", "data_oob", "tmc_shapley")
TMC_SAMPLES = 100
TMC_TIME_CAP = 120.0  # seconds; a guard for a loaded machine, reported when it bites
TMC_MAX_ROWS = 1000  # as bench.quality: above this, one permutation is too many fits
D_PROJ = 8192


@dataclass(frozen=True)
class Config:
    """A synthetic throughput configuration: features d, hidden width, classes."""

    name: str
    d: int
    hidden: int
    classes: int

    @property
    def n_params(self) -> int:
        return self.d * self.hidden + self.hidden + self.hidden * self.classes + self.classes


CONFIGS = (
    Config("small", d=32, hidden=64, classes=2),  # fewer parameters than D_PROJ: identity
    Config("projected", d=64, hidden=128, classes=2),  # more than D_PROJ: projected
)


def method_params(method: str, seed: int) -> dict[str, Any]:
    table: dict[str, dict[str, Any]] = {
        "influence_sgd": {"seed": seed, "d_proj": D_PROJ},
        "influence_adam": {"seed": seed, "d_proj": D_PROJ},
        "knn_shapley": {"k": 10},
        "data_oob": {"n_estimators": 200, "seed": seed, "n_jobs": 2},
        "tmc_shapley": {"max_samples": TMC_SAMPLES, "max_time": TMC_TIME_CAP, "seed": seed,
                        "n_jobs": 2},
    }
    return table[method]


def synthetic(config: Config, n: int, seed: int = 0) -> Any:
    """N training and 1,000 validation rows labelled by a noisy linear teacher."""
    from mendb.valuation.data import Split, TrainingArrays

    rng = np.random.default_rng(seed)
    w = rng.normal(size=(config.d, config.classes))

    def split(rows: int) -> Split:
        x = rng.normal(size=(rows, config.d))
        y = np.argmax(x @ w + rng.gumbel(size=(rows, config.classes)), axis=1)
        return Split(x, y.astype(np.int64), np.arange(rows).astype(str).astype(object))

    train, valid = split(n), split(1000)
    return TrainingArrays(train, valid, split(0), tuple(str(c) for c in range(config.classes)),
                          tuple(f"f{j}" for j in range(config.d)))
