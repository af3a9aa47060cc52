"""Gradient influence of training rows: TracIn (SGD) and LESS (Adam).

A proxy MLP over the dataset's features (numeric, vectors, text embeddings, as
`db/` prepares them) is trained with SGD or Adam while K checkpoints are kept. A
training row z is then valued against the mean validation gradient gbar_i:

    influence_sgd(z)  = sum_i eta_i <g(z; theta_i), gbar_i>
        (Pruthi et al., "Estimating training data influence by tracing gradient
        descent", NeurIPS 2020: TracIn-CP, averaged over validation rows)
    influence_adam(z) = sum_i eta_i cos(Gamma(z, theta_i), gbar_i)
        (Xia et al., "LESS: Selecting influential data for targeted instruction
        tuning", ICML 2024: Gamma is the Adam update direction)

Indicator columns (two distinct training values: a one-hot level or a yes/no
flag) are mapped back to 0 / 1 before training (`unit_indicators`). `db/`
standardises every column alike, which puts a level held by a share p of the rows
at about 1 / sqrt(p) standard deviations: the first layer's gradient of a row with
a rare level is then many times longer than the others', and an inner product with
the validation gradient ranks rows by their rarest level rather than by their label.
Numeric columns keep their standardisation.

A regression target (`Task.REGRESSION`) trains the MLP's single output on the
standardised target, (y - mean) / sd over the training rows, with the squared
error as its loss, and scores the gradients of that loss; standardising keeps the
default learning rates right whatever the target's units.

Gradients are per example (`torch.func.vmap` over `grad`) and projected to `d_proj`
dimensions with a seeded Rademacher matrix (Johnson-Lindenstrauss), streamed to disk
in fp16. Positive values help (a step on the row lowers the validation loss),
negative values hurt (they push it up); lower = more harmful. See
`valuation.influence` for the parts.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Self

import numpy as np
import torch
from numpy.typing import NDArray

from mendb.valuation._validation import InvalidParameterError, check_int, check_real
from mendb.valuation.base import ProgressCallback, Valuation
from mendb.valuation.data import TrainingArrays
from mendb.valuation.influence.pipeline import (
    InfluenceOutput,
    Variant,
    influence_values,
    resolve_device,
    scaled,
    seed_streams,
    seeded,
)
from mendb.valuation.influence.projection import jl_epsilon
from mendb.valuation.influence.training import Loss, mlp, train
from mendb.valuation.methods._sampling import resolve_seed
from mendb.valuation.result import ValuationResult
from mendb.valuation.task_support import is_regression

DEFAULT_LR: dict[Variant, float] = {"sgd": 0.05, "adam": 1e-3}
_TRAIN_SHARE = 0.2  # fraction of the progress bar given to training


def _unit_indicators(
    x_train: NDArray[np.floating], x_valid: NDArray[np.floating]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Both splits with every column that takes two values on the training rows mapped
    linearly so that those values become 0 and 1 (other columns unchanged)."""
    train = np.asarray(x_train, dtype=np.float64)
    valid = np.asarray(x_valid, dtype=np.float64)
    if len(train) == 0:
        return train, valid
    low, high = train.min(axis=0), train.max(axis=0)
    inside = (train == low) | (train == high)
    two_valued = (high > low) & inside.all(axis=0)
    span = np.where(two_valued, high - low, 1.0)
    offset = np.where(two_valued, low, 0.0)
    return (train - offset) / span, (valid - offset) / span


def _standardised(
    y_train: NDArray[Any], y_valid: NDArray[Any]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Both targets as (y - mean) / sd of the training targets (sd 1 when constant)."""
    train = np.asarray(y_train, dtype=np.float64)
    valid = np.asarray(y_valid, dtype=np.float64)
    mean = float(train.mean()) if len(train) else 0.0
    sd = float(train.std()) if len(train) else 0.0
    sd = sd if sd > 0.0 else 1.0
    return (train - mean) / sd, (valid - mean) / sd


def gradient_influence(
    x_train: NDArray[np.floating],
    y_train: NDArray[Any],
    x_valid: NDArray[np.floating],
    y_valid: NDArray[Any],
    n_classes: int,
    *,
    variant: Variant,
    seed: int,
    hidden: int = 64,
    layers: int = 1,
    epochs: int = 10,
    checkpoints: int = 4,
    d_proj: int = 8192,
    lr: float | None = None,
    batch_size: int = 64,
    workdir: str | None = None,
    device: str | None = None,
    unit_indicators: bool = True,
    valid_weights: NDArray[np.floating] | None = None,
    progress: ProgressCallback | None = None,
    regression: bool = False,
) -> InfluenceOutput:
    """Train the proxy MLP on the training rows and score each of them (module doc).

    `valid_weights` (one per validation row) weighs the validation gradient. With
    `regression` the labels are a numeric target and the loss is squared error."""
    if len(x_valid) == 0:
        raise ValueError("gradient influence needs at least one validation row")
    if len(x_train) == 0:
        return InfluenceOutput(np.zeros(0), 0, 0, ())
    for name, x, y in (("train", x_train, y_train), ("valid", x_valid, y_valid)):
        if not np.all(np.isfinite(x)):
            row = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
            raise ValueError(f"{name} row {row} has a non-finite feature; impute it first")
        if regression and not np.all(np.isfinite(y)):
            raise ValueError(f"{name} targets must be finite numbers")
        if not regression and len(y) and (np.min(y) < 0 or np.max(y) >= n_classes):
            raise ValueError(f"{name} labels must be class indices in [0, {n_classes})")
    if regression:
        y_train, y_valid = _standardised(y_train, y_valid)
    if unit_indicators:
        x_train, x_valid = _unit_indicators(x_train, x_valid)
    loss: Loss = "mse" if regression else "cross_entropy"
    where = resolve_device(device)
    init_seed, order_seed, projection_seed = seed_streams(seed)

    def tensors(
        x: NDArray[np.floating], y: NDArray[np.integer]
    ) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32), device=where)
        labels = np.asarray(y, dtype=np.float32 if regression else np.int64)
        return (xt,), torch.as_tensor(labels, device=where)

    train_set, valid_set = tensors(x_train, y_train), tensors(x_valid, y_valid)
    with seeded(init_seed, where):
        outputs = 1 if regression else max(n_classes, 1)
        model = mlp(x_train.shape[1], outputs, hidden, layers).to(where)
        trajectory = train(
            model,
            *train_set,
            optimizer=variant,
            lr=DEFAULT_LR[variant] if lr is None else lr,
            epochs=epochs,
            batch_size=batch_size,
            checkpoints=checkpoints,
            generator=torch.Generator().manual_seed(order_seed),
            progress=scaled(progress, 0.0, _TRAIN_SHARE),
            loss=loss,
        )
    return influence_values(
        model,
        trajectory,
        train_set,
        valid_set,
        variant=variant,
        d_proj=d_proj,
        seed=projection_seed,
        workdir=workdir,
        valid_weights=None
        if valid_weights is None
        else torch.as_tensor(np.asarray(valid_weights, dtype=np.float32), device=where),
        progress=scaled(progress, _TRAIN_SHARE, 1.0),
        loss=loss,
    )


class _GradientInfluence(Valuation):
    """Shared estimator; subclasses choose the optimiser and the score (`_variant`).

    `lr=None` uses the variant's default (`DEFAULT_LR`); `seed=None` draws one, and
    the seed and learning rate actually used are recorded in `result.params`. When
    training has fewer steps than `checkpoints`, one checkpoint is kept per step
    (`result.diagnostics["etas"]` lists them).
    """

    _variant: ClassVar[Variant]

    # Deliberately like gradient_influence above: the estimator takes the kernel's keywords.
    def __init__(
        self,
        hidden: int = 64,
        layers: int = 1,
        epochs: int = 10,
        checkpoints: int = 4,
        d_proj: int = 8192,
        lr: float | None = None,
        batch_size: int = 64,
        seed: int | None = None,
        workdir: str | None = None,
        device: str | None = None,
        unit_indicators: bool = True,
    ) -> None:
        # Deliberately like gradient_influence's keywords: the estimator stores them
        # unchanged (scikit-learn's rule, see valuation.base) and `_checked` passes them on.
        self.hidden = hidden
        self.layers = layers
        self.epochs = epochs
        self.checkpoints = checkpoints
        self.d_proj = d_proj
        self.lr = lr
        self.batch_size = batch_size
        self.seed = seed
        self.workdir = workdir
        self.device = device
        self.unit_indicators = unit_indicators

    def _checked(self) -> dict[str, Any]:
        """Validated parameters, with `lr` and `seed` resolved to the values used."""
        lr = DEFAULT_LR[self._variant] if self.lr is None else check_real("lr", self.lr, low=0.0)
        if not math.isfinite(lr) or lr <= 0.0:
            raise InvalidParameterError("lr", self.lr, "a finite number > 0")
        seed = resolve_seed(self.seed)
        for name in ("workdir", "device"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InvalidParameterError(name, value, "a string or None")
        if self.device is not None:
            try:
                torch.device(self.device)
            except RuntimeError:
                raise InvalidParameterError("device", self.device, "a torch device") from None
        return {
            "hidden": check_int("hidden", self.hidden, low=1),
            "layers": check_int("layers", self.layers, low=1),
            "epochs": check_int("epochs", self.epochs, low=1),
            "checkpoints": check_int("checkpoints", self.checkpoints, low=1),
            "d_proj": check_int("d_proj", self.d_proj, low=1),
            "lr": lr,
            "batch_size": check_int("batch_size", self.batch_size, low=1),
            "seed": seed,
            "workdir": self.workdir,
            "device": self.device,
            "unit_indicators": self._flag("unit_indicators"),
        }

    def _flag(self, name: str) -> bool:
        value = getattr(self, name)
        if not isinstance(value, bool):
            raise InvalidParameterError(name, value, "true or false")
        return value

    def fit(self, data: TrainingArrays, progress: ProgressCallback | None = None) -> Self:
        params = self._checked()
        out = gradient_influence(
            data.train.x,
            data.train.y,
            data.valid.x,
            data.valid.y,
            data.n_classes,
            variant=self._variant,
            progress=progress,
            regression=is_regression(data),
            **params,
        )
        projected = out.d_proj < out.n_params
        diagnostics: dict[str, Any] = {
            "n_params": out.n_params,
            "d_proj": out.d_proj,
            "etas": list(out.etas),
            # relative inner-product distortion the projection stays within (w.p. 1 - 1/n)
            "jl_epsilon": jl_epsilon(out.d_proj, len(out.values) + 1) if projected else 0.0,
        }
        if is_regression(data):
            diagnostics["loss"] = "mse (standardised target)"
        self._result = ValuationResult.exact(
            data.train.keys, out.values, self.method, params, params["seed"], diagnostics
        )
        if progress is not None:
            progress(1.0)
        return self


class InfluenceSGD(_GradientInfluence):
    """TracIn-CP with an SGD-trained proxy MLP: sum_i eta_i <g(z), gbar_i>."""

    method = "influence_sgd"
    _variant = "sgd"


class InfluenceAdam(_GradientInfluence):
    """LESS with an Adam-trained proxy MLP: sum_i eta_i cos(Gamma(z), gbar_i)."""

    method = "influence_adam"
    _variant = "adam"
