"""LAVA: the Sinkhorn solver against exact OT and its own optimality conditions, and
the values on small problems whose harmful rows are known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from mendb.valuation import Split, TrainingArrays
from mendb.valuation._validation import InvalidParameterError
from mendb.valuation.methods import METHODS, make_valuation
from mendb.valuation.methods import lava as lava_module
from mendb.valuation.methods.lava import LAVA, matrix_cost, sinkhorn, sq_distances


def exact_ot(c: np.ndarray) -> tuple[np.ndarray, float]:
    """The optimal plan and cost between uniform measures, as a linear program."""
    n, m = c.shape
    rows = np.kron(np.eye(n), np.ones(m))
    cols = np.kron(np.ones(n), np.eye(m))
    res = linprog(
        c.ravel(),
        A_eq=np.vstack([rows, cols]),
        b_eq=np.r_[np.full(n, 1 / n), np.full(m, 1 / m)],
        bounds=(0, None),
        method="highs",
    )
    assert res.status == 0
    return res.x.reshape(n, m), float(res.fun)


def plan(c: np.ndarray, f: np.ndarray, g: np.ndarray, eps: float) -> np.ndarray:
    n, m = c.shape
    return np.exp((f[:, None] + g[None, :] - c) / eps) / (n * m)


def arrays(x, y, xv, yv, k: int = 2) -> TrainingArrays:
    def split(a, b):
        return Split(np.asarray(a, float), np.asarray(b), np.arange(len(b)).astype(object))

    return TrainingArrays(
        split(x, y),
        split(xv, yv),
        split(xv, yv),
        tuple(str(c) for c in range(k)),
        tuple(f"f{j}" for j in range(x.shape[1])),
    )


def blobs(seed: int = 0, n: int = 40, m: int = 30) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    centres = np.array([[-3.0, 0.0], [3.0, 0.0]])
    y, yv = np.arange(n) % 2, np.arange(m) % 2
    return (centres[y] + rng.normal(size=(n, 2)), y, centres[yv] + rng.normal(size=(m, 2)), yv)


@pytest.mark.parametrize("n,m,seed", [(4, 5, 0), (6, 3, 1), (5, 5, 2)])
def test_small_epsilon_matches_the_exact_transport(n: int, m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = sq_distances(rng.normal(size=(n, 2)), rng.normal(size=(m, 2)))
    exact, value = exact_ot(c)
    eps = 1e-4 * c.max()
    pot = sinkhorn(matrix_cost(c), n, m, eps, scale=float(c.max()), max_iter=100_000, tol=1e-10)
    assert pot.converged
    p = plan(c, pot.f, pot.g, eps)
    np.testing.assert_allclose(p, exact, atol=2e-3)
    assert pot.dual == pytest.approx(value, abs=1e-3 * c.max())
    # The potentials are (up to eps) an optimal dual pair: feasible, tight on the plan.
    slack = c - pot.f[:, None] - pot.g[None, :]
    assert slack.min() > -10 * eps
    assert np.all(np.abs(slack[exact > 1e-6]) < 10 * eps)


def test_balanced_potentials_meet_the_marginals() -> None:
    rng = np.random.default_rng(3)
    c = sq_distances(rng.normal(size=(7, 3)), rng.normal(size=(4, 3)))
    eps = 0.5
    pot = sinkhorn(matrix_cost(c), 7, 4, eps, scale=float(c.max()), tol=1e-12, max_iter=10_000)
    p = plan(c, pot.f, pot.g, eps)
    np.testing.assert_allclose(p.sum(axis=1), np.full(7, 1 / 7), rtol=1e-9)
    np.testing.assert_allclose(p.sum(axis=0), np.full(4, 1 / 4), rtol=1e-9)


def test_unbalanced_potentials_meet_the_first_order_conditions() -> None:
    # KL-relaxed marginals: at the optimum f = -rho log(P 1 / a), g = -rho log(P^T 1 / b).
    rng = np.random.default_rng(4)
    c = sq_distances(rng.normal(size=(6, 2)), rng.normal(size=(5, 2)))
    c[0] += 50.0  # a far row: transported only in part
    eps, rho = 0.3, 2.0
    pot = sinkhorn(
        matrix_cost(c), 6, 5, eps, scale=float(c.max()), reach=rho, tol=1e-12, max_iter=100_000
    )
    assert pot.converged
    p = plan(c, pot.f, pot.g, eps)
    np.testing.assert_allclose(pot.f, -rho * np.log(p.sum(axis=1) * 6), atol=1e-8)
    np.testing.assert_allclose(pot.g, -rho * np.log(p.sum(axis=0) * 5), atol=1e-8)
    assert p[0].sum() < 0.1 / 6


def test_row_blocks_give_the_cached_result(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y, xv, yv = blobs(5)
    data = arrays(x, y, xv, yv)
    cached = LAVA(seed=0).fit(data).result.values
    monkeypatch.setattr(lava_module, "_CACHE", 0)
    monkeypatch.setattr(lava_module, "_BLOCK", 7 * len(xv))  # blocks of 7 rows
    np.testing.assert_allclose(LAVA(seed=0).fit(data).result.values, cached, rtol=1e-10, atol=1e-10)


def test_values_are_minus_the_calibrated_gradient() -> None:
    x, y, xv, yv = blobs(6)
    values, pot, _ = lava_module.lava_values(
        x, y, xv, yv, epsilon=0.01, reach=1.0, max_iter=1000, tol=1e-4
    )
    f, n = pot.f, len(pot.f)
    expected = -np.array([f[i] - np.delete(f, i).sum() / (n - 1) for i in range(n)])
    np.testing.assert_allclose(values, expected, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("reach", [1.0, None])
def test_a_far_row_and_a_flipped_label_get_the_lowest_values(reach: float | None) -> None:
    x, y, xv, yv = blobs(7)
    x[3] = [40.0, -25.0]  # moved far from every validation row
    y[10] = 1 - y[10]  # its label flipped, its features left in its own blob
    result = LAVA(reach=reach, seed=0).fit(arrays(x, y, xv, yv)).result
    assert set(np.argsort(result.values)[:2]) == {3, 10}
    assert result.method == "lava"
    # Balanced OT converges slowly when one row is far from all (the cost range is
    # large against eps); the unbalanced default converges.
    assert result.diagnostics["converged"] or reach is None


def test_same_seed_same_values_and_the_seed_is_recorded() -> None:
    x, y, xv, yv = blobs(8, n=30, m=40)
    data = arrays(x, y, xv, yv)
    a = LAVA(max_valid=15, seed=3).fit(data).result
    b = LAVA(max_valid=15, seed=3).fit(data).result
    np.testing.assert_array_equal(a.values, b.values)
    assert a.seed == 3 and a.diagnostics["valid_rows_used"] == 15
    c = LAVA(max_valid=15, seed=4).fit(data).result
    assert not np.array_equal(a.values, c.values)  # another sample of validation rows
    drawn = LAVA().fit(data).result
    assert drawn.seed is not None and drawn.params["seed"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"epsilon": 0},
        {"epsilon": -1.0},
        {"epsilon": "small"},
        {"epsilon": float("inf")},
        {"reach": 0.0},
        {"reach": float("nan")},
        {"max_iter": 0},
        {"max_iter": 2.5},
        {"tol": -1e-3},
        {"max_valid": 0},
        {"seed": -1},
        {"seed": 1.5},
    ],
)
def test_bad_parameters_are_refused(params: dict[str, object]) -> None:
    x, y, xv, yv = blobs(9, n=6, m=4)
    with pytest.raises(InvalidParameterError):
        LAVA(**params).fit(arrays(x, y, xv, yv))  # type: ignore[arg-type]


def test_registered_and_built_by_name() -> None:
    assert METHODS["lava"] is LAVA
    assert make_valuation("lava", epsilon=0.05, seed=1).get_params()["epsilon"] == 0.05
    with pytest.raises(InvalidParameterError):
        make_valuation("lava", k=3)


def test_no_validation_rows_is_a_clear_error_and_no_training_rows_no_values() -> None:
    x, y, xv, yv = blobs(10, n=6, m=4)
    with pytest.raises(ValueError, match="validation"):
        LAVA().fit(arrays(x, y, xv[:0], yv[:0]))
    assert len(LAVA(seed=0).fit(arrays(x[:0], y[:0], xv, yv)).result) == 0
