"""What a run or a command may be given: the bounds of numbers, each kind of run's
parameters with their JSON types, and the checks that refuse the rest, naming the
parameter. Plain Python, apart from the HTTP models in `server.schemas`: the
command line checks its options with these and never imports pydantic."""

from __future__ import annotations

import json
import math
import os
import types
import typing
from typing import Any, Literal

from mendb.valuation.errors import InvalidParameterError

# Bounds of the numbers a request or a command may give; beyond them a value is a
# mistake, not a wish, and would overflow a column or exhaust the machine.
MAX_BIGINT = 2**63 - 1
MAX_SEED = 2**32 - 1
MAX_NEIGHBOURS = 10_000
MAX_PAGE = 10_000
MAX_PROPOSALS = 1_000_000

JsonType = Literal["integer", "number", "string", "boolean", "array", "any"]
ParamType = tuple[JsonType, bool]
"""A run parameter's JSON type, and whether it may be null."""

# Parameters the worker always takes from its own settings (where to run, where to
# spill), whatever a request says; a re-queued run carries their old reprs.
FROM_SETTINGS = ("executor", "workdir")
# `mendb.request('propose', ...)`'s parameters (server.operations.propose);
# `method` (the values to propose from) travels in the run's method column.
PROPOSE_PARAMS: dict[str, ParamType] = {
    "method": ("string", True),
    "max_rows": ("integer", False),
    "k": ("integer", False),
    "verify": ("boolean", False),
    "model": ("string", True),
    "model_params": ("any", True),
    "predictions": ("string", True),
}
# The user's own model travels as these two parameters (`mendb.valuation.models`).
MODEL_PARAMS = ("model", "model_params")
REVERT_PARAMS: dict[str, ParamType] = {"ids": ("array", True)}
_ALLOWED = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "array": "a list",
}


def _json_type(hint: Any) -> ParamType:
    origin = typing.get_origin(hint)
    nullable = False
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(hint))
        if len(args) != 1:
            return "any", True
        hint, origin = args[0], typing.get_origin(args[0])
    simple: dict[Any, JsonType] = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if hint in simple:
        return simple[hint], nullable
    if origin in (list, tuple):
        return "array", nullable
    return "any", True


def run_param_types(kind: str, method: str | None) -> dict[str, ParamType]:
    """What a queued run of this kind (and valuation method) may be given, by name;
    migration 0009's `mendb.request_params` holds the same, for `mendb.request`."""
    if kind == "value":
        from mendb.valuation.methods import METHODS  # the registry imports scikit-learn

        if method is None or method not in METHODS:
            raise InvalidParameterError("method", method, f"one of {sorted(METHODS)}")
        hints = METHODS[method].param_hints()
        return {
            name: ("any", True) if name in FROM_SETTINGS else _json_type(hint)
            for name, hint in hints.items()
        }
    if kind == "loop":
        from mendb.server.loop_config import LoopConfig
        from mendb.server.setting_fields import declared

        return {field.name: _json_type(hint) for field, _, hint in declared(LoopConfig)}
    if kind == "propose":
        return dict(PROPOSE_PARAMS)
    if kind == "revert":
        return dict(REVERT_PARAMS)
    return {}


def _fits(value: Any, json_type: JsonType, nullable: bool) -> bool:
    if value is None:
        return nullable
    if json_type == "any":
        return True
    if isinstance(value, bool) or json_type == "boolean":
        return isinstance(value, bool) and json_type == "boolean"
    if json_type == "integer":
        return isinstance(value, int)
    if json_type == "number":
        return isinstance(value, int | float) and math.isfinite(value)
    if json_type == "string":
        return isinstance(value, str)
    return isinstance(value, list)


def shown(value: Any, limit: int = 60) -> Any:
    """A value short enough to quote back in an error."""
    text = json.dumps(value, default=str)
    return value if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def check_param_types(kind: str, method: str | None, params: dict[str, Any]) -> None:
    """Refuse a parameter the run does not take, or one of the wrong JSON type, or
    more worker processes than this machine has cores, naming it."""
    accepted = run_param_types(kind, method)
    for name, value in params.items():
        if name in MODEL_PARAMS and name not in accepted:
            raise InvalidParameterError(
                name,
                shown(value),
                f"left out: {method or kind} fits no model of yours; methods that do:"
                f" {', '.join(model_methods())}",
            )
        if name not in accepted:
            raise InvalidParameterError(name, shown(value), f"one of {sorted(accepted)}")
        json_type, nullable = accepted[name]
        if not _fits(value, json_type, nullable):
            allowed = _ALLOWED[json_type] + (" or null" if nullable else "")
            raise InvalidParameterError(name, shown(value), allowed)
    if "n_jobs" in params:
        check_n_jobs("n_jobs", params["n_jobs"])
    check_model(params, builtin=kind == "value")


def check_model(params: dict[str, Any], builtin: bool = False) -> None:
    """The user's model, given as `model` (package.module:Class) and `model_params`
    (a JSON object), imports and builds (`InvalidModel` otherwise, naming it), and
    parameters without such a model are refused. With `builtin` (a valuation
    method's own `model`), anything but a path is the method's to check: the name
    of one of its learners ("tree", "logistic")."""
    model, model_params = params.get("model"), params.get("model_params")
    path = isinstance(model, str) and ":" in model
    if model is None or (builtin and not path):
        if model_params is not None:
            raise InvalidParameterError(
                "model_params", shown(model_params), "given with a model package.module:Class"
            )
        return
    if not isinstance(model, str):
        raise InvalidParameterError("model", shown(model), "a string package.module:Class")
    if model_params is not None and not isinstance(model_params, dict):
        raise InvalidParameterError("model_params", shown(model_params), "a JSON object")
    from mendb.valuation.models import model_spec  # may import the user's package

    model_spec(model, model_params)


def parse_model_params(raw: str | None) -> dict[str, Any] | None:
    """`--model-params JSON` as the object it writes (`InvalidModel` otherwise)."""
    if raw is None:
        return None
    from mendb.valuation.models import InvalidModel, parsed_params

    parsed = parsed_params(raw)
    if not isinstance(parsed, dict):
        raise InvalidModel("model parameters must be a JSON object", column="model_params")
    return parsed


def model_methods() -> list[str]:
    """The valuation methods that fit a model, and so take the user's."""
    from mendb.valuation.methods import METHODS

    return sorted(name for name, cls in METHODS.items() if "model" in cls.param_hints())


def machine_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_n_jobs(name: str, n_jobs: int | None) -> None:
    """-1 (every core) or 1 to the cores this process may use."""
    cores = machine_cores()
    if n_jobs is not None and n_jobs != -1 and not 1 <= n_jobs <= cores:
        raise InvalidParameterError(name, n_jobs, f"-1 (every core) or between 1 and {cores}")


def _mendb_error_names() -> set[str]:
    import mendb.db.errors  # noqa: F401 - defines the classes walked below
    from mendb.valuation.errors import MendbError

    names: set[str] = set()
    pending: list[type] = [MendbError]
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return names


def public_error(detail: str | None) -> str | None:
    """A run's error as a read token sees it: its code and a sentence. mendb's own
    errors keep their first sentence, which names the table or column at fault and
    is written by mendb; any other error (the database's, a library's) may quote SQL
    or data, so only its class is shown."""
    if detail is None:
        return None
    code, sep, message = detail.partition(": ")
    if not sep or not code.isidentifier():
        return "RunFailed: the run failed; an admin can read why in mendb.runs"
    if code in _mendb_error_names():
        return f"{code}: {message.splitlines()[0][:300] if message else ''}"
    return f"{code}: the run failed; an admin can read the full error in mendb.runs"
