"""The loop's decisions: measurements in, a decision out. Pure: no database, no I/O.

A round is judged on the validation rows only, by paired per-row differences between
the model before and after the round's repairs: kept when the validation log-loss
improves beyond its statistical margin and the balanced accuracy does not fall beyond
its own. On noisy validation labels the log-loss is forward-corrected and the
balanced error backward-corrected (`valuation.judge`). The sealed test split never
enters a decision. A second guard refuses relabels that push the training label
distribution away from a trusted reference, the signature of a label expert that
erases a minority. A regression round is judged by its validation MSE and MAE, and
guarded by the target's mean, the same way (`server.policy_regression`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mendb.valuation.judge import Measurement, PairedChange, paired_change

# One-sided 95 %: a round is a one-sided question (did it improve?), and a round that
# changes nothing passes by chance one time in twenty. A larger z refuses real small
# gains on the few hundred validation rows a table usually has; a kept round that did
# nothing costs little, since the next round is judged afresh against it.
DEFAULT_Z = 1.645


class DecisionCode(StrEnum):
    KEPT = "kept"
    LOG_LOSS_NOT_BETTER = "log_loss_not_better"
    GAIN_BELOW_MIN = "gain_below_min"
    BALANCED_ACCURACY_FELL = "balanced_accuracy_fell"
    LABEL_SHIFT = "label_shift"
    # A regression round's judges and guard (server.policy_regression).
    MSE_NOT_BETTER = "mse_not_better"
    RMSE_ROSE = "rmse_rose"
    MAE_ROSE = "mae_rose"
    TARGET_SHIFT = "target_shift"
    NO_VALIDATION_ROWS = "no_validation_rows"
    VALUES_UNTRUSTED = "values_untrusted"
    NOTHING_TO_PROPOSE = "nothing_to_propose"
    NOTHING_ACCEPTED = "nothing_accepted"
    MAX_ROUNDS = "max_rounds"


@dataclass(frozen=True)
class Decision:
    """`keep`: the round's repairs stay (else the loop reverts them); `stop`: the loop
    ends after this round. `reason` is one sentence naming the judge and its figures."""

    code: DecisionCode
    keep: bool
    stop: bool
    reason: str
    figures: dict[str, float] = field(default_factory=dict)


def halt(code: DecisionCode, reason: str) -> Decision:
    """A stop that no measurement decided (nothing to propose, untrusted values, the
    last round): nothing of the round is kept, since nothing was applied; after the
    last round, the caller has already kept or reverted it by `judge_round`."""
    return Decision(code, keep=False, stop=True, reason=reason)


def untrusted_values(diagnostics: dict[str, Any]) -> Decision | None:
    """A reason not to act on a valuation: the MTM diagnostic's warning, or a Monte
    Carlo run whose own convergence check failed."""
    mtm_warning = (diagnostics.get("mtm") or {}).get("warning")
    if mtm_warning:
        return halt(DecisionCode.VALUES_UNTRUSTED, f"values cannot be trusted: {mtm_warning}")
    convergence = diagnostics.get("convergence") or {}
    if convergence.get("converged") is False:
        warning = convergence.get("warning") or "its convergence check failed"
        reason = f"the values did not converge: {warning}"
        return halt(DecisionCode.VALUES_UNTRUSTED, reason)
    return None


def judge_round(
    before: Measurement,
    after: Measurement,
    *,
    z: float = DEFAULT_Z,
    min_gain: float = 0.0,
    test: tuple[Measurement, Measurement] | None = None,
) -> Decision:
    """Keep the round only if validation log-loss falls by more than `z` paired
    standard errors and by at least `min_gain`, and balanced accuracy does not fall
    by more than `z` of its paired standard errors.

    `test` is accepted and ignored: the sealed test split is reported, never judged
    on, and taking it here lets a test prove that it changes nothing."""
    del test
    if z < 0 or min_gain < 0:
        raise ValueError(f"z and min_gain must not be negative, got {z} and {min_gain}")
    _check_paired(before, after)
    if len(before) == 0:
        return halt(DecisionCode.NO_VALIDATION_ROWS, "no validation rows to judge the round on")
    log_loss = paired_change(before.row_judged_log_loss(), after.row_judged_log_loss())
    # The balanced error rises by exactly what the balanced accuracy falls.
    fall = paired_change(before.row_balanced_error(), after.row_balanced_error())
    balanced_before = 1.0 - float(before.row_balanced_error().mean())
    loss_before = float(before.row_judged_log_loss().mean())
    figures = {
        "log_loss_before": loss_before,
        "log_loss_after": loss_before + log_loss.mean,
        "log_loss_change": log_loss.mean,
        "log_loss_se": log_loss.se,
        "balanced_accuracy_before": balanced_before,
        "balanced_accuracy_after": balanced_before - fall.mean,
        "balanced_accuracy_change": -fall.mean,
        "balanced_accuracy_se": fall.se,
        "rows": float(log_loss.rows),
        "z": z,
        "min_gain": min_gain,
    }
    fixed = before.correction()
    if fixed is not None:
        figures["noise_blend"] = fixed.blend
    noun = "corrected validation" if before.corrected else "validation"
    loss_noun = "forward-corrected validation" if before.corrected else "validation"
    loss_text = _change_text(f"{loss_noun} log-loss", loss_before, log_loss)
    balanced_text = _change_text(
        f"{noun} balanced accuracy", balanced_before, PairedChange(-fall.mean, fall.se, fall.rows)
    )
    if not fall.mean <= _margin(z, fall):
        return _refuse(
            DecisionCode.BALANCED_ACCURACY_FELL,
            f"{balanced_text}, a fall beyond {z:g} standard errors",
            figures,
        )
    if before.corrected:
        # The correction is only as good as the noise model, estimated from the very
        # labels it doubts; one mistaken for the other way round would call the
        # erasing of a minority a repair. So the balanced accuracy on the labels as
        # recorded must not fall beyond its margin either.
        recorded = paired_change(
            before.uncorrected().row_balanced_error(), after.uncorrected().row_balanced_error()
        )
        recorded_before = 1.0 - float(before.uncorrected().row_balanced_error().mean())
        figures["recorded_balanced_accuracy_change"] = -recorded.mean
        figures["recorded_balanced_accuracy_se"] = recorded.se
        if not recorded.mean <= _margin(z, recorded):
            text = _change_text(
                "validation balanced accuracy on the recorded labels",
                recorded_before,
                PairedChange(-recorded.mean, recorded.se, recorded.rows),
            )
            return _refuse(
                DecisionCode.BALANCED_ACCURACY_FELL,
                f"{text}, a fall beyond {z:g} standard errors",
                figures,
            )
    gain = -log_loss.mean
    if not gain > _margin(z, log_loss):
        return _refuse(
            DecisionCode.LOG_LOSS_NOT_BETTER,
            f"{loss_text}, not better by more than {z:g} standard errors",
            figures,
        )
    if not gain >= min_gain:
        return _refuse(
            DecisionCode.GAIN_BELOW_MIN,
            f"{loss_text}, a gain below the minimum {min_gain:g}",
            figures,
        )
    return Decision(
        DecisionCode.KEPT,
        keep=True,
        stop=False,
        reason=f"{loss_text} and {balanced_text}: the round was kept",
        figures=figures,
    )


def _check_paired(before: Measurement, after: Measurement) -> None:
    if before.n_classes != after.n_classes or not np.array_equal(before.labels, after.labels):
        raise ValueError("before and after must be measured on the same rows and classes")
    if not _same_noise(before.transition, after.transition):
        raise ValueError("before and after must be corrected by the same noise model")


def _margin(z: float, change: PairedChange) -> float:
    """z standard errors; infinite when the error is (too few rows), whatever z."""
    return z * change.se if math.isfinite(change.se) else math.inf


def _same_noise(first: NDArray[np.float64] | None, second: NDArray[np.float64] | None) -> bool:
    if first is None or second is None:
        return first is None and second is None
    return bool(np.array_equal(first, second))


def _change_text(name: str, start: float, change: PairedChange) -> str:
    return (
        f"{name} {start:.3f} -> {start + change.mean:.3f} ({change.mean:+.3f} +- {change.se:.3f})"
    )


def _refuse(
    code: DecisionCode, text: str, figures: dict[str, float], outcome: str = "reverted"
) -> Decision:
    return Decision(
        code, keep=False, stop=True, reason=f"{text}: the round was {outcome}", figures=figures
    )


# Shares are sums of float quotients: a move that leaves a distance unchanged in exact
# arithmetic may come out a few ulps larger, which must not refuse it at z = 0.
_ROUNDING = 1e-12


def label_shift_guard(
    train_counts_before: NDArray[np.int64],
    train_counts_after: NDArray[np.int64],
    reference: NDArray[np.float64],
    reference_rows: float,
    *,
    z: float = DEFAULT_Z,
    classes: tuple[str, ...] | None = None,
) -> Decision | None:
    """Refuse a round whose relabels move the training label distribution away from
    the reference distribution (trusted validation labels, or the noise model's clean
    prior) by more than sampling explains; None when it passes.

    With q the training shares and r the reference, the change of the squared
    distance |q_after - r|^2 - |q_before - r|^2 = 2 d . (m - r), with d = q_after -
    q_before and m their midpoint, is linear in r. Both r and the clean training
    shares the relabels aim at are multinomial samples of one distribution, so the
    change is refused when it exceeds z times its standard error
    2 sqrt(d' S d (1 / reference_rows + 1 / training_rows)), S = diag(r) - r r'. A move
    toward the reference lowers the distance and always passes. `reference_rows` may
    be `math.inf` for a reference known exactly. `classes` name the classes in the
    reason."""
    before = _shares(train_counts_before)
    after = _shares(train_counts_after)
    r = np.asarray(reference, dtype=float)
    if not (before.shape == after.shape == r.shape):
        raise ValueError("train counts and the reference must cover the same classes")
    if reference_rows <= 0:
        raise ValueError(f"reference_rows must be positive, got {reference_rows}")
    r = r / r.sum()
    d = after - before
    change = float(np.sum((after - r) ** 2) - np.sum((before - r) ** 2))
    spread = float(d @ (np.diag(r) - np.outer(r, r)) @ d)
    training_rows = float(np.sum(train_counts_after))
    se = 2.0 * math.sqrt(max(spread, 0.0) * (1.0 / reference_rows + 1.0 / training_rows))
    overshoot = _overshoot(before, after, r, reference_rows, training_rows, z, classes)
    if not change > z * se + _ROUNDING:
        return overshoot
    moved = int(np.argmax(np.abs(d)))
    distance = {
        "squared_distance_before": float(np.sum((before - r) ** 2)),
        "squared_distance_after": float(np.sum((after - r) ** 2)),
        "squared_distance_change": change,
        "squared_distance_se": se,
    }
    return _shift_refusal(
        (before, after, r),
        moved,
        classes,
        f"away from the reference {r[moved]:.3f} (squared distance {change:+.4f} +-"
        f" {se:.4f}, beyond {z:g} standard errors)",
        {**distance, "z": z},
    )


# Deliberately like repair/target.py:_residuals and valuation/proxy.py:_newton in shape
# only: typed arrays then scalars; what each computes is unrelated.
def _overshoot(
    before: NDArray[np.float64],
    after: NDArray[np.float64],
    r: NDArray[np.float64],
    reference_rows: float,
    training_rows: float,
    z: float,
    classes: tuple[str, ...] | None,
) -> Decision | None:
    """Relabels that carry a class past the reference, beyond its margin, also move
    the labels away from it, though the distance may shrink overall (a class mended
    toward its reference share but driven far below it). Refused when a class ends farther past
    the reference, in the direction it moved, than it was and than z binomial
    standard errors of its share allow."""
    d = after - before
    direction = np.sign(d)
    past_after = (after - r) * direction
    past_before = np.maximum((before - r) * direction, 0.0)
    se = np.sqrt(r * (1 - r) * (1.0 / reference_rows + 1.0 / training_rows))
    excess = past_after - past_before - z * se
    moved = int(np.argmax(excess))
    if not excess[moved] > _ROUNDING:
        return None
    return _shift_refusal(
        (before, after, r),
        moved,
        classes,
        f"past the reference {r[moved]:.3f} by more than {z:g} standard errors"
        f" ({float(se[moved]):.3f})",
        {"share_se": float(se[moved]), "z": z},
    )


def _shift_refusal(
    shares: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
    moved: int,
    classes: tuple[str, ...] | None,
    how: str,
    figures: dict[str, float],
) -> Decision:
    """The label-shift refusal for class `moved`, its shares (before, after,
    reference) in the figures and the reason."""
    before, after, r = shares
    name = repr(classes[moved]) if classes is not None else str(moved)
    return _refuse(
        DecisionCode.LABEL_SHIFT,
        f"the relabels would move class {name}'s training share {before[moved]:.3f} ->"
        f" {after[moved]:.3f}, {how}",
        {
            **figures,
            "class": float(moved),
            "share_before": float(before[moved]),
            "share_after": float(after[moved]),
            "share_reference": float(r[moved]),
        },
        outcome="refused before it was applied",
    )


def _shares(counts: NDArray[np.int64]) -> NDArray[np.float64]:
    values = np.asarray(counts, dtype=float)
    if values.ndim != 1 or np.any(values < 0) or values.sum() <= 0:
        raise ValueError("train counts must be non-negative per class with at least one row")
    return values / values.sum()
