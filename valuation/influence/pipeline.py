"""From checkpoints to per-row influence: project, stream to disk, score.

For checkpoints theta_1 .. theta_K with learning rates eta_i, a training row z and
the mean validation gradient gbar_i = (1/|V|) sum_{z' in V} g(z'; theta_i):

    influence_sgd(z)  = sum_i eta_i <R^T g(z; theta_i), R^T gbar_i>          (TracIn-CP)
    influence_adam(z) = sum_i eta_i cos(R^T Gamma(z, theta_i), R^T gbar_i)   (LESS)

with R the Rademacher projection of `projection.py` (identity when k >= P). By
linearity the SGD score is the mean over validation rows of the pairwise TracIn
scores. Sign: a gradient step of size eta on z changes the validation loss by
-eta <g(z), gbar> to first order, so a positive score means the row pulls the
validation loss down (it helps) and a negative score means it pushes the validation
loss up (it hurts): lower = more harmful, as for every mendb value.

Training rows are processed in chunks sized so a chunk of full gradients stays under
`_GRAD_BUDGET` floats; their projections go to a `GradientStore` under a scratch
directory (deleted afterwards), so the number of rows is bounded by disk, not memory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from mendb.valuation.influence.gradients import adam_direction, mean_grad, per_example_grads
from mendb.valuation.influence.projection import RademacherProjection
from mendb.valuation.influence.store import GradientStore
from mendb.valuation.influence.training import Checkpoint, Loss

Variant = Literal["sgd", "adam"]
Progress = Callable[[float], None]

_GRAD_BUDGET = 1 << 24  # floats in one chunk of full per-example gradients (64 MB)
_READ_BUDGET = 1 << 24  # floats in one chunk of stored projections read back


@dataclass(frozen=True)
class InfluenceOutput:
    """Per-row influence and the figures a run records about it."""

    values: NDArray[np.float64]
    n_params: int
    d_proj: int
    etas: tuple[float, ...]


def resolve_device(device: str | None) -> torch.device:
    """`None` picks the GPU when one is present, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_streams(seed: int) -> tuple[int, int, int]:
    """Independent seeds for initialisation/dropout, batch order and the projection."""
    states = [s.generate_state(1)[0] for s in np.random.SeedSequence(seed).spawn(3)]
    return int(states[0]), int(states[1]), int(states[2])


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global RNGs inside, and restore the caller's state afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def scaled(progress: Progress | None, low: float, high: float) -> Progress | None:
    """Map a sub-task's fraction in [0, 1] to [low, high] of the whole."""
    if progress is None:
        return None
    return lambda fraction: progress(low + (high - low) * fraction)


def influence_values(
    model: nn.Module,
    checkpoints: list[Checkpoint],
    train: tuple[tuple[Tensor, ...], Tensor],
    valid: tuple[tuple[Tensor, ...], Tensor],
    *,
    variant: Variant,
    d_proj: int,
    seed: int,
    workdir: str | None = None,
    max_chunk: int | None = None,
    valid_weights: Tensor | None = None,
    progress: Progress | None = None,
    loss: Loss = "cross_entropy",
) -> InfluenceOutput:
    """Score every training row against the mean validation gradient (see module doc).

    `max_chunk` caps the rows per chunk further, for models whose activations, not
    their gradients, bound memory (a transformer under `vmap`). `valid_weights`, one
    per validation row, makes gbar_i the weighted mean of the validation gradients.
    `loss` is the training loss (`training.loss_of`) whose gradients are scored.
    """
    (train_inputs, y_train), (valid_inputs, y_valid) = train, valid
    n = len(y_train)
    names = list(checkpoints[0].params)
    n_params = sum(p.numel() for p in checkpoints[0].params.values())
    projection = RademacherProjection(n_params, d_proj, seed)
    chunk = max(1, min(n, _GRAD_BUDGET // n_params, max_chunk or n))
    values = np.zeros(n)
    total_chunks = len(checkpoints) * -(-n // chunk)
    done = 0
    model.eval()
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(
        prefix="mendb-influence-", dir=workdir, ignore_cleanup_errors=True
    ) as scratch:
        store = GradientStore(scratch, n, projection.n_out)
        for i, checkpoint in enumerate(checkpoints):
            params = checkpoint.params
            full = mean_grad(model, params, valid_inputs, y_valid, chunk, valid_weights, loss)
            gbar = projection(full[None])[0]
            store.create(i)
            for start in range(0, n, chunk):
                part = tuple(t[start : start + chunk] for t in train_inputs)
                g = per_example_grads(model, params, part, y_train[start : start + chunk], loss)
                if variant == "adam":
                    g = adam_direction(g, checkpoint, names)
                store.write(i, start, projection(g))
                done += 1
                if progress is not None:
                    progress(done / total_chunks)
            values += checkpoint.lr * _score(store, i, gbar.cpu().numpy(), variant)
    etas = tuple(c.lr for c in checkpoints)
    return InfluenceOutput(values, n_params, projection.n_out, etas)


def _score(
    store: GradientStore, checkpoint: int, gbar: NDArray[np.float32], variant: Variant
) -> NDArray[np.float64]:
    """<stored row, gbar> for SGD; cos(stored row, gbar) for Adam."""
    out = np.zeros(store.n_rows)
    gbar_norm = float(np.linalg.norm(gbar))
    if gbar_norm == 0.0:
        return out
    direction = (gbar / gbar_norm).astype(np.float32)
    rows = max(1, _READ_BUDGET // store.dim)
    for start, units, norms in store.chunks(checkpoint, rows):
        cosine = units @ direction
        stop = start + len(units)
        out[start:stop] = cosine if variant == "adam" else norms * gbar_norm * cosine
    return out
