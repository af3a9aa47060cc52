"""Proxy models a utility trains on a subset of rows.

`LogisticProxy` is the default: L2-regularised logistic regression (binary or
multinomial) solved by Newton's method from zero, so that the fitted model, and
hence u(S), is a deterministic function of the *set* S. That is what lets a cache
of utilities be shared between samples and keeps values independent of how work
is split between workers. It minimises, like scikit-learn's
`LogisticRegression(C=c)`,

    sum_i log-loss(x_i, y_i; W, b) + 1 / (2 c) * |W|^2   (+ a 1e-6 ridge on b).

`TorchProxy` wraps any `torch.nn.Module` mapping features to class logits; every
fit starts from the module's initial weights and runs full-batch Adam.

For a regression target the default proxy is scikit-learn's `Ridge(alpha=1)`,
solved in closed form, so u(S) is again a function of the set S.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self

import numpy as np
from numpy.typing import NDArray

from mendb.valuation.errors import InvalidParameterError
from mendb.valuation.models import model_spec

if TYPE_CHECKING:
    import torch

_BIAS_RIDGE = 1e-6


class LogisticProxy:
    """Logistic regression fitted by damped Newton steps (sklearn-style fit/predict)."""

    def __init__(self, c: float = 1.0, max_iter: int = 50, tol: float = 1e-8) -> None:
        self.c = c
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, x: NDArray[np.floating], y: NDArray[np.integer]) -> Self:
        self.classes_, codes = np.unique(y, return_inverse=True)
        xb = np.hstack([x, np.ones((len(x), 1))])
        k = len(self.classes_)
        targets = np.eye(k)[codes][:, 1:] if k > 2 else codes[:, None].astype(np.float64)
        ridge = np.full(xb.shape[1], 1.0 / self.c)
        ridge[-1] = _BIAS_RIDGE
        self.coef_ = _newton(xb, targets, np.tile(ridge, targets.shape[1]), self.max_iter, self.tol)
        return self

    def decision_function(self, x: NDArray[np.floating]) -> NDArray[np.float64]:
        scores = x @ self.coef_[:-1] + self.coef_[-1]
        return np.hstack([np.zeros((len(x), 1)), scores])

    def predict(self, x: NDArray[np.floating]) -> NDArray[np.int64]:
        predicted: NDArray[np.int64] = self.classes_[np.argmax(self.decision_function(x), axis=1)]
        return predicted


def _loss(
    xb: NDArray[np.float64],
    t: NDArray[np.float64],
    w: NDArray[np.float64],
    ridge: NDArray[np.float64],
) -> tuple[float, NDArray[np.float64]]:
    """Softmax loss with class 0 as the reference (logit 0); returns (loss, probs)."""
    z = np.hstack([np.zeros((len(xb), 1)), xb @ w.reshape(t.shape[1], -1).T])
    z -= z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))
    logp = z - log_norm
    nll = -(logp[:, 1:] * t).sum() - (logp[:, 0] * (1.0 - t.sum(axis=1))).sum()
    return float(nll + 0.5 * (ridge * w * w).sum()), np.exp(logp[:, 1:])


def _newton(
    xb: NDArray[np.float64],
    t: NDArray[np.float64],
    ridge: NDArray[np.float64],
    max_iter: int,
    tol: float,
) -> NDArray[np.float64]:
    """Minimise the regularised softmax loss; returns coefficients of shape (d+1, k-1)."""
    n_out, dim = t.shape[1], xb.shape[1]
    w = np.zeros(n_out * dim)
    loss, p = _loss(xb, t, w, ridge)
    for _ in range(max_iter):
        grad = ((p - t).T @ xb).reshape(-1) + ridge * w
        hess = np.empty((n_out * dim, n_out * dim))
        for a in range(n_out):
            for b in range(n_out):
                s = p[:, a] * ((a == b) - p[:, b])
                hess[a * dim : (a + 1) * dim, b * dim : (b + 1) * dim] = (xb * s[:, None]).T @ xb
        hess[np.diag_indices_from(hess)] += ridge
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while True:
            new_loss, new_p = _loss(xb, t, w - scale * step, ridge)
            if new_loss <= loss or scale < 1e-4:
                break
            scale *= 0.5
        w, loss, p = w - scale * step, new_loss, new_p
        if np.abs(scale * step).max() < tol:
            break
    return w.reshape(n_out, dim).T


class TorchProxy:
    """Any torch module mapping (rows, features) to (rows, n_classes) logits.

    Labels must be the global class indices; each fit restarts from the module's
    weights as given, so u(S) stays a function of S.
    """

    def __init__(self, module: torch.nn.Module, epochs: int = 100, lr: float = 0.05) -> None:
        import torch  # noqa: F401  (torch is imported only when a module is given)

        self.module = module
        self.epochs = epochs
        self.lr = lr

    def fit(self, x: NDArray[np.floating], y: NDArray[np.integer]) -> Self:
        import torch

        self.fitted_ = copy.deepcopy(self.module)
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
        yt = torch.as_tensor(np.asarray(y, dtype=np.int64))
        optimiser = torch.optim.Adam(self.fitted_.parameters(), lr=self.lr)
        for _ in range(self.epochs):
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.fitted_(xt), yt)
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
            optimiser.step()
        return self

    def predict(self, x: NDArray[np.floating]) -> NDArray[np.int64]:
        import torch

        with torch.no_grad():
            logits = self.fitted_(torch.as_tensor(np.asarray(x, dtype=np.float32)))
        predicted: NDArray[np.int64] = logits.argmax(dim=1).numpy().astype(np.int64)
        return predicted


def fresh_model(model: Any) -> Any:
    """An unfitted copy of a proxy: sklearn's clone where it applies, else a deep copy."""
    if model is None:
        return LogisticProxy()
    torch = sys.modules.get("torch")  # a module instance means torch is already loaded
    if torch is not None and isinstance(model, torch.nn.Module):
        return TorchProxy(model)
    if hasattr(model, "get_params"):
        from sklearn.base import clone

        return clone(model)
    return copy.deepcopy(model)


def fresh_regressor(model: Any) -> Any:
    """An unfitted regressor: ridge regression (`Ridge(alpha=1)`) when none is given,
    else a copy of the one given (`fresh_model`'s rules, but no torch module: a
    module's outputs are class logits here)."""
    if model is None:
        from sklearn.linear_model import Ridge

        return Ridge(alpha=1.0)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        raise InvalidParameterError(
            "model",
            repr(model),
            "a regressor with fit/predict (a torch module here gives class logits)",
        )
    return fresh_model(model)


def user_model(model: Any, model_params: Mapping[str, Any] | None) -> Any:
    """The model a method fits. When `model` is an import path
    ("package.module:Class"), the user's estimator built with `model_params`
    (`valuation.models.ModelSpec`, checked at once: `InvalidModel`); otherwise
    `model` as given (None, a name the method knows, or an estimator object), and
    `model_params` must be empty."""
    if isinstance(model, str) and ":" in model:
        return model_spec(model, model_params).build()
    if model_params:
        raise InvalidParameterError(
            "model_params", dict(model_params), "empty unless model is package.module:Class"
        )
    return model
