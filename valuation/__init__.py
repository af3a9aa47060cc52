"""Pure numeric data valuation: arrays in, dataclasses out.

Nothing in this package knows about PostgreSQL, HTTP or the CLI; a test fails if
it imports them. The names below are imported when first used, so that importing a
light module of the package (`mendb.valuation.errors`, the root of every error) does
not import numpy: commands that do no numeric work start faster.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mendb.valuation.data import Split, TrainingArrays
    from mendb.valuation.result import ValuationResult
    from mendb.valuation.task import Task

__all__ = ["Split", "Task", "TrainingArrays", "ValuationResult"]
_HOMES = {"Split": "data", "Task": "task", "TrainingArrays": "data", "ValuationResult": "result"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
