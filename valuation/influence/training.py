"""Train a proxy network and keep a few checkpoints of its trajectory.

TracIn (Pruthi et al., "Estimating training data influence by tracing gradient
descent", NeurIPS 2020) and LESS (Xia et al., "LESS: Selecting influential data for
targeted instruction tuning", ICML 2024) replace the whole trajectory by K
checkpoints theta_1 .. theta_K, each standing for the steps since the previous one
and weighted by eta_i, the mean learning rate over those steps. The schedule decays
linearly from `lr` to 0 (as in LESS's warm-up runs). For Adam, a checkpoint also keeps
the optimiser's moments m_i, v_i and step t_i, which LESS needs for the update
direction Gamma(z, theta_i).

Randomness (initialisation, shuffling, dropout) comes from one seed, under
`torch.random.fork_rng`, so the caller's global RNG state is left untouched.

The loss is the cross-entropy of class logits, or for a regression target
(`loss="mse"`) the squared error of the network's single output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

Optimizer = Literal["sgd", "adam"]
Loss = Literal["cross_entropy", "mse"]
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


@dataclass(frozen=True)
class Checkpoint:
    """Trainable parameters at one point of training, with what scoring needs."""

    params: dict[str, Tensor]
    lr: float
    step: int
    exp_avg: dict[str, Tensor] = field(default_factory=dict)
    exp_avg_sq: dict[str, Tensor] = field(default_factory=dict)


def mlp(n_features: int, n_classes: int, hidden: int, layers: int) -> nn.Sequential:
    """`layers` hidden ReLU layers of width `hidden`, then a linear layer to the logits."""
    modules: list[nn.Module] = []
    width = n_features
    for _ in range(layers):
        modules += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    modules.append(nn.Linear(width, n_classes))
    return nn.Sequential(*modules)


def loss_of(kind: Loss, outputs: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy of logits against class indices, or the squared error of a
    single output against float targets."""
    if kind == "mse":
        return nn.functional.mse_loss(outputs.squeeze(-1), targets, reduction=reduction)
    return nn.functional.cross_entropy(outputs, targets, reduction=reduction)


def trainable(model: nn.Module) -> dict[str, Tensor]:
    """The parameters that receive gradients, by name, in a fixed order."""
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def checkpoint_steps(total_steps: int, checkpoints: int) -> list[int]:
    """Steps after which to save: evenly spaced, the last one at the end of training."""
    steps = sorted({max(1, round(total_steps * (i + 1) / checkpoints)) for i in range(checkpoints)})
    return steps


def train(
    model: nn.Module,
    inputs: tuple[Tensor, ...],
    y: Tensor,
    *,
    optimizer: Optimizer,
    lr: float,
    epochs: int,
    batch_size: int,
    checkpoints: int,
    generator: torch.Generator,
    progress: Callable[[float], None] | None = None,
    loss: Loss = "cross_entropy",
) -> list[Checkpoint]:
    """Minimise the mean `loss` of `model(*inputs)` and return K checkpoints.

    `inputs` and `y` share their first dimension and sit on the model's device;
    `generator` (a CPU generator) orders the mini-batches.
    """
    n = len(y)
    params = trainable(model)
    per_epoch = max(1, -(-n // batch_size))
    total = per_epoch * epochs
    save_at = checkpoint_steps(total, checkpoints)
    opt: torch.optim.Optimizer
    if optimizer == "adam":
        opt = torch.optim.Adam(params.values(), lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS)
    else:
        opt = torch.optim.SGD(params.values(), lr=lr)
    saved: list[Checkpoint] = []
    lr_sum, lr_count, step = 0.0, 0, 0
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).to(y.device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            step_lr = lr * (1.0 - step / total)
            for group in opt.param_groups:
                group["lr"] = step_lr
            opt.zero_grad(set_to_none=True)
            logits = model(*(t[idx] for t in inputs))
            batch_loss = loss_of(loss, logits, y[idx])
            batch_loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
            opt.step()
            step += 1
            lr_sum, lr_count = lr_sum + step_lr, lr_count + 1
            if step in save_at:
                saved.append(_snapshot(params, opt, optimizer, lr_sum / lr_count, step))
                lr_sum, lr_count = 0.0, 0
            if progress is not None:
                progress(step / total)
    model.eval()
    return saved


def _snapshot(
    params: dict[str, Tensor],
    opt: torch.optim.Optimizer,
    optimizer: Optimizer,
    eta: float,
    step: int,
) -> Checkpoint:
    values = {name: p.detach().clone() for name, p in params.items()}
    if optimizer != "adam":
        return Checkpoint(values, eta, step)
    state = {name: opt.state[p] for name, p in params.items()}
    return Checkpoint(
        values,
        eta,
        step,
        exp_avg={name: s["exp_avg"].detach().clone() for name, s in state.items()},
        exp_avg_sq={name: s["exp_avg_sq"].detach().clone() for name, s in state.items()},
    )
