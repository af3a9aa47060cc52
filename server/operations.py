"""The steps of a round, as the CLI, the worker and the loop call them:
read -> value -> propose -> review -> apply -> retrain.

Each step takes the caller's connection and the settings; a step that must be atomic
runs in one `conn.transaction()`, which nests as a savepoint inside a caller's. The
commands, the demos and the benchmarks check out a connection from the app handle
(`Mendb.connection`) and pass it, with `app.settings`, to these steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import psycopg

from mendb.db import datasets, jobs, runs
from mendb.db.datasets import Dataset
from mendb.db.embeddings import SyncReport
from mendb.db.errors import MendbError, NoScores
from mendb.db.read import DatasetRead, read_dataset
from mendb.db.scores import write_scores
from mendb.repair.embedder import DEFAULT_MODEL
from mendb.repair.embedder import encoder as load_encoder
from mendb.repair.proposals import Repairer
from mendb.server import propose as proposing
from mendb.server.failures import failure_recorded
from mendb.server.run_values import (
    harm_threshold,
    jsonable,
    latest_value_run,
    latest_values,
    values_of_run,
)
from mendb.server.settings import Settings
from mendb.valuation.base import Valuation
from mendb.valuation.choice import MethodChoice, choose_method
from mendb.valuation.consensus import consensus
from mendb.valuation.data import Task, TrainingArrays
from mendb.valuation.evaluate import accuracy
from mendb.valuation.executors import DaskExecutor
from mendb.valuation.methods import METHODS, make_valuation
from mendb.valuation.models import model_spec
from mendb.valuation.preprocess import prepare
from mendb.valuation.target_scale import value_scale

__all__ = [
    "ValueOutcome", "auto_method", "consensus_run", "embed", "execute_value_run",
    "harm_threshold", "jsonable", "latest_value_run", "latest_values", "load",
    "model_accuracy", "propose", "value_choice", "value_run", "values_of_run", "with_settings",
]  # fmt: skip

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


def embed(
    conn: psycopg.Connection[Any],
    settings: Settings,
    name: str,
    progress: Progress | None = None,
) -> list[SyncReport]:
    """Embed the dataset's text columns (only new or changed rows)."""
    dataset = datasets.get(conn, name)
    encoder = load_encoder(settings.embedding_model)
    return proposing.embed(conn, dataset, encoder, progress)


def value_run(
    conn: psycopg.Connection[Any],
    settings: Settings,
    name: str,
    method: str = "knn_shapley",
    params: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> ValueOutcome:
    """Create a valuation run and carry it out; its failure is recorded on it."""
    valuation = make_valuation(method, **with_settings(settings, method, params or {}))
    datasets.get(conn, name)
    run_id = runs.create(conn, name, "value", method, valuation.get_params())
    with failure_recorded(conn, run_id):
        return execute_value_run(conn, settings, run_id, progress, valuation=valuation)


def execute_value_run(
    conn: psycopg.Connection[Any],
    settings: Settings,
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
    run = runs.load(conn, run_id)
    method = run.method or ""
    valuation = valuation or make_valuation(
        method, **with_settings(settings, method, _stored_params(run.params))
    )
    dataset = datasets.get(conn, run.dataset)
    if any(f.kind == "text" for f in dataset.features):
        proposing.embed(conn, dataset, load_encoder(settings.embedding_model), None)
    _, data, read = load(conn, run.dataset, settings.embedding_model)
    report = _progress_reporter(conn, run_id, progress)
    scale = value_scale(data)
    result = valuation.fit(scale.applied(data), progress=report).result
    if data.task is Task.REGRESSION:
        result = replace(
            result, diagnostics={**result.diagnostics, "target_scale": scale.describe()}
        )
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
        method,
        len(result),
        time.perf_counter() - started,
        {**result.params, "seed": result.seed},
        result.diagnostics,
        read.skipped_columns,
    )


def auto_method(conn: psycopg.Connection[Any], name: str) -> MethodChoice:
    """The method `--method auto` picks for the dataset as it stands, and why."""
    dataset, data, _ = load(conn, name)
    counts = (
        np.bincount(data.train.y, minlength=data.n_classes)
        if data.task is Task.CLASSIFICATION
        else np.zeros(0, dtype=np.int64)  # a regression target has no classes to count
    )
    return choose_method(len(data.train), {f.kind for f in dataset.features}, counts, data.task)


def value_choice(
    conn: psycopg.Connection[Any],
    settings: Settings,
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
        return value_run(conn, settings, name, choice.method, params, progress), []
    parts = [
        value_run(conn, settings, name, p.method, {**p.params, **overrides(p.method)}, progress)
        for p in choice.parts
    ]
    return consensus_run(conn, name, [p.method for p in choice.parts]), parts


def _stored_params(params: dict[str, Any]) -> dict[str, Any]:
    """A queued run's JSON parameters without the objects stored by their repr:
    where to run and where to spill come from the settings again."""
    return {k: v for k, v in params.items() if k not in ("executor", "workdir")}


def with_settings(settings: Settings, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters, plus what the settings say for those not given: the Dask
    scheduler to run on, and the folder under MENDB_HOME where gradients spill."""
    accepted = METHODS[method].param_names() if method in METHODS else []
    extra: dict[str, Any] = {}
    if "executor" in accepted and settings.dask_scheduler:
        extra["executor"] = DaskExecutor(settings.dask_scheduler)
    if "workdir" in accepted:
        extra["workdir"] = str(settings.home / "work")
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


def propose(
    conn: psycopg.Connection[Any],
    settings: Settings,
    name: str,
    max_rows: int = 100,
    method: str | None = None,
    k: int = 10,
    repairers: list[Repairer] | None = None,
    verify: bool = True,
    progress: Progress | None = None,
    *,
    model: str | None = None,
    model_params: dict[str, Any] | str | None = None,
    predictions: str | None = None,
) -> proposing.Proposed:
    """Diagnose the lowest-valued rows, propose a repair for each by the expert of
    its kind, verify each by a counterfactual retrain, write them to the audit
    table. Rows that already have an open (proposed or accepted) repair are
    skipped, so proposing twice does not duplicate work for the reviewer. Where
    nothing is proposed, the result says why.

    `model` / `model_params`: the user's estimator, which verification retrains on
    a regression dataset (checked before anything runs); `predictions`: the column
    of the user's stored out-of-fold predictions, for model-free evidence."""
    estimator = model_spec(model, model_params) if model is not None else None
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
        model=settings.embedding_model,
        repairers=repairers,
        verify=verify,
        actor=settings.actor,
        progress=progress,
        estimator=estimator,
        predictions=predictions,
    )


def model_accuracy(conn: psycopg.Connection[Any], name: str, seed: int = 0) -> float:
    """Retrain the downstream model on the current training rows; accuracy on the
    test rows, which valuation never sees."""
    _, data, _ = load(conn, name)
    return accuracy(data.train, data.test, seed)


def consensus_run(
    conn: psycopg.Connection[Any], name: str, methods: list[str] | None = None
) -> ValueOutcome:
    """A 'consensus' run: the mean normalised rank of the latest run of each method
    (all methods valued so far, or `methods`), with their rank agreement."""
    started = time.perf_counter()
    _, data, read = load(conn, name)
    found = runs.value_methods(conn, name)
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
            metrics={"train_rows": len(data.train), "negative_rows": int(result.harmful().sum())},
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
