"""Detection quality: every mendb method and the reference libraries, per
(dataset, noise) cell, on the same prepared splits.

Budgets (stated in the report): Monte Carlo semivalues (mendb TMC, Banzhaf MSR,
Beta Shapley; pyDVL TMC and MSR-Banzhaf) get the same wall-time budget and 2
workers each; the utility evaluations each one completed are reported beside.
Data-OOB uses the same number of trees in mendb, pyDVL and OpenDataVal;
KNN-Shapley the same K. Beside each method at its defaults, two mendb
configurations: Data-OOB over as many logistic-regression bags, scored by the
probability each gives the row's label, and the consensus (mean rank) of mendb's
KNN-Shapley and Data-OOB runs of the cell, timed as the sum of the two.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import LOADERS, NOISES, load, make_cell, save_cell
from bench.metrics import detection
from bench.render import render
from bench.runner import OUT, Outcome, run_job
from mendb.valuation.methods import METHODS

K = 10


@dataclass(frozen=True)
class Budget:
    mc_seconds: float  # wall-time budget of every Monte Carlo semivalue
    trees: int  # Data-OOB bags, all libraries
    loo_max_rows: int  # leave-one-out runs N + 1 full fits: only up to this N
    permutation_max_rows: int  # a TMC / Beta permutation is up to N fits: only up to this N


FULL = Budget(mc_seconds=6.0, trees=200, loo_max_rows=600, permutation_max_rows=1000)
QUICK = Budget(mc_seconds=3.0, trees=100, loo_max_rows=400, permutation_max_rows=400)
PROXY_METHODS = {("mendb", m) for m in ("tmc_shapley", "banzhaf", "beta_shapley", "loo")}
CONSENSUS_OF = ("knn_shapley", "data_oob")
PERMUTATION_METHODS = {("mendb", "tmc_shapley"), ("mendb", "beta_shapley"),
                       ("pydvl", "tmc_shapley")}


def mendb_params(method: str, budget: Budget) -> dict[str, Any] | None:
    # max_samples only bounds the run (the engine lists its blocks up front, so it
    # must stay moderate); the time budget is what stops it.
    mc = {"max_time": budget.mc_seconds, "seed": 0, "n_jobs": 2}
    # One permutation per block, so the time budget is checked after each permutation.
    permutations = {**mc, "max_samples": 100_000, "block_size": 1}
    table: dict[str, dict[str, Any]] = {
        "knn_shapley": {"k": K},
        "tmc_shapley": permutations,
        "banzhaf": {**mc, "max_samples": 2_000_000, "block_size": 4},
        "beta_shapley": permutations,
        "loo": {"n_jobs": 2},
        "data_oob": {"n_estimators": budget.trees, "seed": 0, "n_jobs": 2},
        "ts_shapley": {"seed": 0},
        "lava": {"seed": 0},  # its defaults; the seed only draws validation rows past 2,000
    }
    if method in table:
        return table[method]
    accepted = METHODS[method].param_names()  # a method added later: its defaults
    return {k: v for k, v in (("seed", 0), ("max_time", budget.mc_seconds)) if k in accepted}


def mendb_jobs(budget: Budget) -> list[tuple[str, str, dict[str, Any] | None, str]]:
    """(library, method, parameters, name in the report): every method at the
    benchmark's budget, then the logistic Data-OOB configuration."""
    jobs: list[tuple[str, str, dict[str, Any] | None, str]] = [
        ("mendb", m, mendb_params(m, budget), m) for m in METHODS]
    logistic = {**(mendb_params("data_oob", budget) or {}), "model": "logistic",
                "score": "probability"}
    jobs.append(("mendb", "data_oob", logistic, "data_oob logistic probability"))
    return jobs


def reference_jobs(budget: Budget) -> list[tuple[str, str, dict[str, Any] | None, str]]:
    mc = {"max_time": budget.mc_seconds, "n_jobs": 2, "seed": 0}
    jobs: list[tuple[str, str, dict[str, Any]]] = [
        ("cleanlab", "cleanlab", {}),
        ("pydvl", "knn_shapley", {"k": K, "n_jobs": 2}),
        ("pydvl", "tmc_shapley", mc),
        ("pydvl", "msr_banzhaf", {**mc, "batch_size": 16}),
        ("pydvl", "data_oob", {"n_estimators": budget.trees, "n_jobs": 2, "seed": 0}),
        ("odv", "knn_shapley", {"k": K}),
        ("odv", "data_oob", {"n_estimators": budget.trees, "seed": 0}),
        ("odv", "lava", {}),
    ]
    return [(lib, method, params, method) for lib, method, params in jobs]


def run(datasets: list[str], noises: list[str], budget: Budget,
        available: dict[str, tuple[bool, str]], log: Any = print, resume: bool = False
        ) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name in datasets:
        table = load(name)
        for noise in noises:
            data, noisy = make_cell(table, noise)
            cell = OUT / "cells" / f"{name}-{noise}.npz"
            save_cell(cell, data, noisy)
            base = {"dataset": name, "noise": noise, "n_train": len(data.train),
                    "n_valid": len(data.valid), "n_noisy": int(noisy.sum())}
            fit_s = _one_fit_seconds(data)
            ours: dict[str, Outcome | None] = {}
            for lib, method, params, shown in mendb_jobs(budget):
                row, ours[shown] = _job(lib, method, params, shown, base, cell, noisy, budget,
                                        fit_s, available, resume)
                rows.append(row)
                log(_describe(row))
            rows.append({**base, "lib": "mendb", "method": "consensus",
                         **_consensus_row(ours, noisy)})
            log(_describe(rows[-1]))
            for lib, method, params, shown in reference_jobs(budget):
                row, _ = _job(lib, method, params, shown, base, cell, noisy, budget, fit_s,
                              available, resume)
                rows.append(row)
                log(_describe(row))
    (OUT / "quality.json").write_text(json.dumps(rows, indent=1))
    return rows


def _job(lib: str, method: str, params: dict[str, Any] | None, shown: str,
         base: dict[str, Any], cell: Path, noisy: np.ndarray, budget: Budget, fit_s: float,
         available: dict[str, tuple[bool, str]], resume: bool
         ) -> tuple[dict[str, Any], Outcome | None]:
    """One method on one cell: its report row, and its outcome if it ran."""
    base = {**base, "lib": lib, "method": shown}
    n_train = base["n_train"]
    skip = None
    if method == "loo" and n_train > budget.loo_max_rows:
        skip = f"not run: N + 1 = {n_train + 1} full fits"
    elif (lib, method) in PERMUTATION_METHODS and n_train > budget.permutation_max_rows:
        skip = (f"not run: one permutation is up to {n_train:,} model fits, more than the"
                " budget")
    elif (lib, method) in PROXY_METHODS and fit_s > budget.mc_seconds / 20:
        skip = (f"not run: one fit of mendb's logistic proxy on all rows takes {fit_s:.1f} s"
                " here, over 1/20 of the budget")
    elif not available.get(lib, (True, ""))[0]:
        skip = available[lib][1]
    if skip is not None:
        return {**base, "ok": False, "error": skip}, None
    tag = f"{base['dataset']}-{base['noise']}-{lib}-{shown.replace(' ', '_')}"
    outcome = run_job(lib, method, params or {}, cell, tag, 10 * budget.mc_seconds + 240,
                      resume)
    return {**base, **_row(outcome, noisy, params)}, outcome


def _consensus_row(ours: dict[str, Outcome | None], noisy: np.ndarray) -> dict[str, Any]:
    """mendb's consensus of the cell's runs of `CONSENSUS_OF`, as `mendb value
    --method consensus` combines stored runs: the mean of their normalised ranks."""
    from mendb.valuation.consensus import consensus
    from mendb.valuation.result import ValuationResult

    parts = [ours.get(m) for m in CONSENSUS_OF]
    done = [p for p in parts if p is not None and p.ok and p.values is not None]
    if len(done) < len(parts):
        return {"ok": False, "error": f"not run: needs {' and '.join(CONSENSUS_OF)}"}
    keys = np.arange(len(noisy)).astype(str).astype(object)
    results = [ValuationResult(keys, p.values, np.zeros(len(keys)), np.ones(len(keys), np.int64),
                               p.method, {}, 0) for p in done if p.values is not None]
    outcome = Outcome("mendb", "consensus", True, consensus(results).values,
                      sum(p.seconds for p in done), max(p.peak_mb for p in done))
    return _row(outcome, noisy, {"methods": list(CONSENSUS_OF)})


def _one_fit_seconds(data: Any) -> float:
    """Time of one utility evaluation of mendb's default proxy on all training rows."""
    from mendb.valuation.utility import ModelUtility

    utility = ModelUtility(data.train.x, data.train.y, data.valid.x, data.valid.y)
    started = time.perf_counter()
    utility(np.arange(len(data.train)))
    return time.perf_counter() - started


def _row(outcome: Outcome, noisy: np.ndarray, params: dict[str, Any] | None
         ) -> dict[str, Any]:
    if not outcome.ok or outcome.values is None:
        return {"ok": False, "error": outcome.error}
    return {"ok": True, **detection(outcome.values, noisy), "seconds": outcome.seconds,
            "peak_mb": outcome.peak_mb, "evaluations": outcome.extras.get(
                "utility_evaluations"), "params": params}


def _describe(row: dict[str, Any]) -> str:
    head = f"{row['dataset']:>13} {row['noise']:>10} {row['lib']:>8} {row['method']:<13}"
    if not row["ok"]:
        return f"{head} -- {row['error']}"
    return (f"{head} AUROC {row['auroc']:.3f} AP {row['ap']:.3f} P@k {row['p_at_k']:.3f}"
            f" {row['seconds']:.2f}s {row['peak_mb']:.0f}MB evals {row['evaluations']}")


def label(row: dict[str, Any]) -> str:
    names = {"pydvl": "pyDVL", "odv": "OpenDataVal", "mendb": "mendb", "cleanlab": "cleanlab"}
    if row["lib"] == "cleanlab":
        return "cleanlab label quality"
    return f"{names[row['lib']]} {row['method']}"


def _best_line(rows: list[dict[str, Any]], dataset: str, noise: str) -> tuple[str, bool]:
    """The "best per cell" table line of one cell, and whether mendb's best AUROC
    reaches the best reference's."""
    here = [r for r in rows if (r["dataset"], r["noise"]) == (dataset, noise) and r["ok"]]
    ours = max((r for r in here if r["lib"] == "mendb"), key=lambda r: r["auroc"], default=None)
    refs = max((r for r in here if r["lib"] != "mendb"), key=lambda r: r["auroc"], default=None)
    n_train = next(r["n_train"] for r in rows if r["dataset"] == dataset)
    met = ours is not None and (refs is None or ours["auroc"] >= refs["auroc"] - 1e-12)
    if not (ours and refs):
        return f"| {dataset} | {noise} | {n_train} | - | - | - |", met
    return (f"| {dataset} | {noise} | {n_train} | {ours['method']} ({ours['auroc']:.3f}) |"
            f" {label(refs)} ({refs['auroc']:.3f}) | {'yes' if met else 'no'} |"), met


def _row_line(r: dict[str, Any]) -> str:
    if not r["ok"]:
        return f"| {r['noise']} | {label(r)} | {r['error']} | | | | | |"
    evals = "" if r.get("evaluations") is None else f"{r['evaluations']:,}"
    return (f"| {r['noise']} | {label(r)} | {r['auroc']:.3f} | {r['ap']:.3f} |"
            f" {r['p_at_k']:.3f} | {r['seconds']:.2f} | {r['peak_mb']:.0f} | {evals} |")


def markdown(rows: list[dict[str, Any]], budget: Budget) -> str:
    """The section's text; the prose is bench/templates/quality.md.j2."""
    cells = sorted({(r["dataset"], r["noise"]) for r in rows},
                   key=lambda c: (list(LOADERS).index(c[0]), NOISES.index(c[1])))
    best = [_best_line(rows, dataset, noise) for dataset, noise in cells]
    datasets = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        some = next(r for r in rows if r["dataset"] == dataset)
        datasets.append({"name": dataset, "n_train": some["n_train"], "n_valid": some["n_valid"],
                         "lines": [_row_line(r) for r in rows if r["dataset"] == dataset]})
    return render(
        "quality.md.j2", budget=budget, k=K, consensus_of=CONSENSUS_OF,
        consensus_json=json.dumps(list(CONSENSUS_OF)), best_lines=[line for line, _ in best],
        met_all=all(met for _, met in best), datasets=datasets,
    )  # fmt: skip
