"""Per-row losses of the downstream model: what a round is judged on.

A round is judged on proper scoring rules (log-loss, Brier) and on the class-balanced
error, never on accuracy alone: accuracy rewards a model that erases a minority class,
a proper score and the balanced error do not. Every figure is the mean of a per-row
loss, so two models measured on the same rows compare by paired differences
(`paired_change`), whose standard error is far smaller than either figure's own.

When the split's labels are themselves noisy (no trusted validation table) and the
noise model is known as a matrix T, T[i, j] = P(recorded j | true i), each per-row loss
is backward-corrected (Patrini et al. 2017, "Making deep neural networks robust to
label noise: a loss correction approach"): with L(p) the loss vector over the
candidate true classes, the corrected loss of a row recorded as j is (T^-1 L(p))[j],
whose expectation over the recorded label is the loss under the true one. Equivalently
the row's one-hot label is replaced by the row j of T^-1, a signed "soft" label that
every loss here is linear in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mendb.valuation.data import Split
from mendb.valuation.evaluate import train_logistic
from mendb.valuation.models import InvalidModel, ModelSpec

# Bounds one row's log-loss (at -log of the floor), so a class the model never saw in
# training costs a large but finite loss instead of an infinite mean.
PROBABILITY_FLOOR = 1e-6
# The correction multiplies each row's loss by entries of T^-1, whose size grows with
# T's condition number: past this, the paired standard errors are so wide that no
# round could pass, and single rows swing the mean. T is then blended toward the
# identity until it is this well conditioned (a biased, bounded correction).
MAX_CONDITION = 50.0


@dataclass(frozen=True, eq=False)
class Downstream:
    """The fitted downstream model (mendb's logistic regression or the user's
    classifier); `probabilities` covers all `n_classes` classes."""

    model: Any
    trained_classes: NDArray[np.int64]
    n_classes: int

    def probabilities(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        raw = np.zeros((len(x), self.n_classes))
        if self.model is None:
            raw[:, self.trained_classes] = 1.0
        else:
            raw[:, self.trained_classes] = self.model.predict_proba(x)
        floored = np.clip(raw, PROBABILITY_FLOOR, 1.0)
        normalised: NDArray[np.float64] = floored / floored.sum(axis=1, keepdims=True)
        return normalised


def fit_model(
    train: Split, n_classes: int, seed: int = 0, model: ModelSpec | None = None
) -> Downstream:
    """The same logistic regression as `valuation.evaluate`, or the user's classifier
    when `model` names one, kept to measure several splits from one fit."""
    if len(train) == 0:
        raise ValueError("cannot fit the downstream model on an empty training split")
    if train.y.min() < 0 or train.y.max() >= n_classes:
        raise ValueError(f"training labels must lie in [0, {n_classes}), got {np.unique(train.y)}")
    fitted = train_logistic(train, seed) if model is None else _fit_classifier(train, model)
    classes = np.unique(train.y) if fitted is None else fitted.classes_.astype(np.int64)
    return Downstream(fitted, classes, n_classes)


def _fit_classifier(train: Split, spec: ModelSpec) -> Any:
    """The user's classifier on the training split; None for a single class, as
    mendb's own. The judges score class probabilities, so it must give them."""
    estimator = spec.build()
    if not callable(getattr(estimator, "predict_proba", None)):
        raise InvalidModel(
            f"model {spec.path} gives no class probabilities (predict_proba), which the"
            " loop's judges score",
            column="model",
        )
    if len(np.unique(train.y)) < 2:
        return None
    estimator.fit(train.x, train.y)
    return estimator


@dataclass(frozen=True, eq=False)
class Correction:
    """The matrix that backward-corrects the losses. `blend` is the weight moved onto
    the identity to tame an ill-conditioned T (0: the exact, unbiased correction;
    above 0: biased toward the uncorrected losses); `condition` is T's own."""

    inverse: NDArray[np.float64]
    blend: float
    condition: float


def correction(transition: NDArray[np.float64], max_condition: float = MAX_CONDITION) -> Correction:
    t = np.asarray(transition, dtype=float)
    k = len(t)
    if t.shape != (k, k) or np.any(t < 0) or not np.allclose(t.sum(axis=1), 1.0):
        raise ValueError("transition must be a square matrix of non-negative rows summing to 1")
    if max_condition < 1:
        raise ValueError(f"max_condition must be at least 1, got {max_condition}")
    condition = float(np.linalg.cond(t))
    blend = 0.0 if condition <= max_condition else _least_blend(t, max_condition)
    blended = (1 - blend) * t + blend * np.eye(k)
    return Correction(np.asarray(np.linalg.inv(blended), dtype=np.float64), blend, condition)


def _least_blend(t: NDArray[np.float64], max_condition: float) -> float:
    """The least weight on the identity (to bisection precision) that brings T's
    condition number to `max_condition`; at weight 1 it is 1."""
    identity = np.eye(len(t))
    low, high = 0.0, 1.0
    for _ in range(50):
        middle = (low + high) / 2
        if np.linalg.cond((1 - middle) * t + middle * identity) <= max_condition:
            high = middle
        else:
            low = middle
    return high


@dataclass(frozen=True)
class Scores:
    """A split's figures. With `corrected`, each is the noise-corrected estimate of the
    figure under the true labels (unbiased for all but macro-F1, a ratio), and may
    leave [0, 1] on few rows; `blend` says how far an ill-conditioned noise model
    was moved toward no correction."""

    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    log_loss: float
    brier: float
    rows: int
    corrected: bool
    blend: float = 0.0


@dataclass(frozen=True, eq=False)
class Measurement:
    """The downstream model's class probabilities on a split's rows, with the split's
    (recorded) labels and, when those are noisy, the noise model that corrects them.
    `prior` is the clean class distribution that weighs the balanced error when
    correcting (unused without `transition`); without it, it is estimated from the
    corrected labels."""

    probabilities: NDArray[np.float64]
    labels: NDArray[np.int64]
    n_classes: int
    transition: NDArray[np.float64] | None = None
    prior: NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        n, k = len(self.labels), self.n_classes
        if self.probabilities.shape != (n, k):
            raise ValueError(
                f"probabilities must have shape ({n}, {k}), got {self.probabilities.shape}"
            )
        if n and (self.labels.min() < 0 or self.labels.max() >= k):
            raise ValueError(f"labels must lie in [0, {k})")
        if self.transition is not None and np.shape(self.transition) != (k, k):
            raise ValueError(f"transition must be {k} x {k}")
        if self.prior is not None and np.shape(self.prior) != (k,):
            raise ValueError(f"prior must have {k} entries")

    @classmethod
    def of(
        cls,
        model: Downstream,
        split: Split,
        *,
        transition: NDArray[np.float64] | None = None,
        prior: NDArray[np.float64] | None = None,
    ) -> Measurement:
        return cls(model.probabilities(split.x), split.y, model.n_classes, transition, prior)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def corrected(self) -> bool:
        return self.transition is not None

    def uncorrected(self) -> Measurement:
        """The same rows judged on their labels as recorded."""
        return replace(self, transition=None, prior=None)

    def correction(self) -> Correction | None:
        return None if self.transition is None else correction(self.transition)

    def soft_labels(self) -> NDArray[np.float64]:
        """(n, K): the one-hot labels, or their unbiased noise-corrected estimates."""
        fixed = self.correction()
        if fixed is None:
            return np.eye(self.n_classes)[self.labels]
        return fixed.inverse[self.labels]

    def predictions(self) -> NDArray[np.int64]:
        predicted: NDArray[np.int64] = np.argmax(self.probabilities, axis=1)
        return predicted

    def class_weights(self) -> NDArray[np.float64]:
        """w_c = 1 / (K share_c) over the K classes present, 0 for an absent one, so
        that the mean weighted error is 1 - balanced accuracy."""
        if self.prior is not None and self.corrected:
            shares = np.asarray(self.prior, dtype=float)
        else:
            shares = np.clip(self.soft_labels().mean(axis=0), 0.0, None)
        present = shares > 0
        weights = np.zeros(self.n_classes)
        weights[present] = 1.0 / (present.sum() * shares[present] / shares.sum())
        return weights

    def _expected(self, losses: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per row, the loss under the (soft) label, from the (n, K) losses of each
        candidate true class."""
        expected: NDArray[np.float64] = np.einsum("nk,nk->n", self.soft_labels(), losses)
        return expected

    def row_log_loss(self) -> NDArray[np.float64]:
        return self._expected(-np.log(self.probabilities))

    def row_judged_log_loss(self) -> NDArray[np.float64]:
        """The log-loss a round is judged on: plain on trusted labels; on noisy ones
        forward-corrected, -log (p T)[recorded], the log-loss of the recorded label
        under the model's clean probabilities pushed through the noise. It is proper
        for the clean posterior too (its expectation is least when p is the clean
        posterior, for an invertible T), so copying the noise does not pay; and it
        weighs no row by an entry of T^-1, so its paired changes are far less noisy
        than the backward-corrected ones, which a round must beat by a margin."""
        if self.transition is None:
            return self.row_log_loss()
        pushed = self.probabilities @ np.asarray(self.transition, dtype=float)
        chosen = np.clip(pushed[np.arange(len(self)), self.labels], PROBABILITY_FLOOR, 1)
        losses: NDArray[np.float64] = -np.log(chosen)
        return losses

    def row_brier(self) -> NDArray[np.float64]:
        p = self.probabilities
        squared = np.sum(p**2, axis=1, keepdims=True)
        # sum_k (p_k - [k = c])^2 for every candidate class c
        return self._expected(squared - 2 * p + 1)

    def row_error(self) -> NDArray[np.float64]:
        wrong = np.ones((len(self), self.n_classes))
        wrong[np.arange(len(self)), self.predictions()] = 0.0
        return self._expected(wrong)

    def row_balanced_error(self) -> NDArray[np.float64]:
        wrong = np.ones((len(self), self.n_classes))
        wrong[np.arange(len(self)), self.predictions()] = 0.0
        return self._expected(wrong * self.class_weights())

    def macro_f1(self) -> float:
        """Over the classes with rows; from the (corrected) confusion counts, with
        negative corrected counts taken as 0."""
        soft = self.soft_labels()
        confusion = np.zeros((self.n_classes, self.n_classes))  # [predicted, true]
        np.add.at(confusion, self.predictions(), soft)
        confusion = np.clip(confusion, 0.0, None)
        hits = np.diag(confusion)
        actual, predicted = confusion.sum(axis=0), confusion.sum(axis=1)
        present = actual > 0
        denominator = actual + predicted
        f1 = np.divide(2 * hits, denominator, out=np.zeros_like(hits), where=denominator > 0)
        return float(f1[present].mean()) if present.any() else float("nan")

    def scores(self) -> Scores:
        if len(self) == 0:
            nan = float("nan")
            return Scores(nan, nan, nan, nan, nan, 0, self.corrected)
        fixed = self.correction()
        return Scores(
            accuracy=1.0 - float(self.row_error().mean()),
            balanced_accuracy=1.0 - float(self.row_balanced_error().mean()),
            macro_f1=self.macro_f1(),
            log_loss=float(self.row_log_loss().mean()),
            brier=float(self.row_brier().mean()),
            rows=len(self),
            corrected=self.corrected,
            blend=0.0 if fixed is None else fixed.blend,
        )


def measure(
    train: Split,
    split: Split,
    n_classes: int,
    seed: int = 0,
    *,
    transition: NDArray[np.float64] | None = None,
    prior: NDArray[np.float64] | None = None,
) -> Measurement:
    model = fit_model(train, n_classes, seed)
    return Measurement.of(model, split, transition=transition, prior=prior)


@dataclass(frozen=True)
class PairedChange:
    """The mean of per-row differences after - before on the same rows, with its
    standard error (infinite below two rows: no margin can be claimed)."""

    mean: float
    se: float
    rows: int


def paired_change(
    before_rows: NDArray[np.float64], after_rows: NDArray[np.float64]
) -> PairedChange:
    before, after = np.asarray(before_rows, float), np.asarray(after_rows, float)
    if before.shape != after.shape or before.ndim != 1:
        raise ValueError(f"paired rows differ in shape: {before.shape}, {after.shape}")
    rows = len(before)
    if rows == 0:
        return PairedChange(float("nan"), float("inf"), 0)
    differences = after - before
    se = float(differences.std(ddof=1) / np.sqrt(rows)) if rows > 1 else float("inf")
    return PairedChange(float(differences.mean()), se, rows)
