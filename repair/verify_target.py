"""Counterfactual verification for a regression dataset: retrain with the proposal
applied, judged by the validation rows' squared error.

The model is the one the loop judges with (`valuation.judge_regression`): the
user's (a fresh estimator per fit) where given, else mendb's regression proxy, a
ridge on the prepared features that learns the target on the scale it is valued on.
Regression fits are cheap next to the classifier's, so every proposal is retrained
exactly, none to first order.

A retrain moves every validation prediction a little, so a verdict must stand out
of the validation rows' own noise: the mean change of their squared error has to
exceed two standard errors (over the rows), and a share `tolerance` of the error
before. `delta` is the error before minus after: positive improves.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import NotFittedError

from mendb.repair.proposals import DiagnosisKind, RepairProposal
from mendb.valuation.data import TrainingArrays
from mendb.valuation.judge_regression import measure_errors
from mendb.valuation.models import ModelSpec
from mendb.valuation.preprocess import prepare
from mendb.valuation.target_scale import TargetScale, value_scale

STANDARD_ERRORS = 2.0
PROXY = "sklearn.linear_model:Ridge"


class TargetVerifier:
    """Judges proposals on a regression dataset by retraining (see the module)."""

    def __init__(
        self, label_column: str, model: ModelSpec | None = None, tolerance: float = 1e-4
    ) -> None:
        self.label_column = label_column
        self.model = model
        self.tolerance = tolerance

    def fit(self, raw: TrainingArrays) -> Self:
        self.raw_ = raw
        self._row = {str(k): i for i, k in enumerate(raw.train.keys)}
        prepared = prepare(raw)
        # Fixed here: a proposal must not move the scale its own verdict is read on.
        self._scale = value_scale(prepared) if self.model is None else TargetScale()
        self._errors = self._validation_errors(prepared)
        self._before = float(self._errors.mean()) if len(self._errors) else 0.0
        return self

    def verify(self, proposals: list[RepairProposal]) -> list[RepairProposal]:
        if not hasattr(self, "raw_"):
            raise NotFittedError("TargetVerifier.verify needs fit(raw) first")
        return [replace(p, verification=self._judge(p)) for p in proposals]

    def _judge(self, proposal: RepairProposal) -> dict[str, Any]:
        changed = self._applied(proposal)
        if changed is None or len(self._errors) == 0:
            return {"verdict": "unverifiable", "delta": None}
        gain = self._errors - self._validation_errors(prepare(changed))
        noise = STANDARD_ERRORS * gain.std(ddof=1) / np.sqrt(len(gain)) if len(gain) > 1 else 0.0
        margin = max(self.tolerance * self._before, float(noise))
        delta = float(gain.mean())
        verdict = "improves" if delta > margin else "hurts" if delta < -margin else "neutral"
        return {
            "verdict": verdict,
            "delta": float(f"{delta:.6g}"),
            "margin": float(f"{margin:.6g}"),
            "utility": f"validation mean squared error on {self._scale.describe()} (retrained)",
            "before": float(f"{self._before:.6g}"),
            "model": self.model.path if self.model is not None else PROXY,
        }

    def _applied(self, proposal: RepairProposal) -> TrainingArrays | None:
        """The raw arrays with the proposal applied; None when it cannot be."""
        index = self._row.get(proposal.row_key)
        if index is None or proposal.new_value is None:
            return None
        try:
            new = float(proposal.new_value)
        except ValueError:
            return None
        train = self.raw_.train
        if proposal.column == self.label_column:
            y = np.asarray(train.y, dtype=np.float64).copy()
            y[index] = new
            return replace(self.raw_, train=replace(train, y=y))
        names = self.raw_.feature_names
        if proposal.kind not in (DiagnosisKind.NUMERIC, DiagnosisKind.MISSING):
            return None
        if proposal.column not in names:
            return None
        x = train.x.copy()
        x[index, names.index(proposal.column)] = new
        return replace(self.raw_, train=replace(train, x=x))

    def _validation_errors(self, data: TrainingArrays) -> NDArray[np.float64]:
        """Each validation row's squared error, of a model fitted on `data`'s rows, on
        the scale it learned the target on, as the loop's judge pairs them."""
        if len(data.valid) == 0:
            return np.zeros(0)
        measured = measure_errors(data.train, data.valid, model=self.model, scale=self._scale)
        return measured.row_learned_squared_error()
