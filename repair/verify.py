"""Verification against hallucination: a counterfactual retrain per proposal.

The proxy (logistic regression on the prepared features) is trained once on the
training rows as they are, and once more per proposal with only that proposal
applied, warm-started from the first fit; the utility is the mean log-likelihood
of the validation rows' labels (finer than accuracy, which one row rarely moves).
The verdict is `improves` when the utility rises by more than `tolerance`, `hurts`
when it falls by more, else `neutral`. Text proposals are re-embedded in one
batch, so a batch costs one encoder call plus one warm-started fit per proposal.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression

from repair.evidence import classifier, fit_quietly
from repair.proposals import RepairProposal, TextEncoder
from valuation.data import TrainingArrays
from valuation.preprocess import prepare

TOLERANCE = 1e-4


class Verifier:
    def __init__(
        self,
        raw: TrainingArrays,
        label_column: str,
        encoder: TextEncoder | None = None,
        tolerance: float = TOLERANCE,
    ) -> None:
        self.raw = raw
        self.label_column = label_column
        self.encoder = encoder
        self.tolerance = tolerance
        self._row = {str(k): i for i, k in enumerate(raw.train.keys)}
        self._base_model, self._base = self._fit(raw, None)

    def verify(self, proposals: list[RepairProposal]) -> list[RepairProposal]:
        """The proposals with their `verification` filled in."""
        embedded = self._embed_texts(proposals)
        out = []
        for number, proposal in enumerate(proposals):
            changed = self._apply(proposal, embedded.get(number))
            if changed is None:
                verdict: dict[str, Any] = {"verdict": "unverifiable", "delta": None}
            else:
                verdict = self._judge(changed)
            out.append(replace(proposal, verification=verdict))
        return out

    def _judge(self, changed: TrainingArrays) -> dict[str, Any]:
        _, (likelihood, accuracy) = self._fit(changed, self._base_model)
        delta = likelihood - self._base[0]
        verdict = "neutral"
        if delta > self.tolerance:
            verdict = "improves"
        elif delta < -self.tolerance:
            verdict = "hurts"
        return {
            "verdict": verdict,
            "delta": round(delta, 6),
            "utility": "validation mean log-likelihood",
            "before": round(self._base[0], 6),
            "after": round(likelihood, 6),
            "accuracy_delta": round(accuracy - self._base[1], 6),
        }

    def _fit(
        self, raw: TrainingArrays, start: LogisticRegression | None
    ) -> tuple[LogisticRegression, tuple[float, float]]:
        data = prepare(raw)
        model = classifier() if start is None else copy.deepcopy(start)
        model.set_params(warm_start=start is not None)
        fit_quietly(model, data.train.x, data.train.y)
        proba = np.full((len(data.valid), data.n_classes), 1e-12)
        proba[:, model.classes_] = np.maximum(model.predict_proba(data.valid.x), 1e-12)
        truth = data.valid.y
        likelihood = float(np.mean(np.log(proba[np.arange(len(truth)), truth])))
        accuracy = float(np.mean(proba.argmax(axis=1) == truth)) if len(truth) else 0.0
        return model, (likelihood, accuracy)

    def _embed_texts(self, proposals: list[RepairProposal]) -> dict[int, NDArray[np.float32]]:
        wanted = [
            (n, p.new_value)
            for n, p in enumerate(proposals)
            if p.kind == "text" and p.new_value is not None and self._columns(p.column).size
        ]
        if not wanted or self.encoder is None:
            return {}
        vectors = self.encoder.encode([text for _, text in wanted])
        return {n: v for (n, _), v in zip(wanted, vectors, strict=True)}

    def _columns(self, column: str) -> NDArray[np.int64]:
        names = self.raw.feature_names
        exact = [j for j, n in enumerate(names) if n == column]
        return np.array(exact or [j for j, n in enumerate(names) if n.startswith(f"{column}[")])

    def _apply(
        self, proposal: RepairProposal, embedding: NDArray[np.float32] | None
    ) -> TrainingArrays | None:
        index = self._row.get(proposal.row_key)
        if index is None:
            return None
        train = self.raw.train
        if proposal.column == self.label_column:
            y = train.y.copy()
            y[index] = self.raw.classes.index(str(proposal.new_value))
            return replace(self.raw, train=replace(train, y=y))
        new = _new_features(proposal, embedding)
        columns = self._columns(proposal.column)
        if new is None or len(columns) != len(new):
            return None
        x = train.x.copy()
        x[index, columns] = new
        return replace(self.raw, train=replace(train, x=x))


def _new_features(
    proposal: RepairProposal, embedding: NDArray[np.float32] | None
) -> NDArray[np.float64] | None:
    if proposal.new_value is None:
        return None
    if proposal.kind == "text":
        return None if embedding is None else embedding.astype(np.float64)
    if proposal.kind == "vector":
        return np.array([float(v) for v in proposal.new_value.strip("[]").split(",")])
    return np.array([float(proposal.new_value)])
