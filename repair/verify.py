"""Verification against hallucination: a counterfactual retrain of the proxy for
every proposal, batched as one influence computation.

The proxy is logistic regression (scikit-learn's, L2, C = 1) on the prepared
features, fitted once on the training rows as they are. Retraining it once per
proposal costs seconds each on a few thousand rows, so the retrain is taken to
first order instead (Koh & Liang, "Understanding black-box predictions via
influence functions", ICML 2017): replacing training row z = (x, y) by
z' = (x', y') moves the parameters by

    d_theta ~= -C * H^-1 (grad l(z'; theta) - grad l(z; theta)),

where H is the Hessian of the regularised training objective, and the validation
utility U (mean log-likelihood of the validation labels) by grad U . d_theta. One
conjugate-gradient solve s = H^-1 grad U (Hessian-vector products, H is never
formed) serves every proposal, so a batch costs one fit, one solve and one
matrix product. The verdict is `improves` when the predicted utility rises by more
than `tolerance`, `hurts` when it falls by more, else `neutral`. Text proposals are
re-embedded in one batch.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse.linalg import LinearOperator, cg

from repair.evidence import classifier, fit_quietly
from repair.proposals import RepairProposal, TextEncoder
from valuation.data import TrainingArrays
from valuation.preprocess import prepare

TOLERANCE = 1e-4
_C = 1.0  # the proxy's inverse regularisation, as in repair.evidence.classifier
_BIAS_RIDGE = 1e-3  # keeps H invertible along the softmax's redundant direction


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
        self._prepared = prepare(raw)
        self._fit()

    def verify(self, proposals: list[RepairProposal]) -> list[RepairProposal]:
        """The proposals with their `verification` filled in."""
        embedded = self._embed_texts(proposals)
        changes = [self._change(p, embedded.get(n)) for n, p in enumerate(proposals)]
        known = [n for n, c in enumerate(changes) if c is not None]
        deltas = self._utility_deltas([changes[n] for n in known])  # type: ignore[misc]
        delta_of = dict(zip(known, deltas, strict=True))
        return [
            replace(p, verification=self._verdict(delta_of.get(n))) for n, p in enumerate(proposals)
        ]

    def _verdict(self, delta: float | None) -> dict[str, Any]:
        if delta is None:
            return {"verdict": "unverifiable", "delta": None}
        verdict = "neutral"
        if delta > self.tolerance:
            verdict = "improves"
        elif delta < -self.tolerance:
            verdict = "hurts"
        return {
            "verdict": verdict,
            "delta": round(delta, 6),
            "utility": "validation mean log-likelihood (first-order retrain)",
            "before": round(self._utility, 6),
        }

    def _fit(self) -> None:
        data = self._prepared
        model = classifier()
        fit_quietly(model, data.train.x, data.train.y)
        k = data.n_classes
        coef = np.zeros((k, data.train.x.shape[1] + 1))
        if len(model.classes_) == 2 and k == 2:
            coef[1, :-1], coef[1, -1] = model.coef_[0], model.intercept_[0]
        else:
            coef[model.classes_, :-1], coef[model.classes_, -1] = model.coef_, model.intercept_
        self._coef = coef
        xt = _with_bias(data.train.x)
        p_train = _softmax(xt @ coef.T)
        xv = _with_bias(data.valid.x)
        p_valid = _softmax(xv @ coef.T)
        truth = np.eye(k)[data.valid.y]
        n_valid = max(len(data.valid), 1)
        self._utility = (
            float(np.mean(np.log(np.maximum(p_valid[np.arange(len(truth)), data.valid.y], 1e-12))))
            if len(truth)
            else 0.0
        )
        grad_u = (truth - p_valid).T @ xv / n_valid  # K x (d+1)
        self._solution = _solve_hessian(xt, p_train, grad_u)

    def _utility_deltas(self, changes: list[tuple[int, NDArray[np.float64], int]]) -> list[float]:
        """First-order change of the validation utility for each (row, x', y')."""
        if not changes:
            return []
        data, k = self._prepared, self._prepared.n_classes
        rows = np.array([row for row, _, _ in changes])
        old_x = _with_bias(data.train.x[rows])
        new_x = _with_bias(np.vstack([x for _, x, _ in changes]))
        old_g = _softmax(old_x @ self._coef.T) - np.eye(k)[data.train.y[rows]]
        new_g = _softmax(new_x @ self._coef.T) - np.eye(k)[[y for _, _, y in changes]]
        # d_U = -C * <s, g' (x) x' - g (x) x>, with s = H^-1 grad U.
        s = self._solution
        change = np.einsum("nk,kd,nd->n", new_g, s, new_x) - np.einsum(
            "nk,kd,nd->n", old_g, s, old_x
        )
        return (-_C * change).tolist()

    def _change(
        self, proposal: RepairProposal, embedding: NDArray[np.float32] | None
    ) -> tuple[int, NDArray[np.float64], int] | None:
        """The proposal as (row, prepared features, label) after it is applied."""
        index = self._row.get(proposal.row_key)
        if index is None:
            return None
        label = int(self._prepared.train.y[index])
        if proposal.column == self.label_column:
            if str(proposal.new_value) not in self.raw.classes:
                return None
            return (
                index,
                self._prepared.train.x[index],
                self.raw.classes.index(str(proposal.new_value)),
            )
        new = _new_features(proposal, embedding)
        columns = self._columns(proposal.column)
        if new is None or len(columns) != len(new):
            return None
        x = self.raw.train.x.copy()
        x[index, columns] = new
        changed = prepare(replace(self.raw, train=replace(self.raw.train, x=x)))
        return index, changed.train.x[index], label

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


def _with_bias(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.hstack([x, np.ones((len(x), 1))])


def _softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _solve_hessian(
    x: NDArray[np.float64], p: NDArray[np.float64], rhs: NDArray[np.float64]
) -> NDArray[np.float64]:
    """H^-1 rhs for H = C * sum_i (diag p_i - p_i p_i^T) (x) x_i x_i^T + ridge, by
    conjugate gradients on Hessian-vector products."""
    k, width = rhs.shape
    ridge = np.ones(width)
    ridge[-1] = _BIAS_RIDGE

    def product(flat: NDArray[np.float64]) -> NDArray[np.float64]:
        v = flat.reshape(k, width)
        scores = x @ v.T  # n x K
        mixed = p * scores - p * (p * scores).sum(axis=1, keepdims=True)
        return (_C * mixed.T @ x + v * ridge).ravel()

    operator = LinearOperator((k * width, k * width), matvec=product, dtype=np.float64)
    solution, _ = cg(operator, rhs.ravel(), rtol=1e-8, maxiter=500)
    return solution.reshape(k, width)
