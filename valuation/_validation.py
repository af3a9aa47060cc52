"""Parameter checks that name the parameter and its allowed range."""

from __future__ import annotations

from numbers import Real
from typing import Any


class InvalidParameterError(ValueError, TypeError):
    """A parameter of a valuation method is out of its allowed range."""

    def __init__(self, name: str, value: Any, allowed: str) -> None:
        super().__init__(f"parameter {name}={value!r} is invalid: must be {allowed}")
        self.name = name
        self.value = value
        self.allowed = allowed


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
