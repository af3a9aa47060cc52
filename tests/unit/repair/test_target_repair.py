"""Repair of regression targets on sklearn's diabetes table: a slipped zero is
restored exactly and confidently, another row's value is replaced by the
witnesses' estimate, heavy-tailed noise on sound rows is not doubted, and the
class label repairer refuses a numeric target."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from mendb.repair.diagnose import diagnose
from mendb.repair.pipeline import propose
from mendb.repair.proposals import RepairContext, TargetEvidence, WrongTask
from mendb.repair.repairers import LabelRepairer, TargetRepairer, default_repairers
from mendb.repair.repairers.target import WITHIN_SCALES, _proposal_value
from mendb.repair.target import (
    PREPARED_SPACE,
    WEIGHTED_SPACE,
    assess_targets,
    benjamini_hochberg,
    tail_probability,
)
from mendb.repair.verify import Verifier
from mendb.valuation.data import Split, Task, TrainingArrays
from mendb.valuation.preprocess import prepare
from mendb.valuation.result import ValuationResult

SLIPPED, SWAPPED = 3, 102  # in seed 0's order: a target of 71, the lowest one (31)


def diabetes(
    noise: float = 0.0, seed: int = 0, predictions: bool = False
) -> tuple[TrainingArrays, np.ndarray]:
    """(raw arrays, the clean training targets): row SLIPPED times 10, row SWAPPED
    given another row's value; `noise`: Student-t (2 dof) noise of that scale on
    every target, training and validation alike."""
    x, y = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    x, y = x[order], y[order].astype(np.float64)
    if noise:
        y = y + noise * rng.standard_t(2, len(y))
    keys = np.array([str(i) for i in range(len(y))], dtype=object)
    train, valid = slice(0, 340), slice(340, None)
    clean = y[train].copy()
    y_train = clean.copy()
    y_train[SLIPPED] = clean[SLIPPED] * 10
    far = int(np.argmax(np.abs(clean - clean[SWAPPED])))
    y_train[SWAPPED] = clean[far]
    empty = Split(x[:0], y[:0], keys[:0])
    raw = TrainingArrays(
        Split(x[train], y_train, keys[train]),
        Split(x[valid], y[valid], keys[valid]),
        empty,
        (),
        tuple(f"f{j}" for j in range(x.shape[1])),
        task=Task.REGRESSION,
    )
    return raw, clean


def context_of(raw: TrainingArrays, suspects: np.ndarray) -> RepairContext:
    values = np.full(len(raw.train), 0.01)
    values[suspects] = -0.01
    result = ValuationResult.exact(raw.train.keys, values, "test", {})
    return RepairContext(prepare(raw), result, np.asarray(suspects), "target")


def test_a_slipped_zero_is_restored_exactly_with_high_confidence() -> None:
    raw, clean = diabetes()
    context = context_of(raw, np.array([SLIPPED, SWAPPED, 20, 21, 22]))
    context = replace(context, diagnoses=diagnose(context))
    proposals = {p.row_key: p for p in TargetRepairer().propose(context)}
    slip = proposals[str(SLIPPED)]
    assert float(slip.new_value) == clean[SLIPPED]  # exactly, not approximately
    assert slip.evidence["decimal_shift"] == "x10^-1" and slip.evidence["within_spread"]
    assert slip.confidence >= 0.95
    assert slip.evidence["task"] == "regression" and slip.evidence["residual"] > 5
    assert slip.evidence["calibration"].endswith("validation rows")


def _evidence(neighbours: float, model: float) -> TargetEvidence:
    """A doubted target whose witnesses say `neighbours` (wide spread, scale 1,000)
    and `model` (scale 200)."""
    return TargetEvidence(
        neighbours_estimate=neighbours, neighbours_range=(300.0, 18_000.0),
        neighbours_scale=1_000.0, model_estimate=model, model_scale=200.0, model="huber",
        residual=40.0, residual_interval=(35.0, 45.0), tail_probability=1e-6,
        calibration="400 validation rows", doubt=0.99,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("neighbours", "model", "full"),
    [
        (6_000.0, 4_000.0 + 1.5 * 200.0, True),  # 2 neighbour scales off, 1.5 model scales
        (4_000.0 + 1.5 * 1_000.0, 9_000.0, True),  # near the neighbours only
        (4_000.0 + (WITHIN_SCALES + 0.5) * 1_000.0, 9_000.0, False),  # near neither
    ],
)
def test_a_decimal_shift_is_proposed_near_either_witness(
    neighbours: float, model: float, full: bool
) -> None:
    """40,000 -> 4,000: the restored value is proposed when it lies within two
    residual scales of either witness; near neither, it is set aside for the better
    witness's estimate (the model's, whose scale is smaller). The doubt that 40,000
    is wrong is the confidence either way."""
    value, confidence, how = _proposal_value(40_000.0, _evidence(neighbours, model))
    assert how["within_spread"] is full and confidence == 0.99
    if full:
        assert value == 4_000.0 and how["decimal_shift"] == "x10^-1"
    else:
        assert value == model and how["estimate"] == "model"
        assert how["decimal_shift_set_aside"] == "x10^-1" and "decimal_shift" not in how


def test_another_rows_value_is_replaced_by_the_witnesses_estimate() -> None:
    """The lowest target given the highest: four residual scales from both witnesses
    on a table this noisy is modest evidence among 340 rows, and the confidence
    says so; the value proposed is the witnesses' estimate, not a power of ten."""
    raw, clean = diabetes()
    context = context_of(raw, np.array([SLIPPED, SWAPPED]))
    proposals = {p.row_key: p for p in TargetRepairer(min_doubt=0.25).propose(context)}
    swap, slip = proposals[str(SWAPPED)], proposals[str(SLIPPED)]
    new, old = float(swap.new_value), float(swap.old_value)
    assert swap.evidence["estimate"] in ("neighbours", "model")
    witnesses = (swap.evidence["neighbours_estimate"], swap.evidence["model_estimate"])
    assert new in witnesses
    assert abs(new - clean[SWAPPED]) < abs(old - clean[SWAPPED]) / 3
    assert 0.25 <= swap.confidence == swap.evidence["doubt"] < slip.confidence


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_heavy_tailed_noise_on_sound_rows_is_not_doubted(seed: int) -> None:
    """Student-t noise (2 dof) on every target: a draw beyond twice the targets'
    spread makes a gross error, which is rightly doubted; no plausible one is, at
    the confidence a reviewer would accept (0.9: a false discovery rate of 10 %)."""
    raw, _ = diabetes(noise=10.0, seed=seed)
    noise = raw_noise(10.0, seed)[: len(raw.train)]
    context = context_of(raw, np.array([SLIPPED]))
    assessment = assess_targets(context)
    sound = np.setdiff1d(np.arange(len(raw.train)), [SLIPPED, SWAPPED])
    plausible = sound[np.abs(noise[sound]) < 2 * np.std(raw.valid.y)]
    assert len(plausible) > 0.95 * len(sound)
    assert assessment.doubt[plausible].max() < 0.9
    # As suspects, plausible rows get no proposal at that confidence either.
    noisy = replace(context, suspects=plausible[:60])
    made = TargetRepairer().propose(replace(noisy, diagnoses=diagnose(noisy)))
    assert [p for p in made if p.confidence >= 0.9] == []


def raw_noise(scale: float, seed: int) -> np.ndarray:
    """The noise `diabetes(scale, seed)` added, in its row order."""
    rng = np.random.default_rng(seed)
    rng.permutation(len(load_diabetes().target))
    return scale * rng.standard_t(2, len(load_diabetes().target))


def test_stored_predictions_are_model_free_evidence() -> None:
    raw, clean = diabetes()
    noise = np.random.default_rng(3).normal(0, 30, len(clean))
    stored = replace(raw, predictions=clean + noise)  # a fair model that knows more
    context = context_of(stored, np.array([SLIPPED]))
    (proposal,) = TargetRepairer().propose(replace(context, diagnoses=diagnose(context)))
    assert float(proposal.new_value) == clean[SLIPPED]
    assert proposal.evidence["model"] == "stored predictions"
    assert proposal.evidence["calibration"].endswith("trusted training rows")
    assert proposal.confidence >= 0.9


def test_the_class_label_repairer_refuses_a_regression_target() -> None:
    raw, _ = diabetes()
    context = context_of(raw, np.array([SLIPPED]))
    with pytest.raises(WrongTask, match="regression target"):
        LabelRepairer().propose(context)
    names = [r.name for r in default_repairers(task=Task.REGRESSION)]
    assert "target_neighbours_model" in names and "label_vote_oof" not in names
    assert "target_neighbours_model" not in [r.name for r in default_repairers()]


def test_verification_retrains_and_judges_by_validation_squared_error() -> None:
    raw, _ = diabetes()
    context = context_of(raw, np.array([SLIPPED, SWAPPED]))
    made = propose(
        context, default_repairers(task=Task.REGRESSION), Verifier("target"), raw=raw
    ).proposals
    verdicts = {p.row_key: p.verification for p in made}
    slip = verdicts[str(SLIPPED)]
    assert slip["verdict"] == "improves" and slip["delta"] > slip["margin"] > 0
    assert slip["utility"].startswith("validation mean squared error")
    # The user's model, built from its spec, is the one retrained.
    from mendb.valuation.models import ModelSpec

    spec = ModelSpec("sklearn.linear_model:LinearRegression")
    (checked,) = Verifier("target", model=spec).fit(raw).verify([made[0]])
    assert checked.verification["model"] == spec.path


def test_tail_probability_and_q_values_on_small_inputs() -> None:
    null = np.arange(1.0, 101.0)  # 1..100
    p = tail_probability(np.array([0.5, 50.0]), null)
    assert p.tolist() == [101 / 101, 52 / 101]  # at least as far: all, then 50..100
    far = tail_probability(np.array([1000.0]), null)
    assert 0 < far[0] < 1 / 101  # beyond the null, the Pareto tail goes on falling
    q = benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5]))
    assert np.allclose(q, [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])


def _with_columns(raw: TrainingArrays, extra: int, seed: int = 0) -> TrainingArrays:
    """`raw` with `extra` standard normal columns the target does not hang on."""
    rng = np.random.default_rng(seed)

    def widened(split: Split) -> Split:
        return replace(split, x=np.hstack([split.x, rng.normal(size=(len(split), extra))]))

    names = raw.feature_names + tuple(f"noise{j}" for j in range(extra))
    return replace(
        raw,
        train=widened(raw.train),
        valid=widened(raw.valid),
        test=widened(raw.test),
        feature_names=names,
    )


def test_neighbours_are_searched_where_the_target_moves() -> None:
    """Thirty columns of noise beside diabetes's ten: plain distances would be
    ruled by them, so the search weighs each feature by its robust coefficient,
    and the slipped zero is still restored exactly."""
    raw, clean = diabetes()
    context = context_of(_with_columns(raw, 30), np.array([SLIPPED, SWAPPED]))
    assessment = assess_targets(context)
    assert assessment.neighbour_space == WEIGHTED_SPACE
    assert assessment.neighbours_scale < assessment.model_scale  # not in the prepared space
    proposals = {p.row_key: p for p in TargetRepairer().propose(context)}
    assert float(proposals[str(SLIPPED)].new_value) == clean[SLIPPED]
    assert proposals[str(SLIPPED)].evidence["neighbour_space"] == WEIGHTED_SPACE


def test_a_target_a_linear_fit_cannot_see_keeps_the_prepared_space() -> None:
    """y = x0^2: a linear fit gives x0 no weight, and the neighbours found without
    it would be no witness, so the prepared features are kept."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 4))
    y = 100 * x[:, 0] ** 2 + rng.normal(0, 5, 500)
    keys = np.array([str(i) for i in range(500)], dtype=object)

    def split(rows: slice) -> Split:
        return Split(x[rows], y[rows], keys[rows])

    raw = TrainingArrays(
        split(slice(0, 400)), split(slice(400, 500)), split(slice(0, 0)), (),
        ("x0", "x1", "x2", "x3"), task=Task.REGRESSION,
    )  # fmt: skip
    assessment = assess_targets(context_of(raw, np.array([0])))
    assert assessment.neighbour_space == PREPARED_SPACE
