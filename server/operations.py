"""The steps of a round, as the CLI and the service call them:
read -> value -> propose -> review -> apply -> retrain.

Each step opens its own unit of work; the database functions below it never commit
on their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

from mendb.db import datasets, jobs, runs
from mendb.db.datasets import Dataset
from mendb.db.embeddings import SyncReport
from mendb.db.errors import MendbError, NoScores
from mendb.db.read import DatasetRead, read_dataset
from mendb.db.scores import read_scores, write_scores
from mendb.repair.embedder import DEFAULT_MODEL
from mendb.repair.embedder import encoder as load_encoder
from mendb.repair.proposals import Repairer
from mendb.server import propose as proposing
from mendb.server.context import Mendb
from mendb.valuation.base import Valuation
from mendb.valuation.choice import MethodChoice, choose_method
from mendb.valuation.consensus import consensus
from mendb.valuation.data import TrainingArrays
from mendb.valuation.evaluate import accuracy
from mendb.valuation.executors import DaskExecutor
from mendb.valuation.methods import METHODS, make_valuation
from mendb.valuation.preprocess import prepare
from mendb.valuation.result import ValuationResult

Progress = Callable[[float], None]
_PROGRESS_INTERVAL = 0.5  # seconds between progress writes to mendb.runs


@dataclass(frozen=True)
class ValueOutcome:
    run_id: int
    method: str
    rows: int
    seconds: float
    params: dict[str, Any]
    diagnostics: dict[str, Any]
    skipped_columns: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def load(
    conn: psycopg.Connection[Any], name: str, model: str = DEFAULT_MODEL
) -> tuple[Dataset, TrainingArrays, DatasetRead]:
    """The dataset's registration, its prepared arrays, and the read itself
    (fingerprint, rows read, columns skipped). Text columns contribute their
    cached embeddings (see `embed`); without any, they are skipped."""
    dataset = datasets.get(conn, name)
    read = read_dataset(conn, dataset, proposing.cached_models(conn, dataset, model))
    return dataset, prepare(read.arrays), read


def embed(app: Mendb, name: str, progress: Progress | None = None) -> list[SyncReport]:
    """Embed the dataset's text columns (only new or changed rows)."""
    with app.connection() as conn:
        dataset = datasets.get(conn, name)
        encoder = load_encoder(app.settings.embedding_model)
        return proposing.embed(conn, dataset, encoder, progress)


def value_dataset(
    app: Mendb,
    name: str,
    method: str = "knn_shapley",
    params: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> ValueOutcome:
    """Value a dataset now, in this process (the command line's path)."""
    valuation = make_valuation(method, **with_settings(app, method, params or {}))
    with app.connection() as conn:
        datasets.get(conn, name)
        run_id = runs.create(conn, name, "value", method, valuation.get_params())
    try:
        return execute_value_run(app, run_id, progress, valuation=valuation)
    except BaseException as error:
        with app.connection() as conn:
            runs.fail(conn, run_id, f"{type(error).__name__}: {error}")
        raise


def execute_value_run(
    app: Mendb,
    run_id: int,
    progress: Progress | None = None,
    worker_id: str | None = None,
    valuation: Valuation | None = None,
) -> ValueOutcome:
    """Carry out a valuation run that exists and is running (created by the command
    line, or claimed from the queue by `worker_id`). The scores and the run's end
    are written in one transaction that first checks the run is still this
    caller's and not cancelled; on error the caller records the failure.

    Text columns are embedded first (only new or changed rows), so that they take
    part in the valuation."""
    started = time.perf_counter()
    with app.connection() as conn:
        run = runs.get(conn, run_id)
        valuation = valuation or _valuation_from_params(app, run["method"], run["params"])
        dataset = datasets.get(conn, run["dataset"])
        if any(f.kind == "text" for f in dataset.features):
            proposing.embed(conn, dataset, load_encoder(app.settings.embedding_model), None)
        _, data, read = load(conn, run["dataset"], app.settings.embedding_model)
        report = _progress_reporter(conn, run_id, progress)
        result = valuation.fit(data, progress=report).result
        with conn.transaction():
            jobs.hold(conn, run_id, worker_id)
            write_scores(conn, run_id, result)
            runs.set_params(conn, run_id, {**result.params, "seed": result.seed})
            runs.finish(
                conn,
                run_id,
                diagnostics=jsonable({**result.diagnostics, "harmful_below": result.harmful_below}),
                metrics={
                    "train_rows": len(data.train),
                    "valid_rows": len(data.valid),
                    "test_rows": len(data.test),
                    "skipped_columns": list(read.skipped_columns),
                    "negative_rows": int(result.harmful().sum()),
                    "seconds": round(time.perf_counter() - started, 3),
                },
                rows_read=read.rows_read,
                fingerprint=read.fingerprint,
            )
    return ValueOutcome(
        run_id,
        run["method"],
        len(result),
        time.perf_counter() - started,
        {**result.params, "seed": result.seed},
        result.diagnostics,
        read.skipped_columns,
    )


def auto_method(app: Mendb, name: str) -> MethodChoice:
    """The method `--method auto` picks for the dataset as it stands, and why."""
    with app.connection() as conn:
        dataset, data, _ = load(conn, name)
    counts = np.bincount(data.train.y, minlength=data.n_classes)
    return choose_method(len(data.train), {f.kind for f in dataset.features}, counts)


def value_choice(
    app: Mendb,
    name: str,
    choice: MethodChoice,
    overrides: Callable[[str], dict[str, Any]] = lambda method: {},
    progress: Progress | None = None,
) -> tuple[ValueOutcome, list[ValueOutcome]]:
    """Run a chosen method with its parameters (and `overrides(method)` on top); a
    consensus runs its parts first. Returns the run to read values from and the
    parts it rests on (none for a single method)."""
    if choice.method != "consensus":
        params = {**choice.params, **overrides(choice.method)}
        return value_dataset(app, name, choice.method, params, progress), []
    parts = [
        value_dataset(app, name, p.method, {**p.params, **overrides(p.method)}, progress)
        for p in choice.parts
    ]
    return consensus_dataset(app, name, [p.method for p in choice.parts]), parts


def _valuation_from_params(app: Mendb, method: str, params: dict[str, Any]) -> Valuation:
    """A method rebuilt from a queued run's JSON parameters (objects are stored by
    their repr, so where to run and where to spill come from the settings again)."""
    given = {k: v for k, v in params.items() if k not in ("executor", "workdir")}
    return make_valuation(method, **with_settings(app, method, given))


def with_settings(app: Mendb, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters, plus what the settings say for those not given: the Dask
    scheduler to run on, and the folder under MENDB_HOME where gradients spill."""
    accepted = METHODS[method].param_names() if method in METHODS else []
    extra: dict[str, Any] = {}
    if "executor" in accepted and app.settings.dask_scheduler:
        extra["executor"] = DaskExecutor(app.settings.dask_scheduler)
    if "workdir" in accepted:
        extra["workdir"] = str(app.settings.home / "work")
    return extra | params


def _progress_reporter(
    conn: psycopg.Connection[Any], run_id: int, progress: Progress | None
) -> Progress:
    last = [0.0]

    def report(fraction: float) -> None:
        if progress is not None:
            progress(fraction)
        now = time.monotonic()
        if now - last[0] >= _PROGRESS_INTERVAL or fraction >= 1.0:
            last[0] = now
            runs.set_progress(conn, run_id, fraction)

    return report


def latest_values(
    conn: psycopg.Connection[Any], name: str, data: TrainingArrays, method: str | None = None
) -> tuple[int, ValuationResult]:
    """The latest finished valuation, aligned to the training rows just read; rows
    valued since removed are dropped, rows added since get no value (0)."""
    run = latest_value_run(conn, name, method)
    return int(run["id"]), values_of_run(conn, run, data)


def latest_value_run(
    conn: psycopg.Connection[Any], name: str, method: str | None = None
) -> dict[str, Any]:
    run = runs.latest_value_run(conn, name, method)
    if run is None:
        which = f"with method {method!r} " if method else ""
        raise NoScores(f"dataset {name!r} has no finished valuation {which}yet; run `mendb value`")
    return run


def values_of_run(
    conn: psycopg.Connection[Any], run: dict[str, Any], data: TrainingArrays
) -> ValuationResult:
    """One run's scores aligned to the training rows just read; a row the run did
    not value sits at the harm threshold, neither harmful nor trusted."""
    keys, values = read_scores(conn, run["id"])
    harmful_below = harm_threshold(run)
    position = {key: i for i, key in enumerate(keys)}
    neutral = harmful_below or 0.0
    aligned = np.array(
        [values[position[k]] if k in position else neutral for k in data.train.keys],
        dtype=np.float64,
    )
    return ValuationResult.exact(
        data.train.keys, aligned, run["method"], run["params"], harmful_below=harmful_below
    )


def harm_threshold(run: dict[str, Any]) -> float | None:
    """The value below which a row of this run hurts: as the run recorded it, else
    as its method declares (runs written before the threshold was recorded)."""
    recorded = run.get("diagnostics") or {}
    if "harmful_below" in recorded:
        value = recorded["harmful_below"]
        return None if value is None else float(value)
    method = run["method"]
    return METHODS[method].harmful_below if method in METHODS else 0.0


def propose_repairs(
    app: Mendb,
    name: str,
    max_rows: int = 100,
    method: str | None = None,
    k: int = 10,
    repairers: list[Repairer] | None = None,
    verify: bool = True,
    progress: Progress | None = None,
) -> list[int]:
    """Diagnose the lowest-valued rows, propose a repair for each by the expert of
    its kind, verify each by a counterfactual retrain, write them to the audit
    table. Rows that already have an open (proposed or accepted) repair are
    skipped, so proposing twice does not duplicate work for the reviewer."""
    with app.connection() as conn:
        datasets.get(conn, name)
        run = latest_value_run(conn, name, method)  # fail early, before loading an encoder
        if harm_threshold(run) is None:
            raise MendbError(
                f"{run['method']} values rank rows but have no point below which a row"
                f" hurts, so they cannot choose rows of {name!r} to repair; propose from a"
                " method that has one (knn_shapley, data_oob, ...)"
            )
        return proposing.propose(
            conn,
            name,
            lambda data: latest_values(conn, name, data, method),
            max_rows=max_rows,
            k=k,
            model=app.settings.embedding_model,
            repairers=repairers,
            verify=verify,
            actor=app.settings.actor,
            progress=progress,
        )


def model_accuracy(app: Mendb, name: str, seed: int = 0) -> float:
    """Retrain the downstream model on the current training rows; accuracy on the
    test rows, which valuation never sees."""
    with app.connection() as conn:
        _, data, _ = load(conn, name)
    return accuracy(data.train, data.test, seed)


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None  # JSON has no NaN or infinity
    return value


def consensus_dataset(app: Mendb, name: str, methods: list[str] | None = None) -> ValueOutcome:
    """A 'consensus' run: the mean normalised rank of the latest run of each method
    (all methods valued so far, or `methods`), with their rank agreement."""
    started = time.perf_counter()
    with app.connection() as conn:
        _, data, read = load(conn, name)
        found = [
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT method FROM mendb.row_values WHERE dataset = %s"
                " AND method <> 'consensus' ORDER BY 1",
                [name],
            )
        ]
        chosen = methods or found
        missing = sorted(set(chosen) - set(found))
        if missing or not chosen:
            raise NoScores(
                f"dataset {name!r} has no finished valuation with method"
                f" {(missing or ['any'])[0]!r}; run `mendb value` first"
            )
        results = [latest_values(conn, name, data, method)[1] for method in chosen]
        result = consensus(results)
        run_id = runs.create(conn, name, "value", "consensus", {"methods": chosen})
        with conn.transaction():
            write_scores(conn, run_id, result)
            runs.finish(
                conn,
                run_id,
                diagnostics=jsonable({**result.diagnostics, "harmful_below": result.harmful_below}),
                metrics={
                    "train_rows": len(data.train),
                    "negative_rows": int(result.harmful().sum()),
                },
                rows_read=read.rows_read,
                fingerprint=read.fingerprint,
            )
    return ValueOutcome(
        run_id,
        "consensus",
        len(result),
        time.perf_counter() - started,
        {"methods": chosen},
        result.diagnostics,
    )
