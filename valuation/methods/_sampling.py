"""What the sampling methods share: seeds, stopping rules, executors, the utility
setting, and results that say whether the estimate converged."""

from __future__ import annotations

from typing import Any

import numpy as np

from mendb.valuation._validation import InvalidParameterError, check_choice, check_int, check_real
from mendb.valuation.base import ProgressCallback, Valuation
from mendb.valuation.data import TrainingArrays
from mendb.valuation.engine import Estimate
from mendb.valuation.executors import Executor, LocalExecutor
from mendb.valuation.result import ValuationResult
from mendb.valuation.stopping import (
    GelmanRubin,
    MaxSamples,
    MaxTime,
    RankStability,
    StandardErrorBelow,
    StoppingRule,
    assess_convergence,
)
from mendb.valuation.utility import UTILITIES, UtilityChoice, choose_utility


def resolve_seed(seed: Any) -> int:
    """The seed given, or a fresh one from the OS entropy (kept to 63 bits)."""
    if seed is None:
        return int(np.random.SeedSequence().entropy) % (1 << 63)  # type: ignore[arg-type]
    return check_int("seed", seed, low=0)


class SamplingMethod(Valuation):
    """A Monte Carlo method; subclasses store these attributes in `__init__`:
    max_samples, max_time, stderr_below, rank_tolerance, rhat_below, n_chains,
    block_size, seed, executor, n_jobs (`rank_tolerance`, `rhat_below` and
    `utility` optional).

    The result's diagnostics say which utility scored the validation rows and why
    (`utility`, `utility_reason`) and, for a Monte Carlo estimate, whether it
    converged (`convergence`, see `valuation.stopping.Convergence`)."""

    _monte_carlo = True  # False: an exact method run by the engine, nothing to converge
    _judge_rhat = True  # False: R-hat is held to a limit only when `rhat_below` asks

    max_samples: int
    max_time: float | None
    stderr_below: float | None
    n_chains: int
    block_size: int
    seed: int | None
    executor: Executor | None
    n_jobs: int

    def _stopping(self) -> StoppingRule:
        """max samples | max time | stderr below | rank stability | R-hat below."""
        rule: StoppingRule = MaxSamples(check_int("max_samples", self.max_samples, low=1))
        if self.max_time is not None:
            rule = rule | MaxTime(check_real("max_time", self.max_time, low=0.0))
        if self.stderr_below is not None:
            rule = rule | StandardErrorBelow(check_real("stderr_below", self.stderr_below, low=0.0))
        tolerance = getattr(self, "rank_tolerance", None)
        if tolerance is not None:
            rule = rule | RankStability(check_real("rank_tolerance", tolerance, low=0.0, high=1.0))
        rhat = getattr(self, "rhat_below", None)
        if rhat is not None:
            if self.n_chains < 2:
                raise InvalidParameterError("n_chains", self.n_chains, ">= 2 with rhat_below")
            rule = rule | GelmanRubin(check_real("rhat_below", rhat, low=1.0))
        return rule

    def _run_options(self) -> dict[str, Any]:
        """Validated keyword arguments for `engine.run`."""
        executor = self.executor
        if executor is not None and not isinstance(executor, Executor):
            raise InvalidParameterError("executor", executor, "an Executor or None")
        return {
            "n_chains": check_int("n_chains", self.n_chains, low=1),
            "block_size": check_int("block_size", self.block_size, low=1),
            "executor": executor or LocalExecutor(check_int("n_jobs", self.n_jobs, low=-1)),
            "max_samples": check_int("max_samples", self.max_samples, low=1),
        }

    def _choose_utility(self, data: TrainingArrays) -> UtilityChoice:
        setting = check_choice("utility", getattr(self, "utility", "accuracy"), UTILITIES)
        return choose_utility(setting, data.train.y, data.classes)

    def _params(self, seed: int | None) -> dict[str, Any]:
        """Parameters as run: the seed actually used, the executor by name."""
        params = self.get_params()
        if "seed" in params:
            params["seed"] = seed
        if params.get("executor") is not None:
            params["executor"] = repr(params["executor"])
        if params.get("model") is not None and not isinstance(params["model"], str):
            params["model"] = repr(params["model"])  # a learner by name stays its name
        return params

    def _make_result(
        self,
        data: TrainingArrays,
        estimate: Estimate,
        seed: int | None,
        diagnostics: dict[str, Any],
        progress: ProgressCallback | None,
        utility: UtilityChoice | None = None,
    ) -> ValuationResult:
        """The result; its params hold the seed and the utility as resolved, so the
        same params replay the run."""
        if progress is not None:
            progress(1.0)
        params = self._params(seed)
        diagnostics = dict(diagnostics)
        if utility is not None:
            params["utility"] = utility.metric
            diagnostics.update(utility.diagnostics())
        if self._monte_carlo:
            diagnostics["convergence"] = assess_convergence(
                estimate.rhat,
                self.n_chains,
                estimate.criteria,
                never_sampled=int(np.count_nonzero(estimate.counts == 0)),
                rhat_limit=getattr(self, "rhat_below", None),
                judge_rhat=self._judge_rhat,
            ).to_dict()
        return ValuationResult(
            row_keys=data.train.keys,
            values=np.asarray(estimate.values, dtype=np.float64),
            stderr=np.asarray(estimate.stderr, dtype=np.float64),
            counts=np.asarray(estimate.counts, dtype=np.int64),
            method=self.method,
            params=params,
            seed=seed,
            diagnostics=diagnostics,
        )
