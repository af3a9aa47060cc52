"""What the loop measures at each round boundary: the downstream model retrained on
the training rows as they stand, scored row by row on the validation rows (which
judge the round) and on the sealed test rows (reported, never judged on); and the
reference the training labels' distribution is held to.

Without a trusted validation table the validation rows come from the same noisy
table: a judge that scored the model against those labels would reward copying the
noise. Then the validation losses are corrected (`valuation.judge`) with the noise
model estimated once, at the loop's start, on the labels as the source gave them.
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
from mendb.valuation.data import TrainingArrays
from mendb.valuation.judge import Measurement, fit_model


@dataclass(frozen=True)
class Reference:
    """How the validation rows judge: trusted (a validation table) or noisy and
    corrected by `transition`; and the class distribution the training labels are
    held to (the validation rows')."""

    validation: str  # 'trusted' | 'noisy_corrected'
    distribution: NDArray[np.float64]
    rows: int
    transition: NDArray[np.float64] | None = None
    # The noise model's clean class prior: it weighs the corrected balanced error.
    prior: NDArray[np.float64] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "validation": self.validation,
            "distribution": self.distribution.round(6).tolist(),
            "rows": self.rows,
            "transition": None if self.transition is None else self.transition.round(6).tolist(),
            "prior": None if self.prior is None else self.prior.round(6).tolist(),
        }

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> Reference:
        def array(name: str) -> NDArray[np.float64] | None:
            value = stored.get(name)
            return None if value is None else np.asarray(value, dtype=np.float64)

        distribution = array("distribution")
        assert distribution is not None
        return cls(stored["validation"], distribution, int(stored["rows"]),
                   array("transition"), array("prior"))  # fmt: skip


@dataclass(frozen=True)
class RoundState:
    valid: Measurement
    test: Measurement
    label_counts: NDArray[np.int64]
    classes: tuple[str, ...]
    n_train: int
    kinds: frozenset[str]

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
    would let the loop erase the class it was meant to mend."""
    trusted = dataset.split.validation_table is not None
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
    conn: psycopg.Connection[Any], name: str, seed: int, reference: Reference
) -> RoundState:
    """Retrain on the current training rows; one fit serves both splits."""
    dataset, data, _ = operations.load(conn, name)
    model = fit_model(data.train, data.n_classes, seed)
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
        kinds=frozenset(f.kind for f in dataset.features),
    )
