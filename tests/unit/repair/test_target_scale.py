"""A target that spans decades (a price) is assessed on asinh(y / p5), a log scale: its
errors grow with its size, so on y itself a slip of a cheap row hides behind the
dear rows' spread. The evidence says which scale it used, and a slipped zero is
still restored exactly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mendb.repair import target
from mendb.repair.proposals import RepairContext
from mendb.repair.repairers import TargetRepairer
from mendb.repair.target import assess_targets
from mendb.valuation.data import Split, Task, TrainingArrays
from mendb.valuation.preprocess import prepare
from mendb.valuation.result import ValuationResult
from mendb.valuation.target_scale import TargetScale, decades_scale


def test_only_positive_targets_over_a_decade_get_a_reference() -> None:
    rng = np.random.default_rng(0)
    prices = np.exp(rng.normal(7.0, 1.0, 500))
    assert decades_scale(prices).reference == np.percentile(prices, 5)
    assert decades_scale(rng.normal(100.0, 10.0, 500)).reference is None  # a narrow spread
    assert decades_scale(prices - np.percentile(prices, 10)).reference is None  # some <= 0
    assert decades_scale(prices[:5]).reference is None  # too few to say
    scale = decades_scale(prices)
    assert np.allclose(scale.inverse(scale.forward(prices)), prices, rtol=1e-12)
    assert scale.describe().startswith("asinh(y / ") and TargetScale().describe() == "y"


def _prices(seed: int) -> tuple[RepairContext, np.ndarray, int]:
    """Log-normal prices with multiplicative noise; 20 cheap training rows get an
    additive slip the size of a dear row's price, and one row a slipped zero.
    Returns the context, the slipped rows and the slipped-zero row."""
    rng = np.random.default_rng(seed)
    n = 1400
    x = rng.normal(size=(n, 3))
    y = np.exp(6.5 + x @ np.array([1.0, 0.6, 0.3]) + rng.normal(0.0, 0.15, n))
    train, valid = slice(0, 1000), slice(1000, None)
    y_train = y[train].copy()
    cheap = np.flatnonzero(y_train < np.percentile(y_train, 40))
    slipped = rng.choice(cheap, 20, replace=False)
    y_train[slipped] += np.percentile(y_train, 90)
    zero = int(np.setdiff1d(cheap, slipped)[0])
    y_train[zero] *= 10
    keys = np.array([str(i) for i in range(n)], dtype=object)
    empty = Split(x[:0], y[:0], keys[:0])
    raw = TrainingArrays(
        Split(x[train], y_train, keys[train]),
        Split(x[valid], y[valid], keys[valid]),
        empty,
        (),
        ("a", "b", "c"),
        task=Task.REGRESSION,
    )
    values = np.full(1000, 0.01)
    result = ValuationResult.exact(raw.train.keys, values, "test", {})
    context = RepairContext(prepare(raw), result, np.zeros(0, np.int64), "price")
    return context, slipped, zero


def test_slips_of_cheap_rows_are_doubted_on_the_asinh_scale(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    context, slipped, zero = _prices(1)
    assessment = assess_targets(context)
    assert assessment.reference is not None
    # The slips and the slipped zero are the most distant targets, and doubted
    # enough to be proposed (the target repairer's default is 0.5) ...
    assert set(np.argsort(-assessment.residual)[:21]) == {*slipped.tolist(), zero}
    assert np.all(assessment.doubt[slipped] > 0.5)
    # ... while on y itself the dear rows' spread hides them.
    monkeypatch.setattr(target, "decades_scale", lambda targets: TargetScale())
    on_y = assess_targets(context)
    assert on_y.reference is None
    assert np.all(on_y.doubt[slipped] < 0.5)
    # The witnesses' estimates are prices, not asinh units.
    assert np.median(assessment.model) == pytest.approx(np.median(on_y.model), rel=0.5)
    reference = assessment.evidence(zero).reference
    assert reference is not None and np.isclose(reference, assessment.reference, rtol=1e-9)


def test_a_slipped_zero_is_restored_exactly_on_the_asinh_scale() -> None:
    context, slipped, zero = _prices(2)
    rows = np.array([zero, *slipped[:3]])
    context = replace(context, suspects=rows)
    proposals = {int(p.row_key): p for p in TargetRepairer().propose(context)}
    fix = proposals[zero]
    assert float(fix.new_value) == pytest.approx(float(fix.old_value) / 10, rel=1e-11)
    assert fix.evidence["decimal_shift"] == "x10^-1" and fix.evidence["within_spread"]
    assert fix.evidence["reference"] is not None


def test_verification_compares_the_errors_the_loops_judge_pairs() -> None:
    """A slipped zero of a cheap row, put right: the verifier retrains the judge's
    ridge, learning asinh(y / p5), and reads the validation errors on that scale;
    the user's regressor learns y and is read on y."""
    from mendb.repair.proposals import RepairProposal
    from mendb.repair.verify_target import TargetVerifier
    from mendb.valuation.judge_regression import measure_errors
    from mendb.valuation.models import ModelSpec
    from mendb.valuation.target_scale import value_scale

    context, _, zero = _prices(3)
    raw = context.data
    old = float(raw.train.y[zero])
    fix = RepairProposal(str(zero), "price", str(old), str(old / 10), "label", "test", 0.99)
    (verified,) = TargetVerifier("price").fit(raw).verify([fix])
    scale = value_scale(raw)
    assert verified.verification is not None and scale.reference is not None
    assert verified.verification["utility"].startswith(
        f"validation mean squared error on {scale.describe()}"
    )
    mended_y = raw.train.y.copy()
    mended_y[zero] = old / 10
    mended = replace(raw, train=replace(raw.train, y=mended_y))
    errors = [
        measure_errors(d.train, d.valid, scale=scale).row_learned_squared_error().mean()
        for d in (prepare(raw), prepare(mended))
    ]
    assert verified.verification["delta"] == pytest.approx(errors[0] - errors[1], rel=1e-5)
    own = ModelSpec("sklearn.linear_model:LinearRegression", {})
    (on_y,) = TargetVerifier("price", model=own).fit(raw).verify([fix])
    assert on_y.verification is not None
    assert on_y.verification["utility"] == "validation mean squared error on y (retrained)"
