"""What the loop measures at each round boundary: the downstream model retrained on
the training rows as they stand, scored row by row on the validation rows (which
judge the round) and on the sealed test rows (reported, never judged on); and the
reference the training labels' distribution is held to.

Without a trusted validation table the validation rows come from the same noisy
table: a judge that scored the model against those labels would reward copying the
noise. Then the validation losses are corrected (`valuation.judge`) with the noise
model estimated once, at the loop's start, on the labels as the source gave them.

A numeric target is judged by its errors (`valuation.judge_regression`) and held to
the validation rows' mean. Without a trusted table its validation rows are judged
as recorded ('noisy'): no noise model for numeric targets corrects them, and the
MAE judge, little swayed by a few slipped values, guards the MSE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray

from mendb.db.datasets import Dataset
from mendb.repair.noise import NoiseModel, noise_model_for
from mendb.server import operations
from mendb.server.propose import source_labels
from mendb.valuation.data import Task, TrainingArrays
from mendb.valuation.judge import Measurement, fit_model
from mendb.valuation.judge_regression import ErrorMeasurement, fit_regressor
from mendb.valuation.models import ModelSpec
from mendb.valuation.target_scale import value_scale


@dataclass(frozen=True)
class Reference:
    """How the validation rows judge: trusted (a validation table) or noisy and
    corrected by `transition`; and the class distribution the training labels are
    held to (the validation rows')."""

    validation: str  # 'trusted' | 'noisy_corrected' | 'noisy' (a numeric target's)
    distribution: NDArray[np.float64]
    rows: int
    transition: NDArray[np.float64] | None = None
    # The noise model's clean class prior: it weighs the corrected balanced error.
    prior: NDArray[np.float64] | None = None
    # A numeric target's validation mean and standard deviation (no classes).
    target_mean: float | None = None
    target_sd: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "validation": self.validation,
            "distribution": self.distribution.round(6).tolist(),
            "rows": self.rows,
            "transition": None if self.transition is None else self.transition.round(6).tolist(),
            "prior": None if self.prior is None else self.prior.round(6).tolist(),
            "target_mean": self.target_mean,
            "target_sd": self.target_sd,
        }

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> Reference:
        def array(name: str) -> NDArray[np.float64] | None:
            value = stored.get(name)
            return None if value is None else np.asarray(value, dtype=np.float64)

        distribution = array("distribution")
        assert distribution is not None
        return cls(stored["validation"], distribution, int(stored["rows"]),
                   array("transition"), array("prior"), stored.get("target_mean"),
                   stored.get("target_sd"))  # fmt: skip


@dataclass(frozen=True)
class RoundState:
    """The model's measurements at a round boundary: class probabilities for a
    classification task, predictions of the target for a regression one (then
    `label_counts` and `classes` are empty and `targets` holds the training
    targets)."""

    valid: Measurement | ErrorMeasurement
    test: Measurement | ErrorMeasurement
    label_counts: NDArray[np.int64]
    classes: tuple[str, ...]
    n_train: int
    kinds: frozenset[str]
    task: Task = Task.CLASSIFICATION
    targets: NDArray[np.float64] | None = None
    target_keys: tuple[str, ...] = ()  # the training rows' keys, as repairs name them

    def shares(self) -> dict[str, float]:
        total = max(int(self.label_counts.sum()), 1)
        return {
            c: round(int(n) / total, 6)
            for c, n in zip(self.classes, self.label_counts, strict=True)
        }


def reference_of(
    conn: psycopg.Connection[Any], dataset: Dataset, data: TrainingArrays, seed: int
) -> Reference:
    """The loop's reference, fixed at its start: the validation rows' class shares.

    From a trusted table they are the clean distribution the relabels may move the
    training labels toward. From the noisy table they are the recorded distribution,
    and the relabels may not move the training labels away from it beyond sampling:
    the noise model's own clean prior is estimated from the very labels it doubts,
    and where classes overlap it can take the minority for noise, so trusting it
    would let the loop erase the class it was meant to mend.

    A numeric target's reference is the validation rows' mean and spread."""
    trusted = dataset.split.validation_table is not None
    if data.task is Task.REGRESSION:
        y = np.asarray(data.valid.y, dtype=np.float64)
        return Reference(
            "trusted" if trusted else "noisy",
            np.zeros(0),
            len(y),
            target_mean=float(y.mean()) if len(y) else None,
            target_sd=float(y.std(ddof=1)) if len(y) > 1 else None,
        )
    counts = np.bincount(data.valid.y, minlength=data.n_classes).astype(np.float64)
    shares = counts / max(counts.sum(), 1.0)
    if trusted:
        return Reference("trusted", shares, len(data.valid))
    recorded = source_labels(conn, dataset, data)
    model: NoiseModel = noise_model_for(
        data, data.train.y if recorded is None else recorded, trusted_reference=False, seed=seed
    )
    return Reference(
        "noisy_corrected", shares, len(data.valid), model.transition, np.asarray(model.prior)
    )


def measure(
    conn: psycopg.Connection[Any],
    name: str,
    seed: int,
    reference: Reference,
    model_spec: ModelSpec | None = None,
) -> RoundState:
    """Retrain on the current training rows (mendb's model, or the user's named by
    `model_spec`); one fit serves both splits."""
    dataset, data, _ = operations.load(conn, name)
    kinds = frozenset(f.kind for f in dataset.features)
    if data.task is Task.REGRESSION:
        regressor = fit_regressor(data.train, seed, model_spec, value_scale(data))
        return RoundState(
            valid=ErrorMeasurement.of(regressor, data.valid),
            test=ErrorMeasurement.of(regressor, data.test),
            label_counts=np.zeros(0, dtype=np.int64),
            classes=(),
            n_train=len(data.train),
            kinds=kinds,
            task=Task.REGRESSION,
            targets=np.asarray(data.train.y, dtype=np.float64),
            target_keys=tuple(str(key) for key in data.train.keys),
        )
    model = fit_model(data.train, data.n_classes, seed, model_spec)
    corrected = reference.validation == "noisy_corrected"
    valid = Measurement.of(
        model,
        data.valid,
        transition=reference.transition if corrected else None,
        prior=reference.prior if corrected else None,
    )
    return RoundState(
        valid=valid,
        test=Measurement.of(model, data.test),
        label_counts=np.bincount(data.train.y, minlength=data.n_classes),
        classes=data.classes,
        n_train=len(data.train),
        kinds=kinds,
    )
