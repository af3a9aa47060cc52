"""Semivalues by Monte Carlo: TMC-Shapley, Data Banzhaf (MSR), Beta Shapley and
leave-one-out are one loop (`valuation.engine.run`) with different samplers.

- TMC-Shapley (Ghorbani & Zou, "Data Shapley", ICML 2019): permutations,
  truncated once u(prefix) is within `truncation` * |u(N)| of u(N).
- Data Banzhaf (Wang & Jia, "Data Banzhaf", AISTATS 2023): maximum sample reuse,
  v_i = mean u(S | i in S) - mean u(S | i not in S).
- Beta Shapley (Kwon & Zou, AISTATS 2022): permutations whose contribution at
  prefix size s is weighted by n C(n-1, s) B(s + beta, n-s-1 + alpha) / B(alpha, beta);
  Beta(16, 1) stresses small subsets, Beta(1, 1) is Shapley.
- Leave-one-out: u(N) - u(N minus i), exact, n + 1 utility evaluations.

u(S) is `valuation.utility.ModelUtility`: a proxy (logistic regression unless
`model` is given) trained on S and scored on the validation rows by `utility`:
"accuracy", "balanced_accuracy", or "auto" (balanced when the training label is
imbalanced, `valuation.utility.choose_utility`). For a regression target the proxy
is ridge regression and `utility` is "neg_mse" (minus the validation MSE, what
"auto" picks) or "r2" (R² clipped below at 0); the result records which and why.
`model` is an estimator, or the user's own named "package.module:Class" and built
with `model_params` (`valuation.models.ModelSpec`); the params record both.
Diagnostics add the MTM fit (`valuation.diagnostics.mtm_fit`) of the sampled
utilities.
"""

from __future__ import annotations

from abc import abstractmethod
from functools import partial
from typing import Any, ClassVar, Self

from mendb.valuation._validation import check_real
from mendb.valuation.base import ProgressCallback
from mendb.valuation.data import TrainingArrays
from mendb.valuation.diagnostics import mtm_fit
from mendb.valuation.methods._sampling import (
    MonteCarloOptions,
    SamplingMethod,
    resolve_seed,
    sample,
)
from mendb.valuation.proxy import user_model
from mendb.valuation.samplers import (
    LOOSampler,
    MSRSampler,
    PermutationSampler,
    Sampler,
    beta_coefficients,
)
from mendb.valuation.task_support import is_regression
from mendb.valuation.utility import METRICS, ModelUtility


class _Semivalue(SamplingMethod):
    """fit: build the utility, run the sampler, add the MTM diagnostic. Every
    semivalue takes `model` and `utility`, and the Monte Carlo options as keywords
    or as `options` (`valuation.methods._sampling.MonteCarloOptions`)."""

    _seeded: ClassVar[bool] = True  # False: deterministic, the result records no seed
    _mtm: ClassVar[bool] = True

    def __init__(
        self,
        *,
        model: Any = None,
        model_params: dict[str, Any] | None = None,
        utility: str = "auto",
        options: MonteCarloOptions | None = None,
        **settings: Any,
    ) -> None:
        self.model = model
        self.model_params = model_params
        self.utility = utility
        self._set_options(options, settings)

    @abstractmethod
    def _sampler(self) -> Sampler: ...

    def fit(self, data: TrainingArrays, progress: ProgressCallback | None = None) -> Self:
        options = self.options.checked()
        sampler = self._sampler()
        seed = resolve_seed(options.seed) if self._seeded else 0
        choice = self._choose_utility(data)
        utility = ModelUtility(
            data.train.x,
            data.train.y,
            data.valid.x,
            data.valid.y,
            model=user_model(self.model, self.model_params),
            metric=METRICS[choice.metric],
            regression=is_regression(data),
        )
        estimate = sample(utility, sampler, len(data.train), options, seed, progress)
        diagnostics = estimate.diagnostics(options.n_chains)
        if self._mtm:
            diagnostics["mtm"] = mtm_fit(estimate.records, len(data.train), seed)
        recorded = seed if self._seeded else None
        self._result = self._make_result(
            data, estimate, options, recorded, diagnostics, progress, utility=choice
        )
        return self


class TMCShapley(_Semivalue):
    """Truncated Monte Carlo Data Shapley; `max_samples` counts permutations."""

    method = "tmc_shapley"

    # Deliberately like _Semivalue.__init__: each signature names every keyword, so that
    # `param_hints` can read it for the HTTP schema.
    def __init__(
        self,
        *,
        truncation: float = 0.01,
        model: Any = None,
        model_params: dict[str, Any] | None = None,
        utility: str = "auto",
        options: MonteCarloOptions | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(
            model=model, model_params=model_params, utility=utility, options=options, **settings
        )
        self.truncation = truncation

    def _sampler(self) -> Sampler:
        return PermutationSampler(check_real("truncation", self.truncation, low=0.0, high=1.0))


class BetaShapley(_Semivalue):
    """Beta(alpha, beta) Shapley by weighted permutations; `max_samples` counts permutations."""

    method = "beta_shapley"

    # Deliberately like _Semivalue.__init__: each signature names every keyword, so that
    # `param_hints` can read it for the HTTP schema.
    def __init__(
        self,
        *,
        alpha: float = 16.0,
        beta: float = 1.0,
        truncation: float = 0.0,
        model: Any = None,
        model_params: dict[str, Any] | None = None,
        utility: str = "auto",
        options: MonteCarloOptions | None = None,
        **settings: Any,
    ) -> None:
        self.alpha = alpha
        self.beta = beta
        super().__init__(
            model=model, model_params=model_params, utility=utility, options=options, **settings
        )
        self.truncation = truncation

    def _sampler(self) -> Sampler:
        alpha = check_real("alpha", self.alpha, low=1e-9)
        beta = check_real("beta", self.beta, low=1e-9)
        truncation = check_real("truncation", self.truncation, low=0.0, high=1.0)
        return PermutationSampler(truncation, partial(beta_coefficients, alpha=alpha, beta=beta))


class BanzhafMSR(_Semivalue):
    """Data Banzhaf by maximum sample reuse; `max_samples` counts subsets."""

    method = "banzhaf"
    defaults = MonteCarloOptions(max_samples=5000, block_size=32)

    def _sampler(self) -> Sampler:
        return MSRSampler()


class LeaveOneOut(_Semivalue):
    """Exact leave-one-out; deterministic, so it takes no seed or stopping rule: only
    where and in what blocks its n + 1 evaluations run."""

    method = "loo"
    # No budget of its own: the engine stops when the sampler's n + 1 samples are done.
    defaults = MonteCarloOptions(max_samples=1 << 62, n_chains=1, block_size=16)
    settings = ("block_size", "executor", "n_jobs")
    _seeded = False
    _mtm = False
    _monte_carlo = False

    def _sampler(self) -> Sampler:
        return LOOSampler()
