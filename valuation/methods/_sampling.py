"""What the sampling methods share: their Monte Carlo options (budget, stopping rule,
chains, blocks, seed, executor), the run of the engine, the utility setting, and
results that say whether the estimate converged."""

from __future__ import annotations

import typing
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

import numpy as np

from mendb.valuation._validation import InvalidParameterError, check_choice, check_int, check_real
from mendb.valuation.base import ProgressCallback, Valuation
from mendb.valuation.data import TrainingArrays
from mendb.valuation.engine import Estimate, run
from mendb.valuation.executors import Executor, LocalExecutor
from mendb.valuation.result import ValuationResult
from mendb.valuation.samplers import Sampler
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
        entropy = np.random.SeedSequence().entropy
        assert isinstance(entropy, int)  # drawn from the OS, never a sequence
        return entropy % (1 << 63)
    return check_int("seed", seed, low=0)


@dataclass(frozen=True, kw_only=True)
class MonteCarloOptions:
    """How a Monte Carlo method samples and when it stops.

    The run stops at the first of: `max_samples` samples (permutations, subsets,
    bags), `max_time` seconds, every standard error below `stderr_below`, ranks
    stable within `rank_tolerance`, R-hat across chains at most `rhat_below`, or the
    further rule `stopping` (any `valuation.stopping` rule, e.g.
    `RankStability(0.01, patience=5)`). Sample k belongs to chain k mod `n_chains`;
    blocks of `block_size` samples run on `executor` (default: a `LocalExecutor`
    with `n_jobs` processes). `seed=None` draws one, recorded in the result.

    Every field but `stopping` is also a keyword of the methods that take it
    (`TMCShapley(max_samples=200, seed=0)`), which is how the CLI and the HTTP API
    give them; copies are made with `dataclasses.replace`. Values are checked when
    the method is fitted, not here.
    """

    max_samples: int = 500
    max_time: float | None = None
    stderr_below: float | None = None
    rank_tolerance: float | None = None
    rhat_below: float | None = None
    n_chains: int = 4
    block_size: int = 2
    seed: int | None = None
    executor: Executor | None = None
    n_jobs: int = 1
    stopping: StoppingRule | None = None

    def stopping_rule(self) -> StoppingRule:
        """The rule the engine checks: max samples | max time | stderr below | rank
        stability | R-hat below | `stopping`, each part validated."""
        rule: StoppingRule = MaxSamples(check_int("max_samples", self.max_samples, low=1))
        if self.max_time is not None:
            rule = rule | MaxTime(check_real("max_time", self.max_time, low=0.0))
        if self.stderr_below is not None:
            rule = rule | StandardErrorBelow(check_real("stderr_below", self.stderr_below, low=0.0))
        if self.rank_tolerance is not None:
            tolerance = check_real("rank_tolerance", self.rank_tolerance, low=0.0, high=1.0)
            rule = rule | RankStability(tolerance)
        if self.rhat_below is not None:
            rule = rule | GelmanRubin(check_real("rhat_below", self.rhat_below, low=1.0))
        if self.stopping is not None:
            if not isinstance(self.stopping, StoppingRule):
                raise InvalidParameterError("stopping", self.stopping, "a StoppingRule or None")
            rule = rule | self.stopping
        if _rhat_limit(rule) is not None and self.n_chains < 2:
            raise InvalidParameterError("n_chains", self.n_chains, ">= 2 with rhat_below")
        return rule

    def rhat_limit(self) -> float | None:
        """The R-hat limit the stopping rule holds the run to, if it names one."""
        return _rhat_limit(self.stopping_rule())

    def checked(self) -> MonteCarloOptions:
        """A copy with every option validated and the executor resolved: what
        `sample` runs with."""
        executor = self.executor
        if executor is not None and not isinstance(executor, Executor):
            raise InvalidParameterError("executor", executor, "an Executor or None")
        checked = replace(
            self,
            n_chains=check_int("n_chains", self.n_chains, low=1),
            block_size=check_int("block_size", self.block_size, low=1),
            executor=executor or LocalExecutor(check_int("n_jobs", self.n_jobs, low=-1)),
            max_samples=check_int("max_samples", self.max_samples, low=1),
        )
        checked.stopping_rule()
        return checked


def _rhat_limit(rule: StoppingRule) -> float | None:
    limits = [leaf.threshold for leaf in rule.leaves() if isinstance(leaf, GelmanRubin)]
    return min(limits) if limits else None


SETTINGS: tuple[str, ...] = tuple(f.name for f in fields(MonteCarloOptions) if f.name != "stopping")
"""The options that are also method keywords (JSON values; `stopping` is an object)."""


def sample(
    payload: Any,
    sampler: Sampler,
    n: int,
    options: MonteCarloOptions,
    seed: int,
    progress: ProgressCallback | None,
) -> Estimate:
    """Run the engine on `payload` as `options` (from `MonteCarloOptions.checked`) say."""
    return run(
        payload,
        sampler,
        n,
        options.stopping_rule(),
        max_samples=options.max_samples,
        seed=seed,
        executor=options.executor,
        n_chains=options.n_chains,
        block_size=options.block_size,
        progress=progress,
    )


class SamplingMethod(Valuation):
    """A Monte Carlo method: its own keyword arguments, plus the Monte Carlo options
    named in `settings`, given as keywords or as one `options` object.

    `defaults` holds the method's own defaults for the options; a keyword replaces
    one field of `options` (or of `defaults` when no object is given). The result's
    diagnostics say which utility scored the validation rows and why (`utility`,
    `utility_reason`) and, for a Monte Carlo estimate, whether it converged
    (`convergence`, see `valuation.stopping.Convergence`)."""

    defaults: ClassVar[MonteCarloOptions] = MonteCarloOptions()
    settings: ClassVar[tuple[str, ...]] = SETTINGS
    """The options this method takes as keywords; the others keep `defaults`."""
    _monte_carlo: ClassVar[bool] = True  # False: exact, run by the engine, nothing to converge
    _judge_rhat: ClassVar[bool] = True  # False: R-hat is held to a limit only when asked

    options: MonteCarloOptions

    def _set_options(self, options: MonteCarloOptions | None, settings: dict[str, Any]) -> None:
        """Store the options as given (keywords over the object); values are checked in `fit`."""
        unknown = sorted(set(settings) - set(self.settings))
        if unknown:
            name = type(self).__name__
            raise TypeError(f"{name}() got an unexpected keyword argument {unknown[0]!r}")
        self.options = replace(self.defaults if options is None else options, **settings)

    @classmethod
    def param_hints(cls) -> dict[str, Any]:
        own = {name: hint for name, hint in super().param_hints().items() if name != "options"}
        hints = typing.get_type_hints(MonteCarloOptions)
        return own | {name: hints[name] for name in cls.settings}

    def get_params(self) -> dict[str, Any]:
        own = [name for name in self.param_names() if name not in self.settings]
        return {name: getattr(self, name) for name in own} | {
            name: getattr(self.options, name) for name in self.settings
        }

    def _choose_utility(self, data: TrainingArrays) -> UtilityChoice:
        setting = check_choice("utility", getattr(self, "utility", "accuracy"), UTILITIES)
        return choose_utility(setting, data.train.y, data.classes, data.task)

    def _params(self, seed: int | None) -> dict[str, Any]:
        """Parameters as run: the seed actually used, objects by their repr."""
        params = self.get_params()
        if "seed" in params:
            params["seed"] = seed
        if params.get("executor") is not None:
            params["executor"] = repr(params["executor"])
        if params.get("model") is not None and not isinstance(params["model"], str):
            params["model"] = repr(params["model"])  # a learner by name stays its name
        if self.options.stopping is not None:
            params["stopping"] = repr(self.options.stopping)
        return params

    def _make_result(
        self,
        data: TrainingArrays,
        estimate: Estimate,
        options: MonteCarloOptions,
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
                options.n_chains,
                estimate.criteria,
                never_sampled=int(np.count_nonzero(estimate.counts == 0)),
                rhat_limit=options.rhat_limit(),
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
