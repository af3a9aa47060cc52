"""Valuing rows and reading the values."""

from __future__ import annotations

import json
from typing import Any

import click

from mendb.db.errors import MendbError, require_between
from mendb.server import operations
from mendb.server.cli._common import cli, command, console, emit, open_app, progress_bar
from mendb.server.operations import jsonable
from mendb.server.params import (
    MAX_NEIGHBOURS,
    MAX_SEED,
    check_model,
    check_n_jobs,
    check_param_types,
    parse_model_params,
)
from mendb.valuation.errors import InvalidParameterError
from mendb.valuation.executors import DaskExecutor
from mendb.valuation.methods import METHODS


def _parse_params(items: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep:
            raise MendbError(f"--param {item!r} is not NAME=VALUE")
        try:
            params[name] = json.loads(raw)
        except json.JSONDecodeError:
            params[name] = raw
    return params


@command(cli)
@click.argument("name")
@click.option(
    "--method",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", *sorted(METHODS), "consensus"]),
    help="auto: the method (or consensus of methods) for this size and kind of data, said why.",
)
@click.option("--k", type=int, default=None, help="Neighbours (knn_shapley).")
@click.option("--seed", type=int, default=None, help="Seed of Monte Carlo methods.")
@click.option("--max-samples", type=int, default=None, help="Permutations, subsets or bags.")
@click.option("--max-time", type=float, default=None, help="Seconds.")
@click.option("--jobs", "n_jobs", type=int, default=None, help="Local worker processes.")
@click.option("--scheduler", default=None, help="Dask scheduler tcp://HOST:8786.")
@click.option("--param", "extra", multiple=True, help="Other method parameter NAME=VALUE.")
@click.option(
    "--model",
    default=None,
    help="Your estimator, package.module:Class, fitted wherever the method fits a model"
    " (auto: data_oob).",
)
@click.option("--model-params", default=None, help="Its constructor parameters, a JSON object.")
def value(
    as_json: bool,
    name: str,
    method: str,
    k: int | None,
    seed: int | None,
    max_samples: int | None,
    max_time: float | None,
    n_jobs: int | None,
    scheduler: str | None,
    extra: tuple[str, ...],
    model: str | None,
    model_params: str | None,
) -> None:
    """Value every training row of a dataset (consensus: combine the methods run so far)."""
    require_between("--k", k, 1, MAX_NEIGHBOURS)
    require_between("--seed", seed, 0, MAX_SEED)
    require_between("--max-samples", max_samples, 1, 10**9)
    require_between("--max-time", max_time, 0.001, 10**7)
    check_n_jobs("--jobs", n_jobs)
    own_model = {"model": model, "model_params": parse_model_params(model_params)}
    check_model(own_model)  # --model is a path; a method's own learners go by --param
    if method == "auto":
        tuned = (k, max_samples, max_time, n_jobs, scheduler, model, model_params)
        if all(v is None for v in tuned) and not extra:
            _value_auto(as_json, name, seed)
            return
        # Your model needs a method that fits one; Data-OOB fits it the fewest times.
        method = "knn_shapley" if model is None and model_params is None else "data_oob"
    accepted = METHODS[method].param_names() if method in METHODS else []
    budget = METHODS[method].budget_param if method in METHODS else "max_samples"
    given = {"k": k, "seed": seed, budget: max_samples, "max_time": max_time, "n_jobs": n_jobs}
    given |= own_model
    params = {key: v for key, v in given.items() if v is not None} | _parse_params(extra)
    if method in METHODS:
        check_param_types("value", method, params)
    elif model is not None or model_params is not None:
        raise InvalidParameterError(
            "model", model, "left out: consensus combines the runs already made"
        )
    with (
        open_app() as app,
        app.connection() as conn,
        progress_bar(f"{method} on {name}", not as_json) as progress,
    ):
        if method == "consensus":
            outcome = operations.consensus_run(conn, name, params.get("methods"))
        else:
            if scheduler and "executor" in accepted:
                params["executor"] = DaskExecutor(scheduler)
            outcome = operations.value_run(conn, app.settings, name, method, params, progress)

    def render() -> None:
        if outcome.skipped_columns:
            skipped = ", ".join(outcome.skipped_columns)
            console.print(f"[yellow]note:[/yellow] text columns not used yet: {skipped}")
        _say_run(outcome)

    emit(jsonable(outcome.to_dict()), as_json, render)


def _say_run(run: operations.ValueOutcome) -> None:
    """A finished run in a line, its utility, and its warnings."""
    click.echo(
        f"run {run.run_id}: {run.method} valued {run.rows} rows in"
        f" {run.seconds:.2f}s; see mendb.row_values"
    )
    utility = run.diagnostics.get("utility")
    if utility:
        click.echo(f"utility: {utility} ({run.diagnostics.get('utility_reason')})")
    for part in ("convergence", "mtm"):
        warning = (run.diagnostics.get(part) or {}).get("warning")
        if warning:
            console.print(f"[yellow]warning:[/yellow] {run.method}: {warning}")


def _value_auto(as_json: bool, name: str, seed: int | None) -> None:
    """`mendb value NAME` with no method: the one chosen for the data, said why."""
    with open_app() as app, app.connection() as conn:
        choice = operations.auto_method(conn, name)
        if not as_json:
            click.echo(f"method: {choice.method} ({choice.reason})")
        with progress_bar(f"{choice.method} on {name}", not as_json) as progress:
            outcome, parts = operations.value_choice(
                conn,
                app.settings,
                name,
                choice,
                lambda method: {} if seed is None or method == "knn_shapley" else {"seed": seed},
                progress,
            )
    result = {**outcome.to_dict(), "chosen_because": choice.reason,
              "parts": [p.to_dict() for p in parts]}  # fmt: skip

    def render() -> None:
        for run in [*parts, outcome]:
            _say_run(run)

    emit(jsonable(result), as_json, render)
