"""Data-OOB against a slow, straightforward reference on a tiny problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

from mendb.valuation import Split
from mendb.valuation.executors import LocalExecutor
from mendb.valuation.methods import METHODS, make_valuation
from mendb.valuation.methods.data_oob import SCORES, DataOOB, _out_of_bag_scores
from tests.unit.valuation.games import dataset


def reference(x, y, n_bags: int, seed: int) -> np.ndarray:
    """One bag at a time, one row at a time, with the documented random draws."""
    n = len(y)
    hits, seen = np.zeros(n), np.zeros(n)
    for k in range(n_bags):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
        bag = rng.integers(0, n, n)
        state = int(rng.integers(2**31))
        distinct, drawn = np.unique(bag, return_counts=True)
        if len(set(y[bag])) == 1:
            model = None
        else:  # the distinct rows of the bag, weighted by their draws
            model = DecisionTreeClassifier(random_state=state)
            model.fit(x[distinct], y[distinct], sample_weight=drawn.astype(float))
        for i in range(n):
            if i in set(bag.tolist()):
                continue
            predicted = y[bag][0] if model is None else model.predict(x[i : i + 1])[0]
            seen[i] += 1
            hits[i] += predicted == y[i]
    return hits / seen


@pytest.mark.parametrize("n_chains,block_size", [(1, 25), (3, 4)])
def test_matches_the_straightforward_reference(n_chains: int, block_size: int) -> None:
    data = dataset(15, seed=1, noise=1.0)
    expected = reference(data.train.x, data.train.y, 60, seed=4)
    result = (
        DataOOB(n_estimators=60, seed=4, n_chains=n_chains, block_size=block_size).fit(data).result
    )
    np.testing.assert_allclose(result.values, expected, atol=1e-12)
    assert result.counts.sum() > 0 and np.all(result.stderr >= 0)


def test_same_seed_same_values_and_noisy_labels_score_low() -> None:
    data = dataset(80, seed=2, noise=0.2)
    flipped = np.arange(10)
    y = data.train.y.copy()
    y[flipped] = 1 - y[flipped]
    noisy = type(data)(
        type(data.train)(data.train.x, y, data.train.keys),
        data.valid,
        data.test,
        data.classes,
        data.feature_names,
    )
    first = DataOOB(n_estimators=100, seed=1).fit(noisy).result
    again = DataOOB(n_estimators=100, seed=1).fit(noisy).result
    np.testing.assert_array_equal(first.values, again.values)
    assert first.values[flipped].mean() < first.values[10:].mean() - 0.3
    assert first.method == "data_oob" and first.params["seed"] == 1


WEIGHTED_FITS: list[bool] = []


class CellVote:
    """A deterministic learner: the weighted majority label of the training rows in
    the query's quadrant of the first two features (ties: the smaller label). With
    integer weights, a row of weight w counts exactly as w repeats of it."""

    def fit(self, x, y, sample_weight=None):
        WEIGHTED_FITS.append(sample_weight is not None)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight)
        cell = self._cell(x)
        self.votes_ = np.array(
            [np.bincount(y[cell == c], weights=w[cell == c], minlength=2) for c in range(4)]
        )
        return self

    def predict(self, x):
        return self.votes_[self._cell(x)].argmax(axis=1)

    @staticmethod
    def _cell(x):
        return (x[:, 0] > 0).astype(int) * 2 + (x[:, 1] > 0).astype(int)


class CellVoteWithoutWeights(CellVote):
    """The same learner, whose `fit` takes no `sample_weight`: fitted on the repeats."""

    def fit(self, x, y):
        return super().fit(x, y)


def test_weighted_distinct_rows_equal_the_repeated_rows() -> None:
    data = dataset(60, seed=3, noise=1.0)
    WEIGHTED_FITS.clear()
    weighted = DataOOB(n_estimators=50, seed=2, model=CellVote()).fit(data).result
    assert WEIGHTED_FITS and all(WEIGHTED_FITS)
    WEIGHTED_FITS.clear()
    repeated = DataOOB(n_estimators=50, seed=2, model=CellVoteWithoutWeights()).fit(data).result
    assert WEIGHTED_FITS and not any(WEIGHTED_FITS)
    np.testing.assert_array_equal(weighted.values, repeated.values)
    np.testing.assert_array_equal(weighted.counts, repeated.counts)
    assert 0.0 < weighted.values.mean() < 1.0


def test_same_values_whatever_the_blocks_and_workers() -> None:
    data = dataset(40, seed=5, noise=0.5)
    inline = DataOOB(n_estimators=30, seed=7).fit(data).result
    blocks = DataOOB(n_estimators=30, seed=7, block_size=25, n_chains=2).fit(data).result
    pooled = DataOOB(n_estimators=30, seed=7, executor=LocalExecutor(n_jobs=2)).fit(data).result
    for other in (blocks, pooled):
        np.testing.assert_array_equal(inline.values, other.values)
        np.testing.assert_array_equal(inline.counts, other.counts)


def test_registry_loads_torch_methods_only_when_asked() -> None:
    code = (
        "import sys\n"
        "import mendb.valuation.methods.data_oob\n"
        "from mendb.valuation.methods import METHODS\n"
        "assert {'influence_sgd', 'influence_adam', 'data_oob'} <= set(METHODS)\n"
        "assert 'torch' not in sys.modules, 'the registry imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[3])
    for name in METHODS:
        assert METHODS[name].method == name
    assert type(make_valuation("influence_sgd")).__name__ == "InfluenceSGD"


def probability_reference(x, y, n_bags: int, seed: int) -> np.ndarray:
    """The probability score, one bag and one row at a time, with sklearn's
    logistic regression fitted on the weighted distinct rows of each bag."""
    from sklearn.linear_model import LogisticRegression

    n = len(y)
    total, seen = np.zeros(n), np.zeros(n)
    for k in range(n_bags):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
        bag = rng.integers(0, n, n)
        distinct, drawn = np.unique(bag, return_counts=True)
        model = LogisticRegression(max_iter=1000)
        model.fit(x[distinct], y[distinct], sample_weight=drawn.astype(float))
        for i in sorted(set(range(n)) - set(bag.tolist())):
            shares = model.predict_proba(x[i : i + 1])[0]
            probabilities = dict(zip(model.classes_, shares, strict=True))
            total[i] += probabilities.get(y[i], 0.0)
            seen[i] += 1
    return total / seen


def test_probability_score_matches_the_reference_and_ranks_finer() -> None:
    data = dataset(30, seed=6, noise=0.8)
    result = DataOOB(n_estimators=40, seed=3, model="logistic", score="probability")
    values = result.fit(data).result.values
    expected = probability_reference(data.train.x, data.train.y, 40, seed=3)
    np.testing.assert_allclose(values, expected, atol=1e-10)
    accuracy = DataOOB(n_estimators=40, seed=3, model="logistic").fit(data).result.values
    # The same bags: graded probabilities separate rows that accuracy leaves tied.
    assert len(np.unique(values)) > len(np.unique(accuracy))
    assert result.result.params["model"] == "logistic"


def test_probability_score_of_a_label_the_bag_never_saw_is_zero() -> None:
    data = dataset(12, seed=8, noise=0.5)
    y = data.train.y.copy()
    y[0] = 2  # a third class held by one row: every bag that leaves it out lacks it
    lonely = type(data)(
        type(data.train)(data.train.x, y, data.train.keys),
        data.valid,
        data.test,
        ("0", "1", "2"),
        data.feature_names,
    )
    result = DataOOB(n_estimators=30, seed=1, model="logistic", score="probability")
    values = result.fit(lonely).result.values
    assert values[0] == 0.0 and result.result.counts[0] > 0


@pytest.mark.parametrize(
    "params,named",
    [
        ({"score": "f1"}, "score"),
        ({"model": "forest"}, "model"),
        ({"model": CellVote(), "score": "probability"}, "model"),
    ],
)
def test_bad_learner_or_score_is_named(params: dict, named: str) -> None:
    with pytest.raises(ValueError, match=f"parameter {named}="):
        DataOOB(n_estimators=5, **params).fit(dataset(10, seed=1, noise=0.5))


class ConstantBelief:
    """A learner that gives every row the same probabilities, whatever it saw."""

    def __init__(self, probabilities=(0.7, 0.3)) -> None:
        self.probabilities = probabilities

    def get_params(self, deep: bool = True) -> dict:
        return {"probabilities": self.probabilities}

    def fit(self, x, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict(self, x):
        return np.full(len(x), int(np.argmax(self.probabilities)))

    def predict_proba(self, x):
        return np.tile(self.probabilities, (len(x), 1))


def test_balancing_divides_out_the_bags_class_prior() -> None:
    # Hand computation: a bag of three 0s and one 1 (prior 3/4, 1/4); a learner sure
    # at 0.7 / 0.3 gives, balanced, 0.7/0.75 : 0.3/0.25, that is 0.4375 : 0.5625.
    x = np.zeros((6, 1))
    y = np.array([0, 0, 0, 1, 0, 1])
    bag = np.array([0, 1, 2, 3])
    drawn = np.bincount(bag, minlength=6)
    rows = np.array([4, 5])
    scores = {
        (score, balanced): _out_of_bag_scores(
            ConstantBelief(), x, y, bag, drawn, 0, rows, score, balanced
        )
        for score in SCORES
        for balanced in (False, True)
    }
    np.testing.assert_allclose(scores["probability", False], [0.7, 0.3])
    np.testing.assert_allclose(scores["probability", True], [0.4375, 0.5625])
    np.testing.assert_array_equal(scores["accuracy", False], [1.0, 0.0])
    np.testing.assert_array_equal(scores["accuracy", True], [0.0, 1.0])


def test_a_balanced_bag_is_left_as_it_is() -> None:
    x = np.zeros((5, 1))
    y = np.array([0, 1, 0, 1, 1])
    bag = np.array([0, 1, 2, 3])
    drawn = np.bincount(bag, minlength=5)
    got = _out_of_bag_scores(
        ConstantBelief((0.4, 0.6)), x, y, bag, drawn, 0, np.array([4]), "probability", True
    )
    np.testing.assert_allclose(got, [0.6])


def balanced_probability_reference(x, y, n_bags: int, seed: int) -> np.ndarray:
    """The probability score with each bag's class prior divided out, one row at a time."""
    from sklearn.linear_model import LogisticRegression

    n = len(y)
    total, seen = np.zeros(n), np.zeros(n)
    for k in range(n_bags):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
        bag = rng.integers(0, n, n)
        distinct, drawn = np.unique(bag, return_counts=True)
        model = LogisticRegression(max_iter=1000)
        model.fit(x[distinct], y[distinct], sample_weight=drawn.astype(float))
        prior = {c: np.mean(y[bag] == c) for c in model.classes_}
        for i in sorted(set(range(n)) - set(bag.tolist())):
            shares = model.predict_proba(x[i : i + 1])[0]
            odds = {c: p / prior[c] for c, p in zip(model.classes_, shares, strict=True)}
            total[i] += odds.get(y[i], 0.0) / sum(odds.values())
            seen[i] += 1
    return total / seen


def test_balanced_probability_score_matches_the_reference() -> None:
    data = dataset(30, seed=6, noise=0.8)
    rare = Split(data.train.x, (data.train.x[:, 0] > 0.6).astype(np.int64), data.train.keys)
    data = type(data)(rare, data.valid, data.test, data.classes, data.feature_names)
    method = DataOOB(n_estimators=40, seed=3, model="logistic", score="probability")
    result = method.fit(data).result
    assert result.diagnostics["utility"] == "balanced_accuracy"
    assert result.params["utility"] == "balanced_accuracy"
    expected = balanced_probability_reference(data.train.x, data.train.y, 40, seed=3)
    np.testing.assert_allclose(result.values, expected, atol=1e-10)
    plain = (
        DataOOB(n_estimators=40, seed=3, model="logistic", score="probability", utility="accuracy")
        .fit(data)
        .result
    )
    minority = data.train.y == 1
    assert result.values[minority].mean() > plain.values[minority].mean()


def test_auto_falls_back_to_accuracy_for_a_learner_without_probabilities() -> None:
    data = dataset(40, seed=3, noise=1.0)
    rare = Split(data.train.x, (data.train.x[:, 0] > 0.8).astype(np.int64), data.train.keys)
    data = type(data)(rare, data.valid, data.test, data.classes, data.feature_names)
    result = DataOOB(n_estimators=10, seed=0, model=CellVote()).fit(data).result
    assert result.diagnostics["utility"] == "accuracy"
    assert "no predict_proba" in result.diagnostics["utility_reason"]
    with pytest.raises(ValueError, match="parameter model="):
        DataOOB(n_estimators=10, model=CellVote(), utility="balanced_accuracy").fit(data)
