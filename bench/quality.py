"""Detection quality: every mendb method and the reference libraries, per
(dataset, noise) cell, on the same prepared splits.

Budgets (stated in the report): Monte Carlo semivalues (mendb TMC, Banzhaf MSR,
Beta Shapley; pyDVL TMC and MSR-Banzhaf) get the same wall-time budget and 2
workers each; the utility evaluations each one completed are reported beside.
Data-OOB uses the same number of trees in mendb, pyDVL and OpenDataVal;
KNN-Shapley the same K.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.data import LOADERS, NOISES, load, make_cell, save_cell
from bench.metrics import detection
from bench.runner import OUT, Outcome, run_job
from valuation.methods import METHODS

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


def reference_jobs(budget: Budget) -> list[tuple[str, str, dict[str, Any]]]:
    mc = {"max_time": budget.mc_seconds, "n_jobs": 2, "seed": 0}
    return [
        ("cleanlab", "cleanlab", {}),
        ("pydvl", "knn_shapley", {"k": K, "n_jobs": 2}),
        ("pydvl", "tmc_shapley", mc),
        ("pydvl", "msr_banzhaf", {**mc, "batch_size": 16}),
        ("pydvl", "data_oob", {"n_estimators": budget.trees, "n_jobs": 2, "seed": 0}),
        ("odv", "knn_shapley", {"k": K}),
        ("odv", "data_oob", {"n_estimators": budget.trees, "seed": 0}),
        ("odv", "lava", {}),
    ]


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
            fit_s = _one_fit_seconds(data)
            jobs = [("mendb", m, mendb_params(m, budget)) for m in METHODS]
            jobs += reference_jobs(budget)
            for lib, method, params in jobs:
                base = {"dataset": name, "noise": noise, "lib": lib, "method": method,
                        "n_train": len(data.train), "n_valid": len(data.valid),
                        "n_noisy": int(noisy.sum())}
                if method == "loo" and len(data.train) > budget.loo_max_rows:
                    rows.append({**base, "ok": False, "error":
                                 f"not run: N + 1 = {len(data.train) + 1} full fits"})
                    continue
                if ((lib, method) in PERMUTATION_METHODS
                        and len(data.train) > budget.permutation_max_rows):
                    rows.append({**base, "ok": False, "error": "not run: one permutation is up"
                                 f" to {len(data.train):,} model fits, more than the budget"})
                    continue
                if (lib, method) in PROXY_METHODS and fit_s > budget.mc_seconds / 20:
                    rows.append({**base, "ok": False, "error": "not run: one fit of mendb's"
                                 f" logistic proxy on all rows takes {fit_s:.1f} s here, over"
                                 " 1/20 of the budget"})
                    continue
                usable, why = available.get(lib, (True, ""))
                if not usable:
                    rows.append({**base, "ok": False, "error": why})
                    continue
                timeout = 10 * budget.mc_seconds + 240
                outcome = run_job(lib, method, params or {}, cell,
                                  f"{name}-{noise}-{lib}-{method}", timeout, resume)
                rows.append({**base, **_row(outcome, noisy, params)})
                log(_describe(rows[-1]))
    (OUT / "quality.json").write_text(json.dumps(rows, indent=1))
    return rows


def _one_fit_seconds(data: Any) -> float:
    """Time of one utility evaluation of mendb's default proxy on all training rows."""
    from valuation.utility import ModelUtility

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


def markdown(rows: list[dict[str, Any]], budget: Budget) -> str:
    lines = [
        f"Budgets: Monte Carlo semivalues (mendb tmc_shapley, banzhaf, beta_shapley; pyDVL"
        f" tmc_shapley, msr_banzhaf) {budget.mc_seconds:g} s of wall time each with 2"
        f" workers (the utility evaluations each completed are in the last column);"
        f" Data-OOB {budget.trees} trees in every library; KNN-Shapley K = {K};"
        f" leave-one-out only up to {budget.loo_max_rows} training rows, and permutation"
        f" samplers (TMC, Beta Shapley) only up to {budget.permutation_max_rows}: the time"
        " budget is checked between permutations, and one permutation of a larger set is"
        " already longer than the budget. mendb checks its budget between blocks (1"
        " permutation, or 4 Banzhaf subsets) and pyDVL between its updates, so both can run"
        " past the budget by the work in flight (see the time column). mendb's Data-OOB"
        " and semivalues start a 2-process pool inside the timed call (a few seconds on a"
        " loaded machine, and its memory is counted); mendb's proxy-model samplers are"
        " not run where one fit of its logistic proxy on all rows takes over 1/20 of the"
        " budget (digits: 10 classes make its Newton solver slow); pyDVL's joblib workers"
        " are started and warmed up before its timed call, so neither their start-up time nor their"
        " import memory is counted. The last column is the number of model fits (utility"
        " evaluations; for Data-OOB the trees; for TS-Shapley the marginal evaluations on"
        " its subsets).",
        "",
        "### Best per cell (target: mendb's best AUROC >= the best reference AUROC)",
        "",
        "| dataset | noise | N train | mendb best (AUROC) | best reference (AUROC) | met |",
        "|---|---|---:|---|---|:-:|",
    ]
    cells = sorted({(r["dataset"], r["noise"]) for r in rows},
                   key=lambda c: (list(LOADERS).index(c[0]), NOISES.index(c[1])))
    met_all = True
    for dataset, noise in cells:
        here = [r for r in rows if (r["dataset"], r["noise"]) == (dataset, noise) and r["ok"]]
        ours = max((r for r in here if r["lib"] == "mendb"), key=lambda r: r["auroc"],
                   default=None)
        refs = max((r for r in here if r["lib"] != "mendb"), key=lambda r: r["auroc"],
                   default=None)
        n_train = next(r["n_train"] for r in rows if r["dataset"] == dataset)
        met = ours is not None and (refs is None or ours["auroc"] >= refs["auroc"] - 1e-12)
        met_all &= met
        lines.append(
            f"| {dataset} | {noise} | {n_train} | "
            f"{ours['method'] if ours else '-'} ({ours['auroc']:.3f}) | "
            f"{label(refs) if refs else '-'} ({refs['auroc']:.3f}) | {'yes' if met else 'no'} |"
            if ours and refs else f"| {dataset} | {noise} | {n_train} | - | - | - |")
    lines += ["", f"Target met in every cell: **{'yes' if met_all else 'no'}**.", ""]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        some = next(r for r in rows if r["dataset"] == dataset)
        lines += [f"### {dataset} ({some['n_train']} training rows, {some['n_valid']}"
                  " validation rows)", "",
                  "| noise | method | AUROC | AP | P@k | time (s) | peak MB | utility evals |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in (r for r in rows if r["dataset"] == dataset):
            if not r["ok"]:
                lines.append(f"| {r['noise']} | {label(r)} | {r['error']} | | | | | |")
                continue
            evals = "" if r.get("evaluations") is None else f"{r['evaluations']:,}"
            lines.append(f"| {r['noise']} | {label(r)} | {r['auroc']:.3f} | {r['ap']:.3f} |"
                         f" {r['p_at_k']:.3f} | {r['seconds']:.2f} | {r['peak_mb']:.0f} |"
                         f" {evals} |")
        lines.append("")
    return "\n".join(lines)
