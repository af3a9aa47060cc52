"""The section "Gradient influence" of docs/BENCHMARKS.md: the tables are laid out
here from the saved rows, the prose is `report.md.j2`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.influence.data import (
    D_PROJ,
    DATASETS,
    METHODS,
    NOISES,
    TMC_MAX_ROWS,
    TMC_SAMPLES,
    TMC_TIME_CAP,
)
from bench.render import render

TITLE = "Gradient influence"
LABELS = {"influence_sgd": "influence_sgd (TracIn)", "influence_adam": "influence_adam (LESS)",
          "knn_shapley": "knn_shapley (K = 10)", "data_oob": "data_oob (200 trees, 2 jobs)",
          "tmc_shapley": f"tmc_shapley ({TMC_SAMPLES} permutations, 2 jobs)"}


def _mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def _cells(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted({(r["dataset"], r["noise"]) for r in rows},
                  key=lambda c: (DATASETS.index(c[0]), NOISES.index(c[1])))


def detection_table(rows: list[dict[str, Any]], metric: str) -> str:
    cells = _cells(rows)
    head = "| method | " + " | ".join(f"{d} {n}" for d, n in cells) + " | mean |"
    lines = [head, "|---|" + "---:|" * (len(cells) + 1)]
    for method in METHODS:
        parts, means = [], []
        for cell in cells:
            got = [r[metric] for r in rows if (r["dataset"], r["noise"]) == cell
                   and r["method"] == method]
            parts.append(_mean_sd(got) if got else "not run")
            means.append(float(np.mean(got)) if got else float("nan"))
        lines.append(f"| {LABELS[method]} | " + " | ".join(parts)
                     + f" | **{np.nanmean(means):.3f}** |")
    return "\n".join(lines)


def seconds_table(rows: list[dict[str, Any]]) -> str:
    names = sorted({r["dataset"] for r in rows}, key=DATASETS.index)
    sizes = {d: next(r["n_train"] for r in rows if r["dataset"] == d) for d in names}
    lines = ["| method | " + " | ".join(f"{d} (N = {sizes[d]})" for d in names) + " |",
             "|---|" + "---:|" * len(names)]
    for method in METHODS:
        parts = []
        for d in names:
            got = [r["seconds"] for r in rows if r["dataset"] == d and r["method"] == method]
            parts.append(f"{np.median(got):.2f}" if got else "not run")
        lines.append(f"| {LABELS[method]} | " + " | ".join(parts) + " |")
    return "\n".join(lines)


def throughput_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| device | config (d, hidden, classes) | parameters P | d_proj used | method |"
             " train (s) | score (s) | rows/s scoring | rows/s incl. training |"
             " RSS before (MB) | peak RSS (MB) |",
             "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['device']} | {r['config']} | | | {r['method']} | failed: "
                         f"{r['error'][-120:]!r} | | | | | |")
            continue
        used = (f"{r['d_proj']:,} (projected, JL eps {r['jl_epsilon']:.2f})"
                if r["d_proj"] < r["n_params"] else f"{r['d_proj']:,} (identity)")
        gpu = f", GPU peak {r['peak_gpu_mb']:,.0f} MB" if "peak_gpu_mb" in r else ""
        lines.append(
            f"| {r['device']} | {r['config']} ({r['d']}, {r['hidden']}, {r['classes']}) |"
            f" {r['n_params']:,} | {used} | {r['method']} | {r['train_s']:.1f} |"
            f" {r['score_s']:.1f} | {r['rows_per_s_scoring']:,.0f} |"
            f" {r['rows_per_s_total']:,.0f} | {r['rss_before_mb']:,.0f} |"
            f" {r['peak_rss_mb']:,.0f}{gpu} |")
    return "\n".join(lines)


def wins(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cells where each influence variant's mean AUROC (and AP) beats KNN-Shapley's."""
    def mean(method: str, cell: tuple[str, str], metric: str) -> float:
        got = [r[metric] for r in rows if r["method"] == method
               and (r["dataset"], r["noise"]) == cell]
        return float(np.mean(got)) if got else float("nan")

    def beaten(method: str, metric: str) -> list[str]:
        return [f"{d} {n}" for d, n in _cells(rows)
                if mean(method, (d, n), metric) > mean("knn_shapley", (d, n), metric)]

    return [{"method": m, "auroc": beaten(m, "auroc"), "ap": beaten(m, "ap")}
            for m in ("influence_sgd", "influence_adam")]


def _loads(values: list[float]) -> str:
    return ", ".join(f"{a:.1f}" for a in values)


def section(report: dict[str, Any]) -> str:
    env = report["environment"]
    det, thr = report["detection"], report["throughput"]
    capped = [r for r in det if r["method"] == "tmc_shapley" and r["seconds"] >= TMC_TIME_CAP]
    return render(
        "report.md.j2", Path(__file__).resolve().parent,
        env=env, load_before=_loads(env["load_before"]), load_after=_loads(env["load_after"]),
        seeds=sorted({r["seed"] for r in det}), d_proj=D_PROJ, tmc_samples=TMC_SAMPLES,
        tmc_time_cap=TMC_TIME_CAP, tmc_max_rows=TMC_MAX_ROWS,
        cap_note=f"the cap bit in {len(capped)} runs" if capped else "never reached",
        auroc_table=detection_table(det, "auroc"), ap_table=detection_table(det, "ap"),
        seconds_table=seconds_table(det), rows_n=thr[0]["n"] if thr else None,
        throughput_table=throughput_table(thr), wins=wins(det), n_cells=len(_cells(det)),
        notes=report.get("notes"),
    )  # fmt: skip
