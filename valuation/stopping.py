"""Composable stopping rules; their completion is the run's progress.

`MaxSamples(5000) | StandardErrorBelow(1e-3)` stops at whichever comes first, `&`
when both hold. Each rule reports `completion(status)` in [0, 1]: `|` takes the
largest part, `&` the smallest, so the fraction shown to the user is the fraction
of the rule that decides. The engine copies a rule before a run, so the
stateful ones (rank stability) start afresh each time.

Rules read a `Status`: samples done, seconds elapsed, the current values,
standard errors and counts, and R-hat across chains.

Budgets (`MaxSamples`, `MaxTime`) end a run; criteria (`StandardErrorBelow`,
`RankStability`, `GelmanRubin`) say it converged. Each rule remembers whether it
held at the latest check (`met`), so after a run `assess_convergence` can tell a
run whose criteria were met from one whose budget ran out first, and say so.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray


class Status(Protocol):
    """What a stopping rule may look at; computed lazily by the engine."""

    samples: int
    elapsed: float

    @property
    def values(self) -> NDArray[np.float64]: ...

    @property
    def stderr(self) -> NDArray[np.float64]: ...

    @property
    def rhat(self) -> float: ...


class StoppingRule(ABC):
    """`done` is called once per check and may update state; `completion` only reads.
    `check` is `done` that also records the answer in `met`."""

    criterion: ClassVar[str | None] = None
    """The method setting a convergence criterion answers to; None for a budget."""
    met: bool = False

    @abstractmethod
    def done(self, status: Status) -> bool: ...

    def check(self, status: Status) -> bool:
        self.met = self.done(status)
        return self.met

    def leaves(self) -> list[StoppingRule]:
        """The simple rules this rule is made of."""
        return [self]

    @abstractmethod
    def completion(self, status: Status) -> float: ...

    def __or__(self, other: StoppingRule) -> StoppingRule:
        return AnyOf(self, other)

    def __and__(self, other: StoppingRule) -> StoppingRule:
        return AllOf(self, other)


class AnyOf(StoppingRule):
    def __init__(self, *rules: StoppingRule) -> None:
        self.rules = rules

    def done(self, status: Status) -> bool:
        return any([rule.check(status) for rule in self.rules])  # every rule sees every check

    def leaves(self) -> list[StoppingRule]:
        return [leaf for rule in self.rules for leaf in rule.leaves()]

    def completion(self, status: Status) -> float:
        return max(rule.completion(status) for rule in self.rules)

    def __repr__(self) -> str:
        return " | ".join(map(repr, self.rules))


class AllOf(StoppingRule):
    def __init__(self, *rules: StoppingRule) -> None:
        self.rules = rules

    def done(self, status: Status) -> bool:
        return all([rule.check(status) for rule in self.rules])

    def leaves(self) -> list[StoppingRule]:
        return [leaf for rule in self.rules for leaf in rule.leaves()]

    def completion(self, status: Status) -> float:
        return min(rule.completion(status) for rule in self.rules)

    def __repr__(self) -> str:
        return "(" + " & ".join(map(repr, self.rules)) + ")"


class MaxSamples(StoppingRule):
    """Stop after `n` samples (permutations, subsets, bags)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def done(self, status: Status) -> bool:
        return status.samples >= self.n

    def completion(self, status: Status) -> float:
        return min(1.0, status.samples / max(self.n, 1))

    def __repr__(self) -> str:
        return f"MaxSamples({self.n})"


# Deliberately like MaxSamples: the two budgets, one in samples and one in seconds.
class MaxTime(StoppingRule):
    """Stop after `seconds` of wall time (values then depend on the machine)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def done(self, status: Status) -> bool:
        return status.elapsed >= self.seconds

    def completion(self, status: Status) -> float:
        return min(1.0, status.elapsed / self.seconds) if self.seconds > 0 else 1.0

    def __repr__(self) -> str:
        return f"MaxTime({self.seconds})"


class StandardErrorBelow(StoppingRule):
    """Stop when every row's standard error is below `threshold`.

    Completion is (threshold / max stderr)^2, which grows about linearly in samples.
    """

    criterion = "stderr_below"

    def __init__(self, threshold: float, min_samples: int = 10) -> None:
        self.threshold = threshold
        self.min_samples = min_samples

    def _worst(self, status: Status) -> float:
        return float(np.max(status.stderr)) if len(status.stderr) else 0.0

    def done(self, status: Status) -> bool:
        return status.samples >= self.min_samples and self._worst(status) < self.threshold

    def completion(self, status: Status) -> float:
        worst = self._worst(status)
        if status.samples < self.min_samples or not np.isfinite(worst):
            return 0.0
        return 1.0 if worst <= self.threshold else (self.threshold / worst) ** 2

    def __repr__(self) -> str:
        return f"StandardErrorBelow({self.threshold})"


def spearman(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Spearman rank correlation (ties broken by position); 1 when both are constant."""
    ra, rb = np.argsort(np.argsort(a, kind="stable")), np.argsort(np.argsort(b, kind="stable"))
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 1.0
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


# Deliberately like MaxSamples and every rule here: each fills in StoppingRule's
# done, completion and __repr__.
class RankStability(StoppingRule):
    """Stop when the Spearman correlation between the ranks at successive checks
    stays at or above 1 - `tolerance` for `patience` checks in a row."""

    criterion = "rank_tolerance"

    def __init__(self, tolerance: float = 0.01, patience: int = 3) -> None:
        self.tolerance = tolerance
        self.patience = patience
        self._previous: NDArray[np.float64] | None = None
        self._streak = 0

    def done(self, status: Status) -> bool:
        current = np.array(status.values, copy=True)
        if self._previous is not None and len(current) == len(self._previous):
            stable = spearman(self._previous, current) >= 1.0 - self.tolerance
            self._streak = self._streak + 1 if stable else 0
        self._previous = current
        return self._streak >= self.patience

    def completion(self, status: Status) -> float:
        return min(1.0, self._streak / max(self.patience, 1))

    def __repr__(self) -> str:
        return f"RankStability({self.tolerance}, {self.patience})"


class GelmanRubin(StoppingRule):
    """Stop when the largest per-row R-hat across chains is <= `threshold` (Gelman &
    Rubin 1992). Needs at least two chains; with fewer it never stops."""

    criterion = "rhat_below"

    def __init__(self, threshold: float = 1.05, min_samples: int = 20) -> None:
        self.threshold = threshold
        self.min_samples = min_samples

    def done(self, status: Status) -> bool:
        return status.samples >= self.min_samples and status.rhat <= self.threshold

    def completion(self, status: Status) -> float:
        rhat = status.rhat
        if status.samples < self.min_samples or not np.isfinite(rhat):
            return 0.0
        return 1.0 if rhat <= self.threshold else min(1.0, (self.threshold - 1) / (rhat - 1))

    def __repr__(self) -> str:
        return f"GelmanRubin({self.threshold})"


def criteria_met(rule: StoppingRule) -> dict[str, bool]:
    """Each convergence criterion of `rule`, and whether it held at the last check."""
    return {leaf.criterion: leaf.met for leaf in rule.leaves() if leaf.criterion is not None}


# The classic limit of Gelman et al. (Bayesian Data Analysis): the figure checked is
# the largest R-hat over every row, so a tighter limit would flag well-mixed runs
# on chance alone; a run that asked for `rhat_below` is held to its own figure.
RHAT_LIMIT = 1.1


@dataclass(frozen=True)
class Convergence:
    """Whether a Monte Carlo run converged by its own checks.

    `converged` is False when a requested criterion was not met before the budget
    ran out, when R-hat across chains is above its limit (or cannot be computed
    for lack of samples per chain), or when rows were never sampled; None when
    nothing could check it (one chain and no criterion); True otherwise.
    """

    converged: bool | None
    rhat: float | None
    rhat_limit: float | None
    criteria: dict[str, bool] = field(default_factory=dict)
    never_sampled: int = 0
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "converged": self.converged,
            "rhat": self.rhat,
            "rhat_limit": self.rhat_limit,
            "criteria": dict(self.criteria),
            "never_sampled": self.never_sampled,
            "warning": self.warning,
        }


def assess_convergence(
    rhat: float,
    n_chains: int,
    criteria: dict[str, bool],
    never_sampled: int = 0,
    rhat_limit: float | None = None,
    judge_rhat: bool = True,
) -> Convergence:
    """Judge a finished run from its R-hat, its criteria's last answers and the
    rows it never reached. R-hat is held to `rhat_limit` (default `RHAT_LIMIT`)
    when there are two chains or more, unless `judge_rhat` is False and no limit
    was asked for (it is then reported, not judged)."""
    limit = RHAT_LIMIT if rhat_limit is None else rhat_limit
    judged = n_chains >= 2 and (judge_rhat or rhat_limit is not None)
    finite = bool(np.isfinite(rhat))
    problems = [
        f"{name} was not met before the sample or time budget ran out"
        for name, met in criteria.items()
        if not met
    ]
    if judged and not finite:
        problems.append("too few samples per chain to compute R-hat")
    elif judged and rhat > limit:
        problems.append(f"R-hat across chains is {rhat:.4g}, above {limit:g}")
    if never_sampled:
        problems.append(f"{never_sampled} rows were never sampled (their values are guesses)")
    checked = bool(criteria) or judged or never_sampled > 0
    converged = (not problems) if checked else None
    warning = (
        "the Monte Carlo estimate did not converge: " + "; ".join(problems) + "; values are"
        " unreliable, give the run more samples or time"
        if problems
        else None
    )
    return Convergence(
        converged=converged,
        rhat=float(rhat) if finite else None,
        rhat_limit=limit if judged else None,
        criteria=dict(criteria),
        never_sampled=int(never_sampled),
        warning=warning,
    )
