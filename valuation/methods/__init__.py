"""The registry of valuation methods, by the name users give on the command line."""

from __future__ import annotations

from typing import Any

from valuation._validation import InvalidParameterError
from valuation.base import Valuation
from valuation.methods.data_oob import DataOOB
from valuation.methods.influence import InfluenceAdam, InfluenceSGD
from valuation.methods.knn_shapley import KNNShapley
from valuation.methods.semivalue import BanzhafMSR, BetaShapley, LeaveOneOut, TMCShapley
from valuation.methods.ts_shapley import TSShapley

_ALL: tuple[type[Valuation], ...] = (
    KNNShapley,
    TMCShapley,
    BanzhafMSR,
    BetaShapley,
    LeaveOneOut,
    DataOOB,
    TSShapley,
    InfluenceSGD,
    InfluenceAdam,
)
METHODS: dict[str, type[Valuation]] = {cls.method: cls for cls in _ALL}


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
