"""The loop's settings, declared once: each field of `LoopConfig` carries its
default, help, range and choices, from which the `mendb loop` options and the HTTP
API's schema of a loop's `params` are generated (server/setting_fields.py). The
CLI, the HTTP API and `mendb.request('loop', ...)` all check them with `check()`
before anything runs."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from mendb.db.errors import MendbError
from mendb.server import setting_fields
from mendb.server.params import MAX_NEIGHBOURS, MAX_SEED
from mendb.server.policy import DEFAULT_Z
from mendb.server.setting_fields import setting
from mendb.valuation.models import InvalidModel, ModelSpec, model_spec

POLICIES = ("auto", "review")


def loop_methods() -> tuple[str, ...]:
    """The methods a loop may value with: auto, or any registered one."""
    from mendb.valuation.methods import METHODS  # the registry imports scikit-learn

    return ("auto", *sorted(METHODS))


@dataclass(frozen=True)
class LoopConfig:
    method: str = setting("auto", choices=loop_methods)
    budget: int | None = setting(
        None,
        help="Rows to look at per round (default: a quarter of the training rows; only"
        " rows valued as harmful or with a broken cell are proposed for).",
        low=1,
        high=10**8,
    )
    max_rounds: int = setting(5, low=1, high=1000)
    # A round is kept when validation log-loss falls by more than its margin and by
    # at least this much; 0 asks for no gain beyond the margin. A numeric target's
    # MSE is in its units squared, which differ from table to table: there the gain
    # asked for is a share of the MSE before the round.
    min_gain: float = setting(
        0.0,
        help="Keep a round only if validation log-loss falls by at least this much"
        " (a numeric target: its MSE by this share of itself), beyond its margin.",
        low=0,
        high=10,
    )
    # The margin of every judge, in paired standard errors of its per-row change on
    # the validation rows (server.policy).
    margin: float = setting(
        DEFAULT_Z,
        help="Each judge's margin, in paired standard errors of its change on the validation rows.",
        low=0,
        high=10,
    )
    policy: str = setting(
        "auto",
        help="auto: accept confident proposals; review: pause for a person.",
        choices=POLICIES,
    )
    # A label repair's confidence is the chance it is right under the estimated noise
    # model (repair.repairers.label). Above 1/2 a relabel mends more labels than it
    # breaks on average, but a wrong relabel is damage no one sees: where classes
    # overlap, the posteriors in between are often wrong (docs/BENCHMARKS.md), so
    # the loop acts on near-certain ones and leaves the rest to a person.
    min_confidence: float = setting(0.9, low=0, high=1)
    # The counterfactual retrain on the validation rows may let a verified proposal
    # through from this confidence; it is no better a guide where classes overlap, so
    # by default it asks for the same. (Deliberately like min_gain's declaration in shape
    # only: each setting is one `setting(...)` call.)
    min_verified_confidence: float = setting(
        0.9,
        help="auto policy: also accept proposals this sure whose counterfactual retrain"
        " improves the validation utility.",
        low=0,
        high=1,
    )
    # The round's judges on the validation rows guard the loop already; this asks
    # for a verified verdict on every single repair as well.
    verified_only: bool = setting(
        False,
        help="auto policy: accept only proposals whose counterfactual retrain improves"
        " the validation utility.",
        flag="--verified-only/--any-verdict",
    )
    seed: int = setting(0, low=0, high=MAX_SEED)
    # Neighbours in the label vote; the HTTP API and mendb.request take it, the
    # command line keeps the default.
    k: int = setting(10, low=1, high=MAX_NEIGHBOURS, cli=False)
    # The user's own estimator: values and repairs right for mendb's proxy can be
    # wrong for the model they train, so the loop retrains and judges with theirs.
    model: str | None = setting(
        None,
        help="Your own scikit-learn-compatible estimator, package.module:Class: the loop"
        " retrains and judges each round with it instead of mendb's model.",
    )
    # `setting` returns a dataclasses.field, so the default is no shared mutable value.
    model_params: dict[str, Any] | None = setting(  # noqa: RUF009
        None, help="The estimator's parameters, a JSON object (with --model)."
    )

    def check(self) -> None:
        """Refuse a setting outside its declared range or choices, naming it, and a
        model that cannot be built (before anything runs)."""
        setting_fields.check(self)
        self.model_spec()

    def model_spec(self) -> ModelSpec | None:
        """The user's model, checked (it imports, it has fit and predict, it takes its
        parameters); None for mendb's own."""
        if self.model is None:
            if self.model_params is not None:
                raise InvalidModel(
                    "model-params were given without a model; name one with --model",
                    column="model_params",
                )
            return None
        return model_spec(self.model, self.model_params)

    def accepts(self, confidence: float, verification: dict[str, Any] | None) -> bool:
        """Whether the auto policy accepts a proposal this sure, given the verdict of
        its counterfactual retrain: from `min_verified_confidence` when the retrain
        says it improves, else from `min_confidence` (and never, with
        `verified_only`)."""
        verdict = (verification or {}).get("verdict")
        if self.verified_only and verdict != "improves":
            return False
        if verdict == "improves":
            return confidence >= min(self.min_confidence, self.min_verified_confidence)
        return confidence >= self.min_confidence

    def acceptance(self) -> str:
        """The auto policy's rule in words."""
        if self.verified_only:
            least = min(self.min_confidence, self.min_verified_confidence)
            return f"verified and at least {least:g} confident"
        if self.min_verified_confidence >= self.min_confidence:  # verification adds none
            return f"at least {self.min_confidence:g} confident"
        return (
            f"at least {self.min_confidence:g} confident, or"
            f" {self.min_verified_confidence:g} and verified"
        )


def loop_config(params: dict[str, Any]) -> LoopConfig:
    """Settings from a request's JSON, checked; an unknown key is named."""
    known = {f.name for f in fields(LoopConfig)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise MendbError(f"unknown loop setting {unknown[0]!r}; one of {sorted(known)}")
    config = LoopConfig(**params)
    config.check()
    return config


def default_budget(n_train: int) -> int:
    """Rows looked at per round unless `--budget` says otherwise: every row with
    evidence of a broken cell or a harmful value, up to a quarter of the rows
    (proposals come only for rows with a diagnosis, so fewer are touched)."""
    return max(10, n_train // 4)
