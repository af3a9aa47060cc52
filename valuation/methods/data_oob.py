"""Data-OOB (Kwon & Zou, "Data-OOB: Out-of-bag Estimate as a Simple and Efficient
Data Value", ICML 2023).

B weak learners are trained on bootstrap samples of the training rows; the value
of row i is the mean score of the learners for which i was out of bag:

    v_i = sum_b 1[i not in bag b] T(y_i, f_b(x_i)) / sum_b 1[i not in bag b].

The paper's score, the default, is accuracy, T = 1[f_b(x_i) = y_i]. With
`score="probability"` T is the probability f_b gives the row's own label: a
learner that was nearly sure of another label counts against the row more than
one that hesitated, so rows are ranked more finely by fewer bags. It needs a
learner with `predict_proba` that is not sure of everything: a fully grown tree
gives 0 or 1, the same as accuracy; `model="logistic"` (scikit-learn's
`LogisticRegression`) gives graded probabilities, and on tabular data whose
classes a linear model separates well it ranks flipped labels better than trees
do. `model` is a learner with `fit`/`predict`, or the name of one: "tree" (the
default, scikit-learn's `DecisionTreeClassifier`) or "logistic".

`utility` ("auto", "accuracy" or "balanced_accuracy") decides how a learner's
verdict on a row is read. Data-OOB scores a row by its own out-of-bag correctness,
so weighting the score by the row's class would only rescale whole classes and
move them across the harm threshold; what favours the majority is the learners'
decision, which a bag's class prior tilts towards the larger class in regions
where classes overlap. Balanced, a learner's probabilities are divided by its
bag's class shares and renormalised, p'(c|x) = (p(c|x) / pi_c) / sum_c' p(c'|x) /
pi_c', which is the decision that maximises balanced accuracy: the accuracy score
asks whether argmax p' is the row's label, the probability score reads p' of the
row's label. It needs `predict_proba`. A fully grown tree's leaves are mostly pure
(probabilities 0 or 1), so balancing changes its verdicts little; a learner with
graded probabilities (`model="logistic"`) is where it counts. "auto" balances when
the training label is imbalanced (`valuation.utility.choose_utility`).

Each bag is fitted once and predicts all of its out-of-bag rows at once, so the
cost is B fits whatever n. Bags are samples of the common engine: bag k draws,
from `SeedSequence(seed, spawn_key=(k,))`, first its `round(bag_fraction * n)` row
indices with replacement (`rng.integers(0, n, m)`), then the learner's
`random_state` (`rng.integers(2**31)`). A learner whose `fit` takes
`sample_weight` (the default decision tree) is fitted, as scikit-learn's
`BaggingClassifier` does it, on the distinct rows of the bag weighted by how many
times each was drawn (`np.bincount(bag, minlength=n)`): about 37 % fewer rows than
the bag, the same weighted fit. Other learners are fitted on the drawn rows, with
repeats. The out-of-bag rows are the rows drawn 0 times. A bag with one class
predicts that class. Rows that were never out of bag (rare for B in the hundreds)
get the mean value of the others, a count of 0 and an infinite standard error.

A regression target (`Task.REGRESSION`) is scored as the paper does it, by
squared error: T = -(y_i - f_b(x_i))^2, so v_i is minus the row's mean out-of-bag
squared error. `model` is then "tree" (the default, `DecisionTreeRegressor`) or
"linear" (`Ridge`); the score is "squared_error" (the default "accuracy" is read
as it) and the utility "auto" or "neg_mse". A row counts as harmful when the
learners that did not see it predict it worse than the mean target would on
average: its value is below minus the training targets' variance.

`model` may also name the user's own estimator, "package.module:Class", built with
`model_params` (`valuation.models.ModelSpec`); the result's params record both.

Each block holds one bag by default (`block_size=1`): a bag is a whole model fit,
so there is nothing to batch, and small blocks spread the bags evenly over the
workers. Since a row's tally is a count of hits, the values do not depend on the
block size, the number of chains or the workers (under `max_time`, how many bags
are done does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.validation import has_fit_parameter

from mendb.valuation._validation import InvalidParameterError, check_choice, check_real
from mendb.valuation.base import ProgressCallback
from mendb.valuation.data import TrainingArrays
from mendb.valuation.methods._sampling import (
    MonteCarloOptions,
    SamplingMethod,
    resolve_seed,
    sample,
)
from mendb.valuation.proxy import fresh_model, user_model
from mendb.valuation.result import ValuationResult
from mendb.valuation.samplers import Sampler, Tally, sample_rng
from mendb.valuation.task_support import is_regression
from mendb.valuation.utility import UtilityChoice

Bags = tuple[NDArray[np.float64], NDArray[Any], Any]
"""The payload of a Data-OOB run: training features, labels (or targets), unfitted learner."""


LEARNERS: dict[str, Callable[[], Any]] = {
    "tree": DecisionTreeClassifier,
    "logistic": lambda: LogisticRegression(max_iter=1000),
}
REGRESSION_LEARNERS: dict[str, Callable[[], Any]] = {
    "tree": DecisionTreeRegressor,
    "linear": lambda: Ridge(alpha=1.0),
}
SCORES = ("accuracy", "probability", "squared_error")


class BagSampler(Sampler):
    """Sample k is one bootstrap bag; it tallies the scores of its out-of-bag rows."""

    def __init__(
        self, bag_fraction: float = 1.0, score: str = "accuracy", balanced: bool = False
    ) -> None:
        self.bag_fraction = bag_fraction
        self.score = score
        self.balanced = balanced

    def run(self, payload: Bags, ids: NDArray[np.int64], seed: int) -> Tally:
        x, y, learner = payload
        n = len(y)
        tally = Tally.zeros(n)
        size = max(1, round(self.bag_fraction * n))
        for k in ids:
            rng = sample_rng(seed, int(k))
            bag = rng.integers(0, n, size)
            state = int(rng.integers(2**31))
            drawn = np.bincount(bag, minlength=n)
            out = np.flatnonzero(drawn == 0)
            if len(out) and self.score == "squared_error":
                tally.add(out, _out_of_bag_errors(learner, x, y, bag, drawn, state, out))
            elif len(out):
                scores = _out_of_bag_scores(
                    learner, x, y, bag, drawn, state, out, self.score, self.balanced
                )
                tally.add(out, scores)
        tally.samples = tally.evaluations = len(ids)
        return tally


def _out_of_bag_scores(
    learner: Any,
    x: NDArray[np.float64],
    y: NDArray[np.int64],
    bag: NDArray[np.int64],
    drawn: NDArray[np.int64],
    state: int,
    rows: NDArray[np.int64],
    score: str,
    balanced: bool = False,
) -> NDArray[np.float64]:
    """Fit a fresh learner on the bag (`drawn`: times each row was drawn) and score
    it on `rows` against their own labels (with the bag's class prior divided out
    when `balanced`)."""
    first = y[bag[0]]
    if np.all(y[drawn > 0] == first):  # a bag with one class predicts it, surely
        return np.asarray(y[rows] == first, dtype=np.float64)
    model = _fitted(learner, x, y, bag, drawn, state)
    if score == "accuracy" and not balanced:
        return np.asarray(np.asarray(model.predict(x[rows])) == y[rows], dtype=np.float64)
    probabilities = np.asarray(model.predict_proba(x[rows]), np.float64)
    classes = np.asarray(model.classes_)
    if balanced:
        probabilities = _without_prior(probabilities, classes, y[bag])
        if score == "accuracy":
            hits = classes[np.argmax(probabilities, axis=1)] == y[rows]
            return np.asarray(hits, dtype=np.float64)
    column = np.minimum(np.searchsorted(classes, y[rows]), len(classes) - 1)
    known = classes[column] == y[rows]  # a label absent from the bag gets probability 0
    return np.where(known, probabilities[np.arange(len(rows)), column], 0.0)


def _fitted(
    learner: Any,
    x: NDArray[np.float64],
    y: NDArray[Any],
    bag: NDArray[np.int64],
    drawn: NDArray[np.int64],
    state: int,
) -> Any:
    """A fresh learner fitted on the bag: on its distinct rows weighted by their draws
    when it takes `sample_weight`, else on the drawn rows with repeats."""
    model = fresh_model(learner)
    if "random_state" in getattr(model, "get_params", dict)():
        model.set_params(random_state=state)
    if _takes_sample_weight(model):
        distinct = np.flatnonzero(drawn)
        model.fit(x[distinct], y[distinct], sample_weight=drawn[distinct].astype(np.float64))
    else:
        model.fit(x[bag], y[bag])
    return model


# Deliberately like _out_of_bag_scores: the regression twin takes the same bag, and
# scores squared errors instead of class scores.
def _out_of_bag_errors(
    learner: Any,
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    bag: NDArray[np.int64],
    drawn: NDArray[np.int64],
    state: int,
    rows: NDArray[np.int64],
) -> NDArray[np.float64]:
    """Minus the squared error of a learner fitted on the bag, on `rows`."""
    model = _fitted(learner, x, y, bag, drawn, state)
    predicted = np.asarray(model.predict(x[rows]), dtype=np.float64).reshape(-1)
    errors: NDArray[np.float64] = -np.square(y[rows] - predicted)
    return errors


def _without_prior(
    probabilities: NDArray[np.float64], classes: NDArray[Any], bag_labels: NDArray[np.int64]
) -> NDArray[np.float64]:
    """p(c|x) / pi_c renormalised, pi_c the share of class c among the bag's draws."""
    prior = np.array([np.mean(bag_labels == c) for c in classes], dtype=np.float64)
    corrected = probabilities / np.where(prior > 0, prior, 1.0)
    total = corrected.sum(axis=1, keepdims=True)
    shares: NDArray[np.float64] = np.divide(
        corrected, total, out=np.zeros_like(corrected), where=total > 0
    )
    return shares


def _takes_sample_weight(model: Any) -> bool:
    try:
        return bool(has_fit_parameter(model, "sample_weight"))
    except (TypeError, ValueError):  # no signature to read: fit it on the repeats
        return False


class DataOOB(SamplingMethod):
    """Out-of-bag score per row over `n_estimators` bagged learners (decision trees
    and accuracy by default, class-balanced when the label is imbalanced; minus the
    squared error for a regression target)."""

    method = "data_oob"
    budget_param = "n_estimators"  # its samples are its bags
    # Most learners that did not see the row predict another label (or, by
    # probability, give its label less than even odds). A regression run sets its
    # own point, minus the training targets' variance (module doc).
    harmful_below = 0.5
    defaults = MonteCarloOptions(n_chains=1, block_size=1)
    settings = ("max_time", "n_chains", "block_size", "seed", "executor", "n_jobs")
    _harmful_below: float | None = None

    def __init__(
        self,
        *,
        n_estimators: int = 1000,
        bag_fraction: float = 1.0,
        model: Any = None,
        model_params: dict[str, Any] | None = None,
        score: str = "accuracy",
        utility: str = "auto",
        options: MonteCarloOptions | None = None,
        **settings: Any,
    ) -> None:
        # Deliberately like the other methods' constructors: each stores its own keywords
        # unchanged under their names (scikit-learn's rule, see valuation.base).
        self.n_estimators = n_estimators
        self.bag_fraction = bag_fraction
        self.model = model
        self.model_params = model_params
        self.score = score
        self.utility = utility
        self._set_options(options, settings)

    @property
    def result(self) -> ValuationResult:
        result = super().result
        if self._harmful_below is None:
            return result
        return replace(result, harmful_below=self._harmful_below)

    def fit(self, data: TrainingArrays, progress: ProgressCallback | None = None) -> Self:
        options = replace(self.options, max_samples=self.n_estimators).checked()
        choice = self._choose_utility(data)
        regression = is_regression(data)
        if regression:
            learner, score = self._regressor(choice)
            self._harmful_below = -float(np.var(data.train.y)) if len(data.train) else 0.0
        else:
            learner = self._learner(choice)
            score = check_choice("score", self.score, SCORES[:2])
            self._harmful_below = None
        if choice.balanced and not hasattr(learner, "predict_proba"):  # "auto" only
            choice = UtilityChoice(
                "accuracy", f"{choice.reason}; the learner has no predict_proba to balance"
            )
        sampler = BagSampler(
            check_real("bag_fraction", self.bag_fraction, low=1e-9, high=1.0),
            score,
            choice.balanced,
        )
        seed = resolve_seed(options.seed)
        payload: Bags = (np.asarray(data.train.x, np.float64), data.train.y, learner)
        estimate = sample(payload, sampler, len(data.train), options, seed, progress)
        seen = estimate.counts > 0
        fallback = float(estimate.values[seen].mean()) if seen.any() else 0.0
        estimate = replace(
            estimate,
            values=np.where(seen, estimate.values, fallback),
            stderr=np.where(seen, estimate.stderr, np.inf),
        )
        diagnostics = estimate.diagnostics(options.n_chains)
        diagnostics["never_out_of_bag"] = int((~seen).sum())
        if regression:
            diagnostics["harmful_below"] = self._harmful_below
        result = self._make_result(
            data, estimate, options, seed, diagnostics, progress, utility=choice
        )
        if regression:
            result = replace(result, params={**result.params, "score": score})
        self._result = result
        return self

    def _learner(self, choice: UtilityChoice) -> Any:
        model = "tree" if self.model is None else user_model(self.model, self.model_params)
        if isinstance(model, str):
            model = LEARNERS[check_choice("model", model, tuple(LEARNERS))]()
        if hasattr(model, "predict_proba"):
            return model
        if self.score == "probability":
            raise InvalidParameterError(
                "model", self.model, "a learner with predict_proba for score='probability'"
            )
        if choice.balanced and self.utility != "auto":
            raise InvalidParameterError(
                "model",
                self.model,
                f"a learner with predict_proba for a balanced utility ({choice.reason});"
                " or set utility='accuracy'",
            )
        return model

    def _regressor(self, choice: UtilityChoice) -> tuple[Any, str]:
        """The learner and score of a regression run (module doc)."""
        if self.score not in ("accuracy", "squared_error"):
            raise InvalidParameterError(
                "score", self.score, "'squared_error' (or the default) for a regression target"
            )
        if choice.metric != "neg_mse":
            raise InvalidParameterError(
                "utility", self.utility, "'auto' or 'neg_mse': Data-OOB scores each row alone"
            )
        model = "tree" if self.model is None else user_model(self.model, self.model_params)
        if isinstance(model, str):
            if model not in REGRESSION_LEARNERS:
                raise InvalidParameterError(
                    "model",
                    model,
                    f"one of {list(REGRESSION_LEARNERS)} or package.module:Class for a"
                    " regression target",
                )
            model = REGRESSION_LEARNERS[model]()
        return model, "squared_error"
