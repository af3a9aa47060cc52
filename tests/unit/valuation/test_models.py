"""A user's own model: named by import path, checked before anything runs."""

from __future__ import annotations

import numpy as np
import pytest

from mendb.valuation.models import InvalidModel, ModelSpec, model_spec


def test_a_scikit_learn_estimator_is_built_with_its_parameters() -> None:
    spec = model_spec("sklearn.ensemble:HistGradientBoostingRegressor", '{"max_iter": 7}')
    model = spec.build()
    assert type(model).__name__ == "HistGradientBoostingRegressor" and model.max_iter == 7
    x = np.arange(20.0).reshape(-1, 1)
    assert model.fit(x, x[:, 0] * 2).predict(x).shape == (20,)
    assert spec.to_params() == {
        "model": "sklearn.ensemble:HistGradientBoostingRegressor",
        "model_params": {"max_iter": 7},
    }


def test_each_build_is_a_fresh_estimator() -> None:
    spec = ModelSpec("sklearn.linear_model:Ridge", {"alpha": 2.0})
    assert spec.build() is not spec.build()


@pytest.mark.parametrize(
    ("path", "params", "says", "column"),
    [
        ("sklearn.linear_model.Ridge", None, "package.module:Class", "model"),
        ("sklearn.no_such_module:Thing", None, "cannot be imported", "model"),
        ("sklearn.linear_model:NoSuchModel", None, "has no class NoSuchModel", "model"),
        ("sklearn.utils:Bunch", None, "lacks fit and predict", "model"),
        ("os:system", None, "may come from sklearn", "model"),
        ("sklearnx.models:Thing", None, "may come from", "model"),
        ("sklearn.linear_model:Ridge", '{"alpha": ', "not JSON", "model_params"),
        ("sklearn.linear_model:Ridge", "[1, 2]", "JSON object", "model_params"),
        ("sklearn.linear_model:Ridge", '{"no_such_parameter": 1}', "does not take", "model_params"),
    ],
)
def test_a_model_that_cannot_be_used_is_refused_by_name(
    path: str, params: str | None, says: str, column: str
) -> None:
    with pytest.raises(InvalidModel, match=says) as refused:
        model_spec(path, params)
    assert refused.value.column == column


def test_the_operator_widens_the_modules_a_model_may_come_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(InvalidModel, match="MENDB_MODEL_MODULES"):
        model_spec("collections:OrderedDict")
    monkeypatch.setenv("MENDB_MODEL_MODULES", "collections")
    with pytest.raises(InvalidModel, match="lacks fit and predict"):
        model_spec("collections:OrderedDict")
    # scikit-learn stays allowed: mendb's own defaults name its estimators
    assert model_spec("sklearn.linear_model:HuberRegressor").build() is not None
