"""TMC-Shapley until Gelman-Rubin <= 1.05: mendb against OpenDataVal's GrTMCSampler,
on the same cell, counting utility evaluations (fits of the proxy model).

The two R-hat figures are not computed the same way, and both are reported as the
libraries define them:
- mendb: 4 independent chains of permutations; R-hat per row from the chains'
  means and within-chain variances; the run stops when the largest R-hat over
  rows is <= 1.05 (checked after every block of 2 permutations per chain).
- OpenDataVal: one sequence of permutations cut into 10 pseudo-chains; checked
  every 100 permutations, and only after a burn-in of 1,000 permutations
  (`min_models`); the largest R-hat over rows.
Proxy: mendb's Newton logistic regression; OpenDataVal's `ClassifierSkLearnWrapper`
around scikit-learn's `LogisticRegression`. Both truncate permutations (mendb:
|u(N) - u(prefix)| < 1 % of |u(N)|; OpenDataVal: 10 consecutive negligible gains).
"""

from __future__ import annotations

import json
from typing import Any

from bench.data import load, make_cell, save_cell
from bench.metrics import detection
from bench.render import render
from bench.runner import OUT, run_job


def run(dataset: str, noise: str, max_seconds: float, odv_seconds: float,
        available: dict[str, tuple[bool, str]], log: Any = print) -> dict[str, Any]:
    data, noisy = make_cell(load(dataset), noise)
    cell = OUT / "cells" / f"tmc-{dataset}-{noise}.npz"
    save_cell(cell, data, noisy)
    result: dict[str, Any] = {"dataset": dataset, "noise": noise, "n_train": len(data.train),
                              "max_seconds": max_seconds, "odv_seconds": odv_seconds}
    ours = run_job("mendb", "tmc_shapley",
                   {"rhat_below": 1.05, "n_chains": 4, "max_samples": 200_000,
                    "max_time": max_seconds, "seed": 0, "n_jobs": 1},
                   cell, f"tmc-{dataset}-mendb", max_seconds + 300)
    result["mendb"] = _summary(ours, noisy)
    log(json.dumps(result["mendb"]))
    usable, why = available.get("odv", (False, "not installed"))
    if usable:
        ref = run_job("odv", "tmc_shapley",
                      {"gr_threshold": 1.05, "seed": 0, "max_seconds": odv_seconds}, cell,
                      f"tmc-{dataset}-odv", odv_seconds + 900)
        result["odv"] = _summary(ref, noisy)
    else:
        result["odv"] = {"ok": False, "error": why}
    log(json.dumps(result["odv"]))
    (OUT / "tmc.json").write_text(json.dumps(result, indent=1))
    return result


def _summary(outcome: Any, noisy: Any) -> dict[str, Any]:
    if not outcome.ok:
        return {"ok": False, "error": outcome.error}
    extras = outcome.extras
    odv = "gelman_rubin" in extras
    rhat = extras["gelman_rubin"] if odv else extras.get("gelman_rubin_max")
    evaluations = extras.get("utility_evaluations")
    reached = (extras.get("evaluations_at_threshold") if odv
               else evaluations if rhat is not None and rhat <= 1.05 else None)
    return {"ok": True, "seconds": outcome.seconds, "peak_mb": outcome.peak_mb,
            "evaluations": evaluations, "rhat": None if rhat is None or rhat >= 100 else rhat,
            "reached_at": reached, "stopped_by_time": extras.get("stopped_by_time", False),
            "samples": extras.get("samples", extras.get("permutations")),
            "auroc": detection(outcome.values, noisy)["auroc"]}


def _line(name: str, r: dict[str, Any]) -> str:
    if not r["ok"]:
        return f"| {name} | {r['error']} | | | | | |"
    rhat = "none yet (burn-in)" if r["rhat"] is None else f"{r['rhat']:.3f}"
    reached = "not reached" if r["reached_at"] is None else f"{r['reached_at']:,}"
    return (f"| {name} | {r['samples']:,} | {r['evaluations']:,} | {rhat} |"
            f" {reached} | {r['seconds']:.1f} | {r['auroc']:.3f} |")


def _target(ours: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any] | None:
    """Whether mendb reached R-hat <= 1.05 with fewer evaluations than OpenDataVal
    spent (to its own crossing, or in all if it never crossed)."""
    if not (ours["ok"] and ref["ok"]):
        return None
    mine = ours["reached_at"]
    theirs = ref["reached_at"] if ref["reached_at"] is not None else ref["evaluations"]
    return {"met": mine is not None and mine < theirs,
            "mine": mine if mine is None else format(mine, ","), "theirs": theirs,
            "how": ("reached it" if ref["reached_at"] is not None
                    else "had not reached it when stopped")}


def markdown(result: dict[str, Any]) -> str:
    """The section's text; the prose is bench/templates/tmc.md.j2."""
    lines = [_line(name, result[lib]) for lib, name in
             (("mendb", "mendb tmc_shapley"), ("odv", "OpenDataVal DataShapley"))]
    return render("tmc.md.j2", r=result, lines=lines,
                  target=_target(result["mendb"], result["odv"]))
