"""The user's own model: a scikit-learn-compatible estimator named by its import path.

Values and repairs that are right for mendb's proxy can be wrong for the model a
user actually trains, so wherever mendb fits a model (Data-OOB's bags, a semivalue
utility, the loop's retrain, a repair's verification) it can fit theirs instead.
`ModelSpec` is what a run records; `model_spec` checks a spec before anything runs,
so a typo fails at once with a named error rather than in a worker an hour later.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mendb.valuation.errors import MendbError

_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

# Naming a model imports its module, and importing a module runs its code: without a
# list, whoever may queue a run (an HTTP token, a psql user calling mendb.request)
# would choose which installed code runs inside the worker. The operator widens the
# list with MENDB_MODEL_MODULES (comma-separated top-level packages or modules).
DEFAULT_MODEL_MODULES = ("sklearn", "xgboost", "lightgbm", "catboost")


def allowed_model_modules() -> tuple[str, ...]:
    """The packages a model may come from: MENDB_MODEL_MODULES, or the defaults;
    scikit-learn always, since mendb's own defaults name its estimators."""
    given = os.environ.get("MENDB_MODEL_MODULES", "")
    named = tuple(part.strip() for part in given.split(",") if part.strip())
    return tuple(dict.fromkeys(("sklearn", *(named or DEFAULT_MODEL_MODULES))))


class InvalidModel(MendbError):
    """The named model cannot be used: it does not import, or it is not an estimator."""


@dataclass(frozen=True)
class ModelSpec:
    """An estimator class by import path (`package.module:Class`) and its parameters."""

    path: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def estimator_class(self) -> type[Any]:
        module_name, _, class_name = self.path.partition(":")
        allowed = allowed_model_modules()
        if not any(module_name == root or module_name.startswith(f"{root}.") for root in allowed):
            raise InvalidModel(
                f"model {self.path}: models may come from {', '.join(allowed)} only;"
                " the operator may allow more with MENDB_MODEL_MODULES",
                column="model",
            )
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise InvalidModel(
                f"model {self.path}: module {module_name} cannot be imported ({error})",
                column="model",
            ) from error
        cls = getattr(module, class_name, None)
        if not isinstance(cls, type):
            raise InvalidModel(
                f"model {self.path}: {module_name} has no class {class_name}", column="model"
            )
        missing = [name for name in ("fit", "predict") if not callable(getattr(cls, name, None))]
        if missing:
            raise InvalidModel(
                f"model {self.path} is not an estimator: it lacks {' and '.join(missing)}",
                column="model",
            )
        return cls

    def build(self) -> Any:
        """A fresh, unfitted estimator."""
        cls = self.estimator_class()
        try:
            return cls(**self.params)
        except TypeError as error:
            raise InvalidModel(
                f"model {self.path} does not take the parameters {dict(self.params)}: {error}",
                column="model_params",
            ) from error

    def to_params(self) -> dict[str, Any]:
        """How a run records the model in its parameters."""
        return {"model": self.path, "model_params": dict(self.params)}


def parsed_params(raw: str) -> Any:
    """`--model-params` as the JSON value it writes (`InvalidModel` if it is not JSON);
    the caller checks that it is an object."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise InvalidModel(
            f"model parameters are not JSON: {error}", column="model_params"
        ) from error


def model_spec(path: str, params: str | Mapping[str, Any] | None = None) -> ModelSpec:
    """Check a model given by a user (`--model`, `--model-params` JSON) and return its
    spec; builds it once, so a bad path or parameter is refused before any work."""
    if not _PATH.match(path):
        raise InvalidModel(
            f"model {path!r} must be written package.module:Class", column="model"
        )
    if isinstance(params, str):
        params = parsed_params(params)
    if params is not None and not isinstance(params, Mapping):
        raise InvalidModel("model parameters must be a JSON object", column="model_params")
    spec = ModelSpec(path, dict(params or {}))
    spec.build()
    return spec
