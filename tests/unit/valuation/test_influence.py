"""Gradient influence (TracIn / LESS): gradients, projection, store and scores."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from mendb.valuation import Split, TrainingArrays
from mendb.valuation._validation import InvalidParameterError
from mendb.valuation.influence.gradients import adam_direction, mean_grad, per_example_grads
from mendb.valuation.influence.projection import RademacherProjection, jl_epsilon
from mendb.valuation.influence.store import GradientStore
from mendb.valuation.influence.training import Checkpoint, mlp, train, trainable
from mendb.valuation.methods.influence import (
    InfluenceAdam,
    InfluenceSGD,
    _unit_indicators,
    gradient_influence,
)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """These tensors are tiny: a second intra-op thread only adds contention on a busy CI box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def blobs(rng: np.random.Generator, n: int, d: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Two well-separated Gaussian classes."""
    y = rng.integers(0, 2, n)
    return rng.normal(size=(n, d)) + np.where(y[:, None] == 1, 3.0, -3.0), y


def small_model(seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    model = mlp(5, 3, hidden=7, layers=2)
    return model, torch.randn(13, 5), torch.randint(0, 3, (13,))


def test_vmap_gradients_equal_a_loop_over_examples() -> None:
    model, x, y = small_model()
    params = {k: v.detach() for k, v in trainable(model).items()}
    batched = per_example_grads(model, params, (x,), y)
    for i in range(len(y)):
        model.zero_grad()
        nn.functional.cross_entropy(model(x[i : i + 1]), y[i : i + 1]).backward()
        expected = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        torch.testing.assert_close(batched[i], expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(mean_grad(model, params, (x,), y, 4), batched.mean(0))


def test_adam_direction_is_the_step_torch_adam_takes() -> None:
    model, x, y = small_model(1)
    gen = torch.Generator().manual_seed(0)
    (ckpt,) = train(model, (x,), y, optimizer="adam", lr=0.01, epochs=2, batch_size=4,
                    checkpoints=1, generator=gen)  # fmt: skip
    names = list(ckpt.params)
    g = per_example_grads(model, ckpt.params, (x[:1],), y[:1])
    params = {n: p.detach().clone().requires_grad_(True) for n, p in ckpt.params.items()}
    opt = torch.optim.Adam(params.values(), lr=0.5)
    pieces = g[0].split([p.numel() for p in params.values()])
    for (n, p), piece in zip(params.items(), pieces, strict=True):
        p.grad = piece.reshape(p.shape)
        opt.state[p] = {
            "step": torch.tensor(float(ckpt.step)),
            "exp_avg": ckpt.exp_avg[n].clone(),
            "exp_avg_sq": ckpt.exp_avg_sq[n].clone(),
        }
    opt.step()  # one real Adam step on the single example, from the checkpoint's state
    step = torch.cat([(params[n] - ckpt.params[n]).reshape(-1) for n in names])
    torch.testing.assert_close(step, -0.5 * adam_direction(g, ckpt, names)[0])


def test_projection_preserves_inner_products_within_the_jl_bound() -> None:
    rng = np.random.default_rng(0)
    n, p, k = 30, 5000, 2048
    x = torch.from_numpy(rng.normal(size=(n, p)).astype(np.float32))
    x[1:10] += 2 * x[0]  # some strongly correlated pairs, not only near-orthogonal ones
    x /= torch.linalg.vector_norm(x, dim=1, keepdim=True)
    z = RademacherProjection(p, k, seed=7)(x)
    # Norms of x_a +- x_b preserved to (1 +- eps) gives |<Rx_a, Rx_b> - <x_a, x_b>| <= eps.
    eps = jl_epsilon(k, n * n)
    error = (z @ z.T - x @ x.T).abs().max().item()
    assert 0 < error <= eps < 0.5


def test_projection_tiles_are_seeded_and_chunk_independent() -> None:
    p, k = 4096 + 37, 600  # two row tiles, two column tiles
    proj = RademacherProjection(p, k, seed=3, dtype=torch.float32)
    matrix = proj(torch.eye(p)) * math.sqrt(k)
    assert set(matrix.unique().tolist()) == {-1.0, 1.0}
    assert abs(matrix.mean().item()) < 0.01
    g = torch.randn(10, p)
    whole = proj(g)
    torch.testing.assert_close(torch.cat([proj(g[:3]), proj(g[3:])]), whole, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(RademacherProjection(p, k, 3, torch.float32)(g), whole)
    assert not torch.allclose(RademacherProjection(p, k, 4, torch.float32)(g), whole)
    fast = RademacherProjection(p, k, seed=3, dtype=torch.bfloat16)(g)
    assert ((fast - whole).norm() / whole.norm()).item() < 1e-2  # same matrix, rounded inputs
    assert RademacherProjection(20, 8192, seed=3).n_out == 20
    torch.testing.assert_close(RademacherProjection(20, 8192, seed=3)(g[:, :20]), g[:, :20])


def test_store_round_trips_rows_in_fp16(tmp_path: Path) -> None:
    rows = torch.randn(25, 6) * torch.logspace(-9, 6, 25).unsqueeze(1)
    rows[4] = 0.0
    store = GradientStore(tmp_path, 25, 6)
    store.create(0)
    store.write(0, 0, rows[:10])
    store.write(0, 10, rows[10:])
    back = [(s, u * nrm[:, None]) for s, u, nrm in store.chunks(0, 7)]
    assert [s for s, _ in back] == [0, 7, 14, 21]
    restored = torch.from_numpy(np.concatenate([r for _, r in back]))
    torch.testing.assert_close(restored, rows, rtol=2e-3, atol=0.0)
    store.remove()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("variant", ["sgd", "adam"])
def test_training_copy_of_the_validation_row_has_a_large_positive_influence(
    variant: str,
) -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(150, 4)), rng.integers(0, 2, 150)  # noisy: nothing is fit exactly
    xv, yv = x[:1].copy(), y[:1].copy()
    values = gradient_influence(x, y, xv, yv, 2, variant=variant, seed=0, hidden=16, epochs=5)
    assert values.values[0] > 0
    assert (values.values > values.values[0]).sum() <= 7  # in the top 5%


def test_flipped_labels_get_negative_influence_on_a_separable_problem() -> None:
    rng = np.random.default_rng(0)
    x, y = blobs(rng, 200)
    xv, yv = blobs(rng, 60)
    flipped = rng.choice(200, 20, replace=False)
    y[flipped] ^= 1
    bad = np.isin(np.arange(200), flipped)
    kw = {"seed": 1, "hidden": 16, "epochs": 20, "batch_size": 32}
    sgd = gradient_influence(x, y, xv, yv, 2, variant="sgd", **kw).values
    assert sgd[bad].mean() < 0 < sgd[~bad].min()
    # LESS's Gamma carries the shared momentum beta1 * m, which points along the
    # validation gradient early in training, so every Adam score is shifted up by it;
    # the per-row part still ranks the flipped rows first.
    adam = gradient_influence(x, y, xv, yv, 2, variant="adam", **kw).values
    assert adam[bad].mean() < adam[~bad].mean()
    assert roc_auc_score(bad, -adam) > 0.95


def arrays(seed: int = 0, n: int = 120) -> TrainingArrays:
    rng = np.random.default_rng(seed)

    def split(m: int) -> Split:
        x, y = blobs(rng, m, 3)
        return Split(x, y, np.arange(m).astype(object))

    return TrainingArrays(split(n), split(30), split(30), ("a", "b"), ("f1", "f2", "f3"))


@pytest.mark.parametrize("cls", [InfluenceSGD, InfluenceAdam])
def test_same_seed_same_scores_and_the_seed_is_recorded(cls: type, tmp_path: Path) -> None:
    data = arrays()
    kw = {"hidden": 8, "epochs": 2, "d_proj": 16, "workdir": str(tmp_path)}  # projected: P=50
    first = cls(seed=5, **kw).fit(data).result
    again = cls(seed=5, **kw).fit(data).result
    np.testing.assert_array_equal(first.values, again.values)
    assert first.seed == 5 and first.params["seed"] == 5 and first.diagnostics["d_proj"] == 16
    assert not np.array_equal(cls(seed=6, **kw).fit(data).result.values, first.values)
    drawn = cls(**kw).fit(data).result
    assert isinstance(drawn.seed, int) and drawn.params["seed"] == drawn.seed
    replay = cls(**{**kw, "seed": drawn.seed}).fit(data).result
    np.testing.assert_array_equal(replay.values, drawn.values)
    assert list(tmp_path.iterdir()) == []  # scratch files are removed


def test_chunking_does_not_change_the_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    data = arrays(2)
    method = InfluenceSGD(hidden=8, epochs=2, d_proj=16, seed=0)
    whole = method.fit(data).result.values
    monkeypatch.setattr("mendb.valuation.influence.pipeline._GRAD_BUDGET", 50 * 7)
    monkeypatch.setattr("mendb.valuation.influence.pipeline._READ_BUDGET", 16 * 5)
    np.testing.assert_allclose(method.fit(data).result.values, whole, rtol=1e-5, atol=1e-9)


def test_result_is_keyed_by_row_and_progress_reaches_one() -> None:
    seen: list[float] = []
    result = InfluenceAdam(hidden=4, epochs=2, seed=0).fit(arrays(), seen.append).result
    assert result.method == "influence_adam" and list(result.row_keys) == list(range(120))
    assert seen == sorted(seen) and seen[-1] == 1.0 and 0 < seen[0] < 1
    assert result.params["lr"] == 1e-3 and len(result.diagnostics["etas"]) == 4
    assert np.all(np.diff(result.diagnostics["etas"]) < 0)  # the schedule decays


@pytest.mark.parametrize(
    "params,named",
    [
        ({"hidden": 0}, "hidden=0"),
        ({"lr": -1.0}, "lr=-1.0"),
        ({"lr": float("nan")}, "lr=nan"),
        ({"d_proj": 1.5}, "d_proj"),
        ({"seed": -2}, "seed=-2"),
        ({"workdir": 3}, "workdir"),
        ({"device": "nope"}, "device"),
    ],
)
def test_invalid_parameters_are_named(params: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        InfluenceSGD(**params).fit(arrays())


def test_checkpoint_is_a_plain_snapshot() -> None:
    model, x, y = small_model()
    ckpts = train(model, (x,), y, optimizer="sgd", lr=0.1, epochs=3, batch_size=5,
                  checkpoints=2, generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert [c.step for c in ckpts] == [4, 9] and all(isinstance(c, Checkpoint) for c in ckpts)
    assert not ckpts[0].exp_avg and ckpts[0].lr > ckpts[1].lr > 0
    assert not torch.equal(ckpts[0].params["0.weight"], ckpts[1].params["0.weight"])


def test_bad_rows_are_named() -> None:
    x, y = np.zeros((5, 2)), np.zeros(5, dtype=int)
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="train row 3"):
        gradient_influence(x, y, x[:2] * 0, y[:2], 2, variant="sgd", seed=0)
    with pytest.raises(ValueError, match="valid labels"):
        gradient_influence(
            np.zeros((5, 2)), y, np.zeros((2, 2)), y[:2] + 2, 2, variant="sgd", seed=0
        )


def test_weighted_validation_gradient_is_the_weighted_mean_of_per_example_gradients() -> None:
    model, x, y = small_model(2)
    params = {k: v.detach() for k, v in trainable(model).items()}
    rows = per_example_grads(model, params, (x,), y)
    weights = torch.arange(1, len(y) + 1, dtype=torch.float32)
    expected = (weights[:, None] * rows).sum(0) / weights.sum()
    torch.testing.assert_close(mean_grad(model, params, (x,), y, 4, weights), expected)


def test_standardised_indicator_columns_are_mapped_back_to_zero_and_one() -> None:
    level = np.array([0.0] * 9 + [1.0])  # a one-hot level held by a tenth of the rows
    numeric = np.linspace(-1.0, 2.0, 10)
    x = np.column_stack([(level - level.mean()) / level.std(), numeric, np.full(10, 3.0)])
    valid = x[[9, 0]]
    x_train, x_valid = _unit_indicators(x, valid)
    np.testing.assert_allclose(x_train[:, 0], level)
    np.testing.assert_allclose(x_valid[:, 0], [1.0, 0.0])
    np.testing.assert_array_equal(x_train[:, 1:], x[:, 1:])  # numeric and constant: as given
    np.testing.assert_array_equal(x_valid[:, 1:], valid[:, 1:])


def test_unit_indicators_is_a_recorded_parameter() -> None:
    data = arrays()
    assert InfluenceSGD(seed=0, epochs=1).fit(data).result.params["unit_indicators"] is True
    with pytest.raises(InvalidParameterError, match="unit_indicators"):
        InfluenceSGD(seed=0, unit_indicators="yes").fit(data)  # type: ignore[arg-type]
