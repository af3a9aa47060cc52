"""The contract every valuation method follows (scikit-learn's estimator rules).

`__init__` stores keyword arguments unchanged; `fit` validates them, does the work
and returns `self`; the outcome is read from `result`. Keeping the constructor
free of logic is what lets a run be reproduced from the `params` stored with it.
"""

from __future__ import annotations

import inspect
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar, Self

from mendb.valuation.data import TrainingArrays
from mendb.valuation.result import ValuationResult

ProgressCallback = Callable[[float], None]
"""Called with the fraction of the work done, in [0, 1]."""


class NotFittedError(ValueError):
    """The method has no result yet: call `fit` first."""


class Valuation(ABC):
    """A data valuation method: `Method(**params).fit(data).result`."""

    method: ClassVar[str]
    budget_param: ClassVar[str] = "max_samples"
    """The parameter that counts the method's samples (`mendb value --max-samples`)."""
    harmful_below: ClassVar[float | None] = 0.0
    """The value below which a row hurts (see `ValuationResult.harmful_below`)."""

    _result: ValuationResult | None = None

    @abstractmethod
    def fit(self, data: TrainingArrays, progress: ProgressCallback | None = None) -> Self:
        """Value every training row of `data`."""

    @property
    def result(self) -> ValuationResult:
        if self._result is None:
            raise NotFittedError(f"{type(self).__name__} has not been fitted")
        return replace(self._result, harmful_below=self.harmful_below)

    @classmethod
    def param_names(cls) -> list[str]:
        """The parameters users give by name (`make_valuation`, the CLI, the HTTP API)."""
        return list(cls.param_hints())

    @classmethod
    def param_hints(cls) -> dict[str, Any]:
        """Each parameter's type hint, by name: the HTTP schema checks requests by them."""
        hints = typing.get_type_hints(cls.__init__)
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        parameters = inspect.signature(cls.__init__).parameters.values()
        return {p.name: hints[p.name] for p in parameters if p.name != "self" and p.kind in named}

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as stored in `mendb.runs.params`."""
        return {name: getattr(self, name) for name in self.param_names()}
