"""Parameter checks that name the parameter and its allowed range."""

from __future__ import annotations

from numbers import Real
from typing import Any

from mendb.valuation.errors import InvalidParameterError

__all__ = ["InvalidParameterError", "check_choice", "check_int", "check_real"]


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError(name, value, "an integer")
    if (low is not None and value < low) or (high is not None and value > high):
        raise InvalidParameterError(name, value, _range(low, high))
    return value


def check_real(
    name: str, value: Any, *, low: float | None = None, high: float | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InvalidParameterError(name, value, "a number")
    number = float(value)
    if (low is not None and number < low) or (high is not None and number > high):
        raise InvalidParameterError(name, value, _range(low, high))
    return number


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidParameterError(name, value, f"one of {list(choices)}")
    return str(value)


def _range(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}"
    if low is not None:
        return f">= {low}"
    return f"<= {high}"
