"""Every valuation method on a regression target: the utilities, Data-OOB by squared
error, the semivalues, TS-Shapley's ridge proxy, influence by MSE, the refusals,
the default choice, and the user's own model."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeRegressor

from mendb.valuation import Split, Task, TrainingArrays
from mendb.valuation.choice import CONSENSUS_ROWS, TS_ROWS, MethodChoice, choose_method
from mendb.valuation.errors import InvalidParameterError, MendbError
from mendb.valuation.methods import METHODS, make_valuation
from mendb.valuation.methods.ts_shapley import Game, _rls_marginals
from mendb.valuation.models import InvalidModel
from mendb.valuation.task_support import UnsupportedTask
from mendb.valuation.utility import ModelUtility, choose_utility, clipped_r2, neg_mse
from tests.unit.valuation.exact import exact_shapley


def regression_data(n: int, seed: int, n_valid: int = 30, slipped: tuple[int, ...] = ()):
    """Two features, a linear target around 50; `slipped` rows have it times 10."""
    rng = np.random.default_rng(seed)

    def split(m: int) -> Split:
        x = rng.normal(size=(m, 2))
        y = 50.0 + 10.0 * x[:, 0] - 4.0 * x[:, 1] + rng.normal(size=m)
        return Split(x, y, np.array([f"r{i}" for i in range(m)], dtype=object))

    train = split(n)
    y = train.y.copy()
    y[list(slipped)] *= 10.0
    train = Split(train.x, y, train.keys)
    return TrainingArrays(train, split(n_valid), split(3), (), ("a", "b"), task=Task.REGRESSION)


# --- utilities -------------------------------------------------------------------------


def test_auto_scores_a_regression_target_by_squared_error_and_says_why() -> None:
    choice = choose_utility("auto", np.array([1.5, 2.0]), (), Task.REGRESSION)
    assert choice.metric == "neg_mse" and "regression" in choice.reason
    assert choose_utility("r2", np.array([1.0]), (), "regression").metric == "r2"


def test_a_utility_of_the_other_task_is_refused_by_name() -> None:
    with pytest.raises(InvalidParameterError, match="regression") as caught:
        choose_utility("accuracy", np.array([1.0]), (), Task.REGRESSION)
    assert caught.value.column == "utility"
    with pytest.raises(InvalidParameterError, match="classification"):
        choose_utility("neg_mse", np.array([0, 1]), ("a", "b"))


def test_the_regression_metrics() -> None:
    y = np.array([1.0, 2.0, 3.0])
    assert neg_mse(y, np.array([1.0, 2.0, 5.0])) == pytest.approx(-4.0 / 3.0)
    assert clipped_r2(y, y) == 1.0
    assert clipped_r2(y, np.full(3, 2.0)) == pytest.approx(0.0)
    assert clipped_r2(y, np.array([3.0, 2.0, 1.0])) == 0.0  # R² = -3, clipped
    assert clipped_r2(y, np.array([1.0, 2.0, 2.0])) == pytest.approx(0.5)


def test_model_utility_of_a_regression_target() -> None:
    data = regression_data(6, seed=0, n_valid=5)
    u = ModelUtility(
        data.train.x, data.train.y, data.valid.x, data.valid.y, regression=True, metric=neg_mse
    )
    mean = data.train.y.mean()
    assert u.empty == pytest.approx(-np.mean((data.valid.y - mean) ** 2))
    # One row predicts its own target; more rows are a ridge regression.
    assert u(np.array([2])) == pytest.approx(-np.mean((data.valid.y - data.train.y[2]) ** 2))
    rows = np.array([0, 3, 4])
    ridge = Ridge(alpha=1.0).fit(data.train.x[rows], data.train.y[rows])
    expected = -np.mean((data.valid.y - ridge.predict(data.valid.x)) ** 2)
    assert u(rows) == pytest.approx(expected, rel=1e-12)


# --- Data-OOB --------------------------------------------------------------------------


def oob_reference(x, y, n_bags: int, seed: int) -> np.ndarray:
    """Minus the mean out-of-bag squared error, one bag and one row at a time."""
    n = len(y)
    total, seen = np.zeros(n), np.zeros(n)
    for k in range(n_bags):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
        bag = rng.integers(0, n, n)
        state = int(rng.integers(2**31))
        distinct, drawn = np.unique(bag, return_counts=True)
        model = DecisionTreeRegressor(random_state=state)
        model.fit(x[distinct], y[distinct], sample_weight=drawn.astype(float))
        for i in set(range(n)) - set(bag.tolist()):
            seen[i] += 1
            total[i] -= (y[i] - model.predict(x[i : i + 1])[0]) ** 2
    return total / seen


def test_data_oob_is_minus_the_mean_out_of_bag_squared_error() -> None:
    data = regression_data(25, seed=1)
    result = make_valuation("data_oob", n_estimators=60, seed=3, block_size=7).fit(data).result
    expected = oob_reference(data.train.x, data.train.y, 60, 3)
    np.testing.assert_allclose(result.values, expected, rtol=1e-12)
    assert result.params["score"] == "squared_error" and result.params["utility"] == "neg_mse"
    assert result.harmful_below == pytest.approx(-np.var(data.train.y))
    assert result.diagnostics["utility"] == "neg_mse"


def test_data_oob_finds_slipped_decimal_points() -> None:
    data = regression_data(60, seed=2, slipped=(4, 30))
    result = make_valuation("data_oob", model="linear", n_estimators=50, seed=0).fit(data).result
    assert set(np.argsort(result.values)[:2]) == {4, 30}
    assert set(np.flatnonzero(result.harmful())) >= {4, 30}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"model": "logistic"}, "model"),
        ({"score": "probability"}, "score"),
        ({"utility": "r2"}, "utility"),
        ({"utility": "accuracy"}, "utility"),
        ({"model": "tree", "model_params": {"max_depth": 2}}, "model_params"),
    ],
)
def test_data_oob_refuses_what_a_regression_target_cannot_take(params, named) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        make_valuation("data_oob", n_estimators=3, seed=0, **params).fit(regression_data(8, 0))
    assert caught.value.column == named


def test_a_class_label_refuses_the_squared_error_score() -> None:
    from tests.unit.valuation.games import dataset

    with pytest.raises(InvalidParameterError) as caught:
        make_valuation("data_oob", score="squared_error", n_estimators=3).fit(dataset(10, 0))
    assert caught.value.column == "score"


# --- the user's model ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["data_oob", "loo", "tmc_shapley", "banzhaf", "beta_shapley"])
def test_the_users_model_is_built_from_its_path_and_recorded(method: str) -> None:
    data = regression_data(8, seed=4, n_valid=10)
    budget = {
        "data_oob": {"n_estimators": 20, "seed": 1},
        "loo": {},
    }.get(method, {"max_samples": 20, "seed": 1})
    by_path = make_valuation(
        method, model="sklearn.linear_model:Ridge", model_params={"alpha": 0.5}, **budget
    )
    result = by_path.fit(data).result
    assert result.params["model"] == "sklearn.linear_model:Ridge"
    assert result.params["model_params"] == {"alpha": 0.5}
    by_object = make_valuation(method, model=Ridge(alpha=0.5), **budget).fit(data).result
    np.testing.assert_allclose(result.values, by_object.values, rtol=1e-12)


@pytest.mark.parametrize(
    ("model", "params", "column"),
    [
        ("no_such_package.module:Model", None, "model"),
        ("sklearn.linear_model:NoSuchModel", None, "model"),
        ("sklearn.linear_model:Ridge", {"no_such_parameter": 1}, "model_params"),
    ],
)
def test_a_model_that_cannot_be_used_is_named_before_any_work(model, params, column) -> None:
    for method in ("data_oob", "tmc_shapley"):
        with pytest.raises(InvalidModel) as caught:
            make_valuation(method, model=model, model_params=params).fit(regression_data(6, 0))
        assert caught.value.column == column


# --- semivalues ------------------------------------------------------------------------


def test_leave_one_out_of_a_regression_target_is_exact() -> None:
    data = regression_data(7, seed=5, n_valid=12)
    result = make_valuation("loo", utility="r2").fit(data).result
    u = ModelUtility(
        data.train.x, data.train.y, data.valid.x, data.valid.y, regression=True, metric=clipped_r2
    )
    everyone = np.arange(7)
    expected = [u(everyone) - u(np.delete(everyone, i)) for i in range(7)]
    np.testing.assert_allclose(result.values, expected, atol=1e-12)
    assert result.params["utility"] == "r2"
    assert result.diagnostics["utility_reason"] == "chosen by the caller"


def test_tmc_shapley_of_a_regression_target_converges_to_exact_shapley() -> None:
    data = regression_data(5, seed=6, n_valid=15)
    u = ModelUtility(
        data.train.x, data.train.y, data.valid.x, data.valid.y, regression=True, metric=neg_mse
    )
    exact = exact_shapley(5, lambda s: u(np.array(s, dtype=np.int64)))
    result = (
        make_valuation("tmc_shapley", truncation=0.0, max_samples=3000, seed=0).fit(data).result
    )
    assert np.all(np.abs(result.values - exact) <= 4 * result.stderr + 1e-9)
    assert result.values.sum() == pytest.approx(exact.sum(), rel=1e-9)
    assert result.params["utility"] == "neg_mse"


# --- TS-Shapley ------------------------------------------------------------------------


def test_ts_shapley_ridge_proxy_equals_the_closed_form_fit_on_every_prefix() -> None:
    rng = np.random.default_rng(8)
    z, y = rng.normal(size=(9, 3)), 20.0 + rng.normal(size=9) * 5.0
    zv, yv = rng.normal(size=(6, 3)), 20.0 + rng.normal(size=6) * 5.0
    lam = 0.7
    game = Game(z, y, zv, yv, 0, lam, metric="neg_mse")
    order = np.array([[4, 0, 7, 2, 8, 1, 3, 6, 5]])
    marginals = _rls_marginals(game, order)[0]
    c = y.mean()
    zb, zvb = np.hstack([z, np.ones((9, 1))]), np.hstack([zv, np.ones((6, 1))])
    previous = -np.mean((yv - c) ** 2)
    assert game.empty == pytest.approx(previous)
    for t in range(9):
        rows = order[0, : t + 1]
        w = np.linalg.solve(zb[rows].T @ zb[rows] + lam * np.eye(4), zb[rows].T @ (y[rows] - c))
        score = -np.mean((c + zvb @ w - yv) ** 2)
        assert marginals[t] == pytest.approx(score - previous, rel=1e-8, abs=1e-9)
        previous = score


def test_ts_shapley_values_a_regression_target() -> None:
    data = regression_data(120, seed=9, slipped=(3,))
    result = make_valuation("ts_shapley", subset_size=40, seed=0, n_components=2).fit(data).result
    assert np.all(np.isfinite(result.values)) and result.params["utility"] == "neg_mse"
    assert int(np.argmin(result.values)) == 3


# --- influence -------------------------------------------------------------------------


def test_gradient_influence_uses_the_squared_error_of_one_output() -> None:
    torch = pytest.importorskip("torch")
    from mendb.valuation.influence.gradients import per_example_grads
    from mendb.valuation.influence.training import mlp, trainable

    torch.manual_seed(0)
    model = mlp(3, 1, 5, 1)
    x, y = torch.randn(4, 3), torch.randn(4)
    params = trainable(model)
    grads = per_example_grads(model, params, (x,), y, "mse")
    for b in range(4):
        model.zero_grad()
        ((model(x[b : b + 1])[0, 0] - y[b]) ** 2).backward()
        expected = torch.cat([p.grad.reshape(-1) for p in params.values()])
        torch.testing.assert_close(grads[b], expected, rtol=1e-5, atol=1e-6)


def test_influence_values_a_regression_target() -> None:
    pytest.importorskip("torch")
    data = regression_data(80, seed=10, slipped=(7, 40))
    result = (
        make_valuation("influence_sgd", seed=0, epochs=20, d_proj=64, device="cpu").fit(data).result
    )
    assert np.all(np.isfinite(result.values))
    assert result.diagnostics["loss"].startswith("mse")
    assert set(np.argsort(result.values)[:2]) == {7, 40}


# --- refusals and the default ----------------------------------------------------------


def test_lava_refuses_a_regression_target_naming_method_and_task() -> None:
    with pytest.raises(UnsupportedTask, match=r"lava.*regression") as caught:
        make_valuation("lava").fit(regression_data(10, seed=0))
    error = caught.value
    assert isinstance(error, MendbError) and error.column == "method"
    assert (error.method, error.task) == ("lava", "regression")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is UnsupportedTask and str(again) == str(error)


@pytest.mark.parametrize(
    ("n_train", "kinds", "method"),
    [
        (500, {"numeric"}, "data_oob"),
        (CONSENSUS_ROWS + 1, {"numeric"}, "knn_shapley"),
        (500, {"vector"}, "knn_shapley"),
        (TS_ROWS + 1, {"numeric"}, "ts_shapley"),
    ],
)
def test_the_default_for_a_regression_target(n_train: int, kinds: set[str], method: str) -> None:
    chosen = choose_method(n_train, kinds, np.array([]), task=Task.REGRESSION)
    assert (chosen.method, chosen.parts) == (method, ())
    assert chosen.reason and chosen.reason[-1].isalpha()
    runs: tuple[MethodChoice, ...] = chosen.parts or (chosen,)
    for run in runs:
        assert run.method in METHODS
        valuation = make_valuation(run.method, **run.params)
        if run.method == "ts_shapley":
            valuation = make_valuation(run.method, **run.params, subset_size=10)
        valuation.fit(regression_data(30, seed=0))  # runs on a regression target
