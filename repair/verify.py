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
matrix product.

First order holds while a change stays local. Mending a value 100 times too large
shrinks its column's standard deviation several-fold: every row of that column is
rescaled and the L2 penalty weighs the column anew, which no formula for one row
sees: it predicts a small fraction of the real change. Such proposals are
retrained exactly instead, one fit each, warm-started from the fitted proxy carried
over to the new scale; they are few, since on a large table one cell barely moves
a column. An exact retrain changes many predictions at once, so its verdict must
also stand out of the validation rows' own noise: the mean change of their
log-likelihood has to exceed two standard errors. Judged to first order, mends of
far-out cells were held back as harmful and the cells left broken.

The verdict is `improves` when the utility rises by more than its margin
(`tolerance`, or the noise margin of an exact retrain), `hurts` when it falls by
more, else `neutral`. Text proposals are re-embedded in one batch.

A regression dataset is judged by the validation squared error instead, every
proposal retrained exactly, with the user's model where given
(`repair.verify_target`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray
from scipy.sparse.linalg import LinearOperator, cg
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from mendb.repair.evidence import classifier, fit_quietly
from mendb.repair.proposals import DiagnosisKind, RepairProposal, TextEncoder
from mendb.repair.verify_target import TargetVerifier
from mendb.valuation.data import Task, TrainingArrays
from mendb.valuation.models import ModelSpec
from mendb.valuation.preprocess import prepare

TOLERANCE = 1e-4
_C = 1.0  # the proxy's inverse regularisation, as in repair.evidence.classifier
_BIAS_RIDGE = 1e-3  # keeps H invertible along the softmax's redundant direction
# A change moving any other row's prepared features by more than this (in standard
# deviations) rescales its column and is retrained exactly.
RESCALE_TOLERANCE = 0.05
# An exact retrain's verdict needs its mean change of the validation log-likelihood
# to stand this many standard errors (over the validation rows) from zero.
STANDARD_ERRORS = 2.0


@dataclass(frozen=True)
class _Change:
    """A proposal applied: its row's prepared features and label afterwards, and the
    whole prepared data when the change rescales a column (retrained exactly)."""

    row: int
    x: NDArray[np.float64]
    y: int
    rescaled: TrainingArrays | None = None


class Verifier:
    """Judges proposals by their effect on the proxy's validation utility.

    Construction stores the settings only; `fit(raw)` fits the proxy on the training
    rows as read (before `prepare`), and `verify` judges proposals against it:
    `Verifier("label").fit(raw).verify(proposals)`. `model`: the user's estimator,
    which a regression dataset's retrains fit instead of the proxy."""

    # Deliberately like the valuation methods' constructors: each stores its keywords
    # unchanged (scikit-learn's rule), and `fit` does the work.
    def __init__(
        self,
        label_column: str,
        encoder: TextEncoder | None = None,
        tolerance: float = TOLERANCE,
        model: ModelSpec | None = None,
    ) -> None:
        self.label_column = label_column
        self.encoder = encoder
        self.tolerance = tolerance
        self.model = model

    def fit(self, raw: TrainingArrays) -> Self:
        """Fit the proxy on `raw` and solve for the utility's gradient direction."""
        self.raw_ = raw
        self._target: TargetVerifier | None = None
        if raw.task is Task.REGRESSION:
            self._target = TargetVerifier(self.label_column, self.model, self.tolerance)
            self._target.fit(raw)
            return self
        self._row = {str(k): i for i, k in enumerate(raw.train.keys)}
        self._prepared = prepare(raw)
        data = self._prepared
        self._model = classifier()
        fit_quietly(self._model, data.train.x, data.train.y)
        self._coef = _coefficients(self._model, data)
        self._valid_log_likelihoods = _validation_log_likelihoods(self._coef, data)
        likelihoods = self._valid_log_likelihoods
        self._utility = float(likelihoods.mean()) if len(likelihoods) else 0.0
        xt = _with_bias(data.train.x)
        p_train = _softmax(xt @ self._coef.T)
        xv = _with_bias(data.valid.x)
        p_valid = _softmax(xv @ self._coef.T)
        truth = np.eye(data.n_classes)[data.valid.y]
        grad_u = (truth - p_valid).T @ xv / max(len(data.valid), 1)  # K x (d+1)
        self._solution = _solve_hessian(xt, p_train, grad_u)
        return self

    def verify(self, proposals: list[RepairProposal]) -> list[RepairProposal]:
        """The proposals with their `verification` filled in (after `fit`)."""
        if not hasattr(self, "raw_"):
            raise NotFittedError("Verifier.verify needs fit(raw) first")
        if self._target is not None:
            return self._target.verify(proposals)
        embedded = self._embed_texts(proposals)
        changes = [self._change(p, embedded.get(n)) for n, p in enumerate(proposals)]
        local = [n for n, c in enumerate(changes) if c is not None and c.rescaled is None]
        deltas = self._first_order_deltas([changes[n] for n in local])  # type: ignore[misc]
        verdicts: dict[int, dict[str, Any]] = {
            n: self._verdict(delta, "first-order retrain")
            for n, delta in zip(local, deltas, strict=True)
        }
        for n, change in enumerate(changes):
            if change is not None and change.rescaled is not None:
                delta, noise = self._retrained_delta(change.row, change.rescaled)
                verdicts[n] = self._verdict(delta, "retrained", noise)
        unverifiable = {"verdict": "unverifiable", "delta": None}
        return [
            replace(p, verification=verdicts.get(n, unverifiable)) for n, p in enumerate(proposals)
        ]

    def _verdict(self, delta: float, how: str, noise: float = 0.0) -> dict[str, Any]:
        """`noise`: how far the delta may stray from zero by the validation rows'
        sampling alone; no verdict inside it."""
        verdict = "neutral"
        margin = max(self.tolerance, noise)
        if delta > margin:
            verdict = "improves"
        elif delta < -margin:
            verdict = "hurts"
        return {
            "verdict": verdict,
            "delta": round(delta, 6),
            "margin": round(margin, 6),
            "utility": f"validation mean log-likelihood ({how})",
            "before": round(self._utility, 6),
        }

    def _retrained_delta(self, row: int, data: TrainingArrays) -> tuple[float, float]:
        """The exact change of the validation utility when `row` changes the prepared
        data to `data`, and its noise margin."""
        model = self._warm_start(row, data.train.x)
        fit_quietly(model, data.train.x, data.train.y)
        after = _validation_log_likelihoods(_coefficients(model, data), data)
        gain = after - self._valid_log_likelihoods
        if len(gain) < 2:
            return float(gain.sum()), 0.0
        noise = STANDARD_ERRORS * gain.std(ddof=1) / np.sqrt(len(gain))
        return float(gain.mean()), float(noise)

    def _warm_start(self, row: int, x: NDArray[np.float64]) -> LogisticRegression:
        """The fitted proxy carried over to the rescaled columns: every other row
        gets the same scores as before, so the refit starts next to its optimum and
        takes a few iterations where a cold fit takes many."""
        others = np.arange(len(x)) != row
        old, new = self._prepared.train.x[others], x[others]
        old_spread = old.std(axis=0)
        scale = np.divide(new.std(axis=0), old_spread, out=np.ones_like(old_spread),
                          where=old_spread > 0)  # fmt: skip
        shift = new.mean(axis=0) - scale * old.mean(axis=0)
        model = classifier()
        model.warm_start = True
        model.coef_ = self._model.coef_ / scale
        model.intercept_ = self._model.intercept_ - model.coef_ @ shift
        return model

    def _first_order_deltas(self, changes: list[_Change]) -> list[float]:
        """First-order change of the validation utility for each change of one row."""
        if not changes:
            return []
        data, k = self._prepared, self._prepared.n_classes
        rows = np.array([c.row for c in changes])
        old_x = _with_bias(data.train.x[rows])
        new_x = _with_bias(np.vstack([c.x for c in changes]))
        old_g = _softmax(old_x @ self._coef.T) - np.eye(k)[data.train.y[rows]]
        new_g = _softmax(new_x @ self._coef.T) - np.eye(k)[[c.y for c in changes]]
        # d_U = -C * <s, g' (x) x' - g (x) x>, with s = H^-1 grad U.
        s = self._solution
        change = np.einsum("nk,kd,nd->n", new_g, s, new_x) - np.einsum(
            "nk,kd,nd->n", old_g, s, old_x
        )
        return (-_C * change).tolist()

    def _change(
        self, proposal: RepairProposal, embedding: NDArray[np.float32] | None
    ) -> _Change | None:
        """The proposal applied, or None when it cannot be."""
        index = self._row.get(proposal.row_key)
        if index is None:
            return None
        label = int(self._prepared.train.y[index])
        if proposal.column == self.label_column:
            if str(proposal.new_value) not in self.raw_.classes:
                return None
            new_label = self.raw_.classes.index(str(proposal.new_value))
            return _Change(index, self._prepared.train.x[index], new_label)
        new = _new_features(proposal, embedding)
        columns = self._columns(proposal.column)
        if new is None or len(columns) != len(new):
            return None
        x = self.raw_.train.x.copy()
        x[index, columns] = new
        changed = prepare(replace(self.raw_, train=replace(self.raw_.train, x=x)))
        others = np.arange(len(x)) != index
        shift = np.abs(changed.train.x[others] - self._prepared.train.x[others])
        rescaled = changed if shift.size and shift.max() > RESCALE_TOLERANCE else None
        return _Change(index, changed.train.x[index], label, rescaled)

    def _embed_texts(self, proposals: list[RepairProposal]) -> dict[int, NDArray[np.float32]]:
        wanted = [
            (n, p.new_value)
            for n, p in enumerate(proposals)
            if p.kind == DiagnosisKind.TEXT
            and p.new_value is not None
            and self._columns(p.column).size
        ]
        if not wanted or self.encoder is None:
            return {}
        vectors = self.encoder.encode([text for _, text in wanted])
        return {n: v for (n, _), v in zip(wanted, vectors, strict=True)}

    def _columns(self, column: str) -> NDArray[np.int64]:
        names = self.raw_.feature_names
        exact = [j for j, n in enumerate(names) if n == column]
        return np.array(exact or [j for j, n in enumerate(names) if n.startswith(f"{column}[")])


def _new_features(
    proposal: RepairProposal, embedding: NDArray[np.float32] | None
) -> NDArray[np.float64] | None:
    if proposal.new_value is None:
        return None
    if proposal.kind == DiagnosisKind.TEXT:
        return None if embedding is None else embedding.astype(np.float64)
    if proposal.kind == DiagnosisKind.VECTOR:
        return np.array([float(v) for v in proposal.new_value.strip("[]").split(",")])
    return np.array([float(proposal.new_value)])


def _coefficients(model: LogisticRegression, data: TrainingArrays) -> NDArray[np.float64]:
    """The fitted proxy as K x (d + 1) coefficients (bias last; a class absent from
    the training rows keeps zeros)."""
    coef = np.zeros((data.n_classes, data.train.x.shape[1] + 1))
    if len(model.classes_) == 2 and data.n_classes == 2:
        coef[1, :-1], coef[1, -1] = model.coef_[0], model.intercept_[0]
    else:
        coef[model.classes_, :-1], coef[model.classes_, -1] = model.coef_, model.intercept_
    return coef


def _validation_log_likelihoods(
    coef: NDArray[np.float64], data: TrainingArrays
) -> NDArray[np.float64]:
    """Each validation row's log-likelihood of its label."""
    p_valid = _softmax(_with_bias(data.valid.x) @ coef.T)
    given = p_valid[np.arange(len(data.valid)), data.valid.y]
    return np.log(np.maximum(given, 1e-12))


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
