"""Composable stopping rules; their completion is the run's progress.

`MaxSamples(5000) | StandardErrorBelow(1e-3)` stops at whichever comes first, `&`
when both hold. Each rule reports `completion(status)` in [0, 1]: `|` takes the
largest part, `&` the smallest, so the fraction shown to the user is the fraction
of the rule that decides. The engine copies a rule before a run, so the
stateful ones (rank stability) start afresh each time.

Rules read a `Status`: samples done, seconds elapsed, the current values,
standard errors and counts, and R-hat across chains.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol

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
    """`done` is called once per check and may update state; `completion` only reads."""

    @abstractmethod
    def done(self, status: Status) -> bool: ...

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
        return any([rule.done(status) for rule in self.rules])  # every rule sees every check

    def completion(self, status: Status) -> float:
        return max(rule.completion(status) for rule in self.rules)

    def __repr__(self) -> str:
        return " | ".join(map(repr, self.rules))


class AllOf(StoppingRule):
    def __init__(self, *rules: StoppingRule) -> None:
        self.rules = rules

    def done(self, status: Status) -> bool:
        return all([rule.done(status) for rule in self.rules])

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


class RankStability(StoppingRule):
    """Stop when the Spearman correlation between the ranks at successive checks
    stays at or above 1 - `tolerance` for `patience` checks in a row."""

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
