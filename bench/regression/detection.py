"""One detection cell: a table, a noise kind and a seed. The table is split
60 / 20 / 20 (seeded), the noise is planted in training rows only, the rows are
prepared by mendb's own `prepare` (median imputation, one-hot, standardisation) as
regression arrays (`Task.REGRESSION`), and every method values the training rows:
mendb's regression methods through the registry exactly as the service runs them
(`make_valuation(name, **params).fit(arrays).result`, on the target scale
`valuation.target_scale` picks), then the anchors. Each
method's AUROC, AP and precision at k of putting the planted rows at the bottom."""

from __future__ import annotations

import inspect
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.regression import anchors, planting, stats
from bench.regression.tables import arrays, load_table, split_rows
from mendb.valuation.data import Task, TrainingArrays
from mendb.valuation.preprocess import prepare

# mendb's regression methods, by the name shown: (registry name, parameters).
MENDB: dict[str, tuple[str, dict[str, Any]]] = {
    "knn_shapley": ("knn_shapley", {"k": 10}),
    "data_oob_tree": ("data_oob", {"model": "tree", "n_estimators": 100}),
    "data_oob_ridge": ("data_oob", {"model": "linear", "n_estimators": 100}),
    "data_oob_huber": (
        "data_oob",
        {"model": "sklearn.linear_model:HuberRegressor", "n_estimators": 100},
    ),
}
DEFAULT = "mendb_default"
MakeValuation = Callable[..., Any]


@dataclass(frozen=True)
class DetectionSpec:
    table: str
    noise: str
    seed: int
    max_rows: int

    @property
    def key(self) -> str:
        return f"detect_{self.table}_{self.noise}_{self.seed}_{self.max_rows}"


def default_choice(data: TrainingArrays) -> tuple[str, dict[str, Any], list[Any]] | None:
    """mendb's default method for these rows (`valuation.choice.choose_method`), if
    it takes the task yet: (method, parameters, parts of a consensus)."""
    from mendb.valuation.choice import choose_method

    if "task" not in inspect.signature(choose_method).parameters:
        return None
    kinds = set(data.feature_kinds or ("numeric",))
    choice = choose_method(len(data.train), kinds, np.zeros(0, dtype=np.int64),
                           task=Task.REGRESSION)  # fmt: skip
    return choice.method, dict(choice.params), list(choice.parts)


def seeded(method: str, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """`params` with the cell's seed for a method that draws one (Data-OOB's bags),
    so a cell gives the same values on every run, as the service does for a run
    given a seed."""
    from mendb.valuation.methods import METHODS

    takes_seed = method in METHODS and "seed" in METHODS[method].param_names()
    return {**params, "seed": seed} if takes_seed and "seed" not in params else params


def value_mendb(
    data: TrainingArrays, method: str, params: dict[str, Any],
    make: MakeValuation | None = None,
) -> NDArray[np.float64]:  # fmt: skip
    """The training rows' values from one registry method (lower = more suspicious),
    on the target scale the service values them on."""
    from mendb.valuation.target_scale import value_scale

    if make is None:
        from mendb.valuation.methods import make_valuation as make
    result = make(method, **params).fit(value_scale(data).applied(data)).result
    return np.asarray(result.values, dtype=np.float64)


def _timed(fn: Callable[[], NDArray[np.float64]]) -> tuple[NDArray[np.float64] | None, float, str]:
    started = time.perf_counter()
    try:
        values = fn()
    except Exception as error:  # a method that refuses regression is a cell of the table
        last = traceback.format_exception_only(error)[-1].strip()
        return None, time.perf_counter() - started, last[:300]
    return values, time.perf_counter() - started, ""


def _row(values: NDArray[np.float64] | None, planted: NDArray[np.bool_], seconds: float,
         error: str, **extra: Any) -> dict[str, Any]:  # fmt: skip
    if values is None:
        return {"ok": False, "error": error, "seconds": seconds, **extra}
    return {"ok": True, "seconds": seconds, **stats.detection(values, planted), **extra}


def mendb_rows(
    data: TrainingArrays, planted: NDArray[np.bool_], make: MakeValuation | None = None,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Every mendb method of `MENDB`, and the default choice where there is one,
    each drawing from `seed` where it draws."""
    out: dict[str, dict[str, Any]] = {}
    found: dict[str, NDArray[np.float64]] = {}
    for name, (method, params) in MENDB.items():
        params = seeded(method, params, seed)
        values, seconds, error = _timed(lambda m=method, p=params: value_mendb(data, m, p, make))
        if values is not None:
            found[name] = values
        out[name] = _row(values, planted, seconds, error, method=method, params=params)
    choice = default_choice(data) if make is None else None
    if choice is not None:
        method, params, parts = choice
        out[DEFAULT] = _default_row(data, planted, method, seeded(method, params, seed), parts,
                                    seed)  # fmt: skip
    return out


def _default_row(
    data: TrainingArrays, planted: NDArray[np.bool_], method: str, params: dict[str, Any],
    parts: list[Any], seed: int,
) -> dict[str, Any]:  # fmt: skip
    def run() -> NDArray[np.float64]:
        from mendb.valuation.consensus import consensus
        from mendb.valuation.methods import make_valuation

        if method != "consensus":
            return value_mendb(data, method, params)
        from mendb.valuation.target_scale import value_scale

        scaled = value_scale(data).applied(data)
        results = [make_valuation(p.method, **seeded(p.method, p.params, seed))
                   .fit(scaled).result for p in parts]  # fmt: skip
        return np.asarray(consensus(results).values, dtype=np.float64)

    values, seconds, error = _timed(run)
    label = method if method != "consensus" else "consensus of " + ", ".join(
        p.method for p in parts)  # fmt: skip
    return _row(values, planted, seconds, error, method=label, params=params)


def anchor_rows(
    spec: DetectionSpec, data: TrainingArrays, planted: NDArray[np.bool_], names: tuple[str, ...],
    usable: dict[str, tuple[bool, str]], cells: Path, timeout: float, tmc_seconds: float,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    out: dict[str, dict[str, Any]] = {}
    for name in (n for n in anchors.IN_PROCESS if n in names):
        values, seconds, error = _timed(
            lambda n=name: anchors.run_in_process(n, data.train.x, data.train.y, spec.seed)[0]
        )
        out[name] = _row(values, planted, seconds, error)
    reference = [r for r in anchors.REFERENCE if r[0] in names]
    if not reference:
        return out
    npz = cells / f"{spec.key}.npz"
    anchors.save_cell(npz, (data.train.x, data.train.y), (data.valid.x, data.valid.y))
    for name, lib, *_ in reference:
        ok, why = usable.get(lib, (False, "not built"))
        if not ok:
            out[name] = {"ok": False, "error": f"not run: {why}", "seconds": float("nan")}
            continue
        extra = {"max_time": tmc_seconds} if name == "pydvl_tmc" else {}
        outcome = anchors.run_reference(name, npz, spec.key, spec.seed, extra, timeout)
        values = outcome.values if outcome.ok else None
        out[name] = _row(
            values,
            planted,
            outcome.seconds,
            outcome.error,
            extras={k: v for k, v in outcome.extras.items() if k != "history"},
        )
    npz.unlink(missing_ok=True)
    return out


def planted_cell(spec: DetectionSpec) -> tuple[TrainingArrays, NDArray[np.bool_], dict[str, Any]]:
    """The prepared regression arrays with the noise planted, which training rows
    carry it, and a record of what was planted."""
    table = load_table(spec.table, spec.max_rows, spec.seed)
    parts = split_rows(len(table.target), spec.seed)
    rng = np.random.default_rng(planting.seed_for(spec.noise, spec.seed))
    planted = planting.plant(spec.noise, table.target, parts[0], rng)
    mask = planted.mask()
    data = prepare(arrays(table, planted.y, parts))
    record = {
        "rows": {"train": len(parts[0]), "valid": len(parts[1]), "test": len(parts[2])},
        "planted": int(mask.sum()),
        "planted_rows": planted.rows.tolist(),
        "features": data.train.x.shape[1],
        "source": table.source,
    }
    return data, mask[parts[0]], record


def run_cell(
    spec: DetectionSpec, names: tuple[str, ...], usable: dict[str, tuple[bool, str]],
    cells: Path, timeout: float = 600.0, tmc_seconds: float = 30.0,
) -> dict[str, Any]:  # fmt: skip
    started = time.perf_counter()
    data, planted, record = planted_cell(spec)
    methods = mendb_rows(data, planted, seed=spec.seed)
    methods |= anchor_rows(spec, data, planted, names, usable, cells, timeout, tmc_seconds)
    return {
        "spec": asdict(spec),
        **record,
        "methods": methods,
        "seconds": time.perf_counter() - started,
    }
