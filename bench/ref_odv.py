"""OpenDataVal 1.3 evaluators for `bench.child`, run in bench/.venv-odv.

OpenDataVal is installed with `--no-deps` beside torch 2.13 (its pins do not all
install here). Its image and NLP loaders import torchvision and transformers,
which are absent: `import_odv` puts stub modules in their place, so only the
evaluators (`opendataval.dataval`) are used, on tensors built from the same .npz.

- knn_shapley: `KNNShapley(k_neighbors=k)`.
- data_oob: `DataOob(num_models=B)` over `ClassifierSkLearnWrapper(DecisionTreeClassifier)`.
- lava: `LavaEvaluator()` on the CPU.
- tmc_shapley: `DataShapley` with its default `GrTMCSampler` (Gelman-Rubin <= 1.05
  checked every 100 permutations after 1,000; `max_seconds` ends it at a check), u(S) = accuracy of
  `ClassifierSkLearnWrapper(LogisticRegression)`; evaluations counted by wrapping the
  sampler's utility.
OpenDataVal's data values are high for helpful rows, like mendb's: no sign change.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import time
import types
from typing import Any

import numpy as np
from numpy.typing import NDArray

_STUBBED = ("torchvision", "transformers")


class _Anything(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (), {"__init__": lambda self, *a, **k: None})


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname.split(".")[0] in _STUBBED:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec: Any) -> types.ModuleType:
        return _Anything(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__path__ = []  # type: ignore[attr-defined]


def import_odv() -> Any:
    for name in _STUBBED:
        try:
            __import__(name)
        except Exception:  # absent or broken: stub it
            sys.modules.pop(name, None)
            if not any(isinstance(f, _StubFinder) for f in sys.meta_path):
                sys.meta_path.insert(0, _StubFinder())
    import opendataval.dataval as dataval

    return dataval


def prepare(job: dict[str, Any]) -> None:
    import_odv()


def _tensors(a: dict[str, NDArray[Any]]) -> tuple[Any, ...]:
    import torch

    k = int(a["n_classes"])
    eye = torch.eye(k)
    return (torch.tensor(a["x_train"], dtype=torch.float32), eye[a["y_train"]],
            torch.tensor(a["x_valid"], dtype=torch.float32), eye[a["y_valid"]], k)


def run(method: str, params: dict[str, Any], a: dict[str, NDArray[Any]]
        ) -> tuple[NDArray[np.float64], dict[str, Any]]:
    import torch

    dataval = import_odv()
    from opendataval.metrics import accuracy
    from opendataval.model import ClassifierSkLearnWrapper

    torch.manual_seed(params.get("seed", 0))
    xt, yt, xv, yv, k = _tensors(a)
    extras: dict[str, Any] = {}
    seed = params.get("seed", 0)
    if method == "knn_shapley":
        evaluator = dataval.KNNShapley(k_neighbors=params["k"], random_state=seed)
        evaluator.input_data(xt, yt, xv, yv).train_data_values()
    elif method == "data_oob":
        from sklearn.tree import DecisionTreeClassifier

        evaluator = dataval.DataOob(num_models=params["n_estimators"], random_state=seed)
        evaluator.input_model(ClassifierSkLearnWrapper(DecisionTreeClassifier, k))
        evaluator.input_metric(accuracy).input_data(xt, yt, xv, yv).train_data_values()
    elif method == "lava":
        evaluator = dataval.LavaEvaluator(device=torch.device("cpu"), random_state=seed)
        evaluator.input_data(xt, yt, xv, yv).train_data_values()
    elif method == "tmc_shapley":
        from sklearn.linear_model import LogisticRegression

        sampler = dataval.GrTMCSampler(gr_threshold=params.get("gr_threshold", 1.05),
                                       max_mc_epochs=params.get("max_mc_epochs", 100),
                                       random_state=seed, cache_name=None)
        evaluator = dataval.DataShapley(sampler=sampler, random_state=seed)
        evaluator.input_model(ClassifierSkLearnWrapper(LogisticRegression, k))
        evaluator.input_metric(accuracy).input_data(xt, yt, xv, yv)
        count = [0]
        utility = sampler.compute_utility

        def counted(*args: Any, **kwargs: Any) -> float:
            count[0] += 1
            return utility(*args, **kwargs)

        sampler.compute_utility = counted
        history: list[tuple[int, float]] = []
        statistic = sampler._compute_gr_statistic
        started, limit = time.perf_counter(), params.get("max_seconds")
        stopped = [False]

        def recorded(samples: Any, *args: Any, **kwargs: Any) -> float:
            value = float(statistic(samples, *args, **kwargs))
            history.append((count[0], value))
            if limit is not None and time.perf_counter() - started > limit:
                stopped[0] = True
                return 0.0  # ends OpenDataVal's loop; the values so far are returned
            return value

        sampler._compute_gr_statistic = recorded
        evaluator.train_data_values()
        threshold = params.get("gr_threshold", 1.05)
        reached = next((c for c, g in history if g <= threshold), None)
        extras.update(utility_evaluations=count[0], gelman_rubin=history[-1][1],
                      history=history, evaluations_at_threshold=reached,
                      stopped_by_time=stopped[0],
                      permutations=len(sampler.marginal_increment_array_stack))
    else:
        raise ValueError(f"unknown OpenDataVal method {method!r}")
    return np.asarray(evaluator.evaluate_data_values(), dtype=np.float64), extras
