"""The loop's settings, as the CLI, the HTTP API and `mendb.request('loop', ...)` give
them, checked before anything runs."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from mendb.db.errors import MendbError
from mendb.server.policy import DEFAULT_Z

POLICIES = ("auto", "review")


@dataclass(frozen=True)
class LoopConfig:
    method: str = "auto"
    budget: int | None = None
    max_rounds: int = 5
    # A round is kept when validation log-loss falls by more than its margin and by
    # at least this much; 0 asks for no gain beyond the margin.
    min_gain: float = 0.0
    # The margin of every judge, in paired standard errors of its per-row change on
    # the validation rows (server.policy).
    margin: float = DEFAULT_Z
    policy: str = "auto"
    # A label repair's confidence is the chance it is right under the estimated noise
    # model (repair.repairers.label). Above 1/2 a relabel mends more labels than it
    # breaks on average, but a wrong relabel is damage no one sees: where classes
    # overlap, the posteriors between 1/2 and 9/10 are right barely half the time
    # (docs/BENCHMARKS.md), so the loop acts on near-certain ones and leaves the rest
    # to a person.
    min_confidence: float = 0.9
    # The counterfactual retrain on the validation rows may let a verified proposal
    # through from this confidence; it is no better a guide where classes overlap, so
    # by default it asks for the same.
    min_verified_confidence: float = 0.9
    seed: int = 0
    k: int = 10
    # The round's judges on the validation rows guard the loop already; this asks
    # for a verified verdict on every single repair as well.
    verified_only: bool = False

    def check(self) -> None:
        if self.policy not in POLICIES:
            raise MendbError(f"policy {self.policy!r} must be one of {POLICIES}")
        if self.max_rounds < 1:
            raise MendbError(f"max-rounds must be at least 1, got {self.max_rounds}")
        if self.budget is not None and self.budget < 1:
            raise MendbError(f"budget must be at least 1, got {self.budget}")
        if not 0 <= self.margin <= 10:
            raise MendbError(f"margin must be between 0 and 10 standard errors, got {self.margin}")
        if self.min_gain < 0:
            raise MendbError(f"min-gain must not be negative, got {self.min_gain}")
        for name in ("min_confidence", "min_verified_confidence"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                flag = name.replace("_", "-")
                raise MendbError(f"{flag} must be between 0 and 1, got {value}")

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
