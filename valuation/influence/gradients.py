"""Per-example loss gradients with `torch.func`, flattened to rows of a matrix.

For a model f with trainable parameters theta and the loss l (cross-entropy, or
the squared error for a regression target: `training.loss_of`),

    g(z; theta) = d l(f(x; theta), y) / d theta        (one row per example z = (x, y))

is computed for a whole chunk at once as `vmap(grad(l))` over
`torch.func.functional_call`, the batched form of a loop over examples (the tests
check it against that loop). Frozen parameters and buffers are passed as constants.
The mean validation gradient is the gradient of the mean loss, summed over chunks.

LESS's Adam update direction for a training example (Xia et al. 2024, eq. 2):

    m' = beta1 m + (1 - beta1) g,      v' = beta2 v + (1 - beta2) g^2,
    Gamma(z, theta) = m'_hat / (sqrt(v'_hat) + eps),
    m'_hat = m' / (1 - beta1^(t+1)),   v'_hat = v' / (1 - beta2^(t+1)).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from mendb.valuation.influence.training import ADAM_BETAS, ADAM_EPS, Checkpoint, Loss, loss_of


def flatten(grads: dict[str, Tensor], names: list[str]) -> Tensor:
    """Concatenate per-example gradients (B x shape) into a B x P matrix, in `names` order."""
    return torch.cat([grads[name].reshape(grads[name].shape[0], -1) for name in names], dim=1)


def flat_vector(tensors: dict[str, Tensor], names: list[str]) -> Tensor:
    """Concatenate one value per parameter into a vector of length P."""
    return torch.cat([tensors[name].reshape(-1) for name in names])


def _constants(model: nn.Module, params: dict[str, Tensor]) -> dict[str, Tensor]:
    frozen = {n: p.detach() for n, p in model.named_parameters() if n not in params}
    frozen.update({n: b for n, b in model.named_buffers()})
    return frozen


def per_example_grads(
    model: nn.Module,
    params: dict[str, Tensor],
    inputs: tuple[Tensor, ...],
    y: Tensor,
    loss_kind: Loss = "cross_entropy",
) -> Tensor:
    """B x P matrix of g(z_b; params) for the B examples of (inputs, y)."""
    constants = _constants(model, params)

    def loss(p: dict[str, Tensor], *example: Tensor) -> Tensor:
        *xs, label = example
        logits = functional_call(model, (p, constants), tuple(x.unsqueeze(0) for x in xs))
        return loss_of(loss_kind, logits, label.unsqueeze(0))

    in_dims = (None, *([0] * (len(inputs) + 1)))
    grads = vmap(grad(loss), in_dims=in_dims)(params, *inputs, y)
    return flatten(grads, list(params))


def mean_grad(
    model: nn.Module,
    params: dict[str, Tensor],
    inputs: tuple[Tensor, ...],
    y: Tensor,
    chunk: int,
    weights: Tensor | None = None,
    loss_kind: Loss = "cross_entropy",
) -> Tensor:
    """Gradient of the mean loss over all examples, as a vector of length P; with
    `weights` (one per example), of the weighted mean sum_b w_b l_b / sum_b w_b."""
    constants = _constants(model, params)
    n = len(y)
    w = torch.ones(n, device=y.device) if weights is None else weights.to(torch.float32)
    total_weight = w.sum()

    def summed(p: dict[str, Tensor], *batch: Tensor) -> Tensor:
        *xs, labels, row_weights = batch
        logits = functional_call(model, (p, constants), tuple(xs))
        losses = loss_of(loss_kind, logits, labels, reduction="none")
        return (row_weights * losses).sum() / total_weight

    total: Tensor | None = None
    for start in range(0, n, chunk):
        stop = start + chunk
        part = grad(summed)(params, *(t[start:stop] for t in inputs), y[start:stop], w[start:stop])
        vector = flat_vector(part, list(params))
        total = vector if total is None else total + vector
    assert total is not None
    return total


def adam_direction(g: Tensor, checkpoint: Checkpoint, names: list[str]) -> Tensor:
    """Rows of Gamma(z, theta_i) from rows of g, with the checkpoint's Adam moments."""
    beta1, beta2 = ADAM_BETAS
    m = flat_vector(checkpoint.exp_avg, names).to(g.device)
    v = flat_vector(checkpoint.exp_avg_sq, names).to(g.device)
    t = checkpoint.step + 1
    m_new = (beta1 * m + (1.0 - beta1) * g) / (1.0 - beta1**t)
    v_new = (beta2 * v + (1.0 - beta2) * g.square()) / (1.0 - beta2**t)
    return m_new / (v_new.sqrt() + ADAM_EPS)
