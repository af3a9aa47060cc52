"""The registry of valuation methods, by the name users give on the command line.

The torch-based methods (`_LAZY`) are imported on first look-up, so that importing
the registry, as every process-pool worker of a sampling method does, never loads
torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from mendb.valuation._validation import InvalidParameterError
from mendb.valuation.base import Valuation
from mendb.valuation.methods.data_oob import DataOOB
from mendb.valuation.methods.knn_shapley import KNNShapley
from mendb.valuation.methods.lava import LAVA
from mendb.valuation.methods.semivalue import BanzhafMSR, BetaShapley, LeaveOneOut, TMCShapley
from mendb.valuation.methods.ts_shapley import TSShapley

_ALL: tuple[type[Valuation], ...] = (
    KNNShapley,
    TMCShapley,
    BanzhafMSR,
    BetaShapley,
    LeaveOneOut,
    DataOOB,
    TSShapley,
    LAVA,
)
_LAZY: dict[str, tuple[str, str]] = {
    "influence_sgd": ("mendb.valuation.methods.influence", "InfluenceSGD"),
    "influence_adam": ("mendb.valuation.methods.influence", "InfluenceAdam"),
}


class _Registry(Mapping[str, type[Valuation]]):
    """Method classes by name; a lazy one is imported when it is first looked up."""

    def __init__(
        self, classes: tuple[type[Valuation], ...], lazy: dict[str, tuple[str, str]]
    ) -> None:
        self._classes = {cls.method: cls for cls in classes}
        self._lazy = lazy
        self._names = [*self._classes, *(name for name in lazy if name not in self._classes)]

    def __getitem__(self, name: str) -> type[Valuation]:
        if name not in self._classes:
            module, attr = self._lazy[name]  # KeyError for an unknown name
            self._classes[name] = getattr(importlib.import_module(module), attr)
        return self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


METHODS: Mapping[str, type[Valuation]] = _Registry(_ALL, _LAZY)


def __getattr__(name: str) -> Any:
    """`from mendb.valuation.methods import InfluenceSGD` still works, importing it then."""
    for module, attr in _LAZY.values():
        if attr == name:
            return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_valuation(method: str, **params: Any) -> Valuation:
    """Build a method from its name and parameters; unknown names are refused."""
    try:
        cls = METHODS[method]
    except KeyError:
        raise InvalidParameterError("method", method, f"one of {sorted(METHODS)}") from None
    accepted = cls.param_names()
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise InvalidParameterError(unknown[0], params[unknown[0]], f"one of {accepted}")
    return cls(**params)
