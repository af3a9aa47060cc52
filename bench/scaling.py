"""KNN-Shapley and Data-OOB at growing N against pyDVL, in the same run.

Synthetic data: d = 64 standard normal features, label = sign of the sum of the
first four features plus unit noise, 10 % of training labels flipped; 500
validation rows. Each (library, N) runs in a fresh process with 2 workers
(pyDVL: `joblib.parallel_config(n_jobs=2)` / `BaggingClassifier(n_jobs=2)`;
mendb: two threads for KNN-Shapley, `n_jobs=2` for Data-OOB). KNN-Shapley values
are compared element by element; Data-OOB draws different bags in each library,
so its values are compared by detection AUROC of the flipped labels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bench.metrics import detection
from bench.render import render
from bench.runner import OUT, run_job

K = 10
D = 64
N_VALID = 500


def make(n: int, seed: int = 0) -> tuple[Path, np.ndarray]:
    path = OUT / "cells" / f"scaling-{n}.npz"
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n + 2 * N_VALID, D))
    y = (x[:, :4].sum(axis=1) + rng.normal(size=len(x)) > 0).astype(np.int64)
    noisy = np.zeros(n, dtype=bool)
    noisy[rng.choice(n, n // 10, replace=False)] = True
    y[:n][noisy] = 1 - y[:n][noisy]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=x[:n], y_train=y[:n], x_valid=x[n : n + N_VALID],
             y_valid=y[n : n + N_VALID], x_test=x[n + N_VALID :], y_test=y[n + N_VALID :],
             noisy=noisy, n_classes=np.int64(2))
    return path, noisy


def run(sizes: list[int], oob_sizes: list[int], trees: int, log: Any = print,
        resume: bool = False) -> list[dict[str, Any]]:
    rows = []
    for n in sorted(set(sizes) | set(oob_sizes)):
        cell, noisy = make(n)
        methods = [("knn_shapley", {"k": K})] if n in sizes else []
        if n in oob_sizes:
            methods.append(("data_oob", {"n_estimators": trees, "seed": 0}))
        for method, params in methods:
            mendb_params = {**params, "n_jobs": 2} if method == "data_oob" else params
            ours = run_job("mendb", method, mendb_params, cell, f"scale-{n}-mendb-{method}",
                           3600, resume)
            ref = run_job("pydvl", method, {**params, "n_jobs": 2}, cell,
                          f"scale-{n}-pydvl-{method}", 3600, resume)
            row: dict[str, Any] = {"n": n, "method": method, "params": params,
                                   "mendb_ok": ours.ok, "pydvl_ok": ref.ok,
                                   "error": ours.error or ref.error}
            if ours.ok and ref.ok:
                assert ours.values is not None and ref.values is not None
                row.update(
                    mendb_s=ours.seconds, pydvl_s=ref.seconds, ratio=ref.seconds / ours.seconds,
                    mendb_mb=ours.peak_mb, pydvl_mb=ref.peak_mb,
                    max_abs_diff=float(np.nanmax(np.abs(ours.values - ref.values))),
                    max_value=float(np.nanmax(np.abs(ref.values))),
                    mendb_auroc=detection(ours.values, noisy)["auroc"],
                    pydvl_auroc=detection(ref.values, noisy)["auroc"],
                )
            rows.append(row)
            log(json.dumps({k: v for k, v in row.items() if k != "params"}))
        cell.unlink(missing_ok=True)
    (OUT / "scaling.json").write_text(json.dumps(rows, indent=1))
    return rows


def _line(r: dict[str, Any]) -> str:
    if "ratio" not in r:
        return f"| {r['method']} | {r['n']:,} | failed: {r['error']} | | | | | | |"
    diff = f"{r['max_abs_diff']:.1e}" if r["method"] == "knn_shapley" else "n/a"
    return (f"| {r['method']} | {r['n']:,} | {r['mendb_s']:.2f} | {r['pydvl_s']:.2f} |"
            f" **{r['ratio']:.1f}x** | {r['mendb_mb']:.0f} | {r['pydvl_mb']:.0f} | {diff} |"
            f" {r['mendb_auroc']:.3f} / {r['pydvl_auroc']:.3f} |")


def markdown(rows: list[dict[str, Any]], trees: int) -> str:
    """The section's text; the prose is bench/templates/scaling.md.j2."""
    target = next((r for r in rows if r["method"] == "knn_shapley" and r["n"] == 50_000
                   and "ratio" in r), None)
    if target is not None:
        same = target["max_abs_diff"] <= 1e-9 * max(target["max_value"], 1e-300) + 1e-15
        target = {**target, "met": target["ratio"] >= 15 and same}
    return render("scaling.md.j2", d=D, n_valid=N_VALID, k=K, trees=trees,
                  lines=[_line(r) for r in rows], target=target)
