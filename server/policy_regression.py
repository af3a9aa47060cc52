"""The loop's decisions for a numeric target: measurements in, a decision out. Pure.

A regression round is judged on the validation rows only, by paired per-row
differences between the model before and after the round's repairs: kept when the
validation MSE falls beyond its paired margin (z standard errors of the per-row
squared-error differences) and the MAE does not rise beyond its own. The MSE is
the primary judge (the RMSE a user reads is its root, and a paired test on the
root has no per-row form); the MAE refuses a round that buys its MSE on a few
extreme rows while the bulk of rows get worse. Where the model learned the target
on another scale (a price's log, `valuation.judge_regression`), the MSE judged is
the one on that scale, and the MSE on y must not rise beyond its margin either: a
round the user would read as a worse RMSE is not kept. The sealed test never enters
a decision.

The target has no class shares to guard. What the label-shift guard catches for
classes (relabels that drag the label distribution away from the reference) is
here a round whose repairs move the training target's mean away from the
validation rows' mean beyond sampling: a repairer that pulls every target one way
(a biased model's estimates, a wrong power of ten) is refused before it is
applied. Repairs that restore slipped values move the mean toward the reference
and always pass. A shrinking spread (targets pulled toward the model's estimates)
is left to the judges: it costs the validation MSE on the rows whose targets are
truly far out.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from mendb.server.policy import (
    DEFAULT_Z,
    Decision,
    DecisionCode,
    _margin,
    _refuse,
    halt,
)
from mendb.valuation.judge import PairedChange, paired_change
from mendb.valuation.judge_regression import ErrorMeasurement

# The means compared are sums of floats: a move that leaves the distance unchanged in
# exact arithmetic must not be refused at z = 0 for a few ulps.
_ROUNDING = 1e-9


# Deliberately like server/policy.py:judge_round: the two judges of one protocol take
# the same keywords, so that the loop calls either by the dataset's task.
def judge_error_round(
    before: ErrorMeasurement,
    after: ErrorMeasurement,
    *,
    z: float = DEFAULT_Z,
    min_gain: float = 0.0,
    test: tuple[ErrorMeasurement, ErrorMeasurement] | None = None,
) -> Decision:
    """Keep the round only if validation MSE (on the scale the model learned the
    target on) falls by more than `z` paired standard errors and by at least
    `min_gain` of its value before (a share: the target's units differ from table to
    table), and neither the MAE nor, where that scale is not y, the MSE on y rises by
    more than `z` of its paired standard errors.

    `test` is accepted and ignored: the sealed test split is reported, never judged
    on, and taking it here lets a test prove that it changes nothing."""
    del test
    if z < 0 or min_gain < 0:
        raise ValueError(f"z and min_gain must not be negative, got {z} and {min_gain}")
    if not np.array_equal(before.targets, after.targets):
        raise ValueError("before and after must be measured on the same rows")
    if before.scale != after.scale:
        raise ValueError("before and after must be learned on the same scale")
    if len(before) == 0:
        return halt(DecisionCode.NO_VALIDATION_ROWS, "no validation rows to judge the round on")
    on_y = paired_change(before.row_squared_error(), after.row_squared_error())
    learned = before.scale.reference is not None
    judged_before = before.row_learned_squared_error()  # on y where it learned y
    mse = paired_change(judged_before, after.row_learned_squared_error())
    mae = paired_change(before.row_absolute_error(), after.row_absolute_error())
    start = before.scores()
    mse_before = float(judged_before.mean())
    rmse_after = math.sqrt(max(start.mse + on_y.mean, 0.0))
    figures = {
        "mse_before": mse_before,
        "mse_after": max(mse_before + mse.mean, 0.0),
        "mse_change": mse.mean,
        "mse_se": mse.se,
        "rmse_before": start.rmse,
        "rmse_after": rmse_after,
        "mae_before": start.mae,
        "mae_after": start.mae + mae.mean,
        "mae_change": mae.mean,
        "mae_se": mae.se,
        "rows": float(mse.rows),
        "z": z,
        "min_gain": min_gain,
    }
    rmse_text = f"validation RMSE {start.rmse:.4g} -> {rmse_after:.4g} (MSE {_signed(on_y)})"
    if learned:
        figures |= {"mse_y_change": on_y.mean, "mse_y_se": on_y.se}
        rmse_text += f", MSE on {before.scale.describe()} {_signed(mse)}"
    mae_text = f"validation MAE {start.mae:.4g} -> {start.mae + mae.mean:.4g} ({_signed(mae)})"
    gain = -mse.mean
    if not gain > _margin(z, mse):
        return _refuse(
            DecisionCode.MSE_NOT_BETTER,
            f"{rmse_text}, not better by more than {z:g} standard errors",
            figures,
        )
    if learned and not on_y.mean <= _margin(z, on_y):
        return _refuse(
            DecisionCode.RMSE_ROSE, f"{rmse_text}, a rise on y beyond {z:g} standard errors",
            figures,
        )  # fmt: skip
    if not mae.mean <= _margin(z, mae):
        return _refuse(
            DecisionCode.MAE_ROSE, f"{mae_text}, a rise beyond {z:g} standard errors", figures
        )
    if not gain >= min_gain * mse_before:
        return _refuse(
            DecisionCode.GAIN_BELOW_MIN,
            f"{rmse_text}, a fall below the minimum {min_gain:g} of the MSE",
            figures,
        )
    return Decision(
        DecisionCode.KEPT,
        keep=True,
        stop=False,
        reason=f"{rmse_text} and {mae_text}: the round was kept",
        figures=figures,
    )


def _signed(change: PairedChange) -> str:
    return f"{change.mean:+.4g} +- {change.se:.4g}"


def target_shift_guard(
    train_before: NDArray[np.float64],
    train_after: NDArray[np.float64],
    reference_mean: float,
    reference_sd: float,
    reference_rows: float,
    *,
    z: float = DEFAULT_Z,
) -> Decision | None:
    """Refuse repairs that move the training target's mean away from the reference
    (the validation rows' mean) by more than sampling explains; None when they pass.

    With a and b the training means before and after, r the reference and d = b - a,
    the change of the squared distance (b - r)^2 - (a - r)^2 = 2 d (m - r), m the
    midpoint, is linear in r. Both r and the clean training mean the repairs aim at
    are sample means of one distribution, of spread s (the reference's standard
    deviation), so the change is refused when it exceeds z times its standard error
    2 |d| s sqrt(1 / reference_rows + 1 / training_rows). A move toward the
    reference lowers the distance and always passes."""
    before = np.asarray(train_before, dtype=float)
    after = np.asarray(train_after, dtype=float)
    if before.shape != after.shape or before.ndim != 1 or len(before) == 0:
        raise ValueError("the training targets before and after must be the same rows")
    if reference_rows <= 0 or not reference_sd >= 0:
        raise ValueError("the reference needs rows and a non-negative spread")
    if z < 0:
        raise ValueError(f"z must not be negative, got {z}")
    a, b, r = float(before.mean()), float(after.mean()), float(reference_mean)
    d = b - a
    change = (b - r) ** 2 - (a - r) ** 2
    se = 2.0 * abs(d) * reference_sd * math.sqrt(1.0 / reference_rows + 1.0 / len(before))
    scale = max(abs(a), abs(b), abs(r), 1.0) ** 2
    if not change > z * se + _ROUNDING * scale:
        return None
    figures = {
        "target_mean_before": a,
        "target_mean_after": b,
        "target_mean_reference": r,
        "squared_distance_change": change,
        "squared_distance_se": se,
        "z": z,
    }
    return _refuse(
        DecisionCode.TARGET_SHIFT,
        f"the repairs would move the training target's mean {a:.4g} -> {b:.4g}, away from"
        f" the validation mean {r:.4g} (squared distance {change:+.4g} +- {se:.4g}, beyond"
        f" {z:g} standard errors)",
        figures,
        outcome="refused before it was applied",
    )
