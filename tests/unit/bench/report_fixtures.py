"""Small fixed results for every section the benchmarks write to docs/BENCHMARKS.md.

`tests/unit/bench/expected/*.md` holds what the reports rendered from these results
before their prose moved to templates; `test_bench_reports.py` checks they still do,
byte for byte. The values are made up: only their shape and branches matter.
"""

from __future__ import annotations

from typing import Any

INFLUENCE_DATASETS = ("breast_cancer", "digits", "wine")
INFLUENCE_METHODS = ("influence_sgd", "influence_adam", "knn_shapley", "data_oob", "tmc_shapley")


def _influence_detection(seeds: int) -> list[dict[str, Any]]:
    rows = []
    sizes = {"breast_cancer": 341, "digits": 1078, "wine": 106}
    for i, dataset in enumerate(INFLUENCE_DATASETS):
        for j, noise in enumerate(("flip10", "flip20")):
            for seed in range(seeds):
                for k, method in enumerate(INFLUENCE_METHODS):
                    if method == "tmc_shapley" and dataset == "digits":
                        continue
                    base = 0.6 + 0.05 * k + 0.03 * i - 0.02 * j + 0.011 * seed
                    rows.append({
                        "dataset": dataset, "noise": noise, "seed": seed, "method": method,
                        "n_train": sizes[dataset], "auroc": round(base, 4),
                        "ap": round(base - 0.3 + 0.007 * (k % 2), 4),
                        "seconds": 120.0 if method == "tmc_shapley" and seed == 1
                        else 0.5 + k + seed,
                    })
    return rows


def _influence_throughput(gpu: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for config, d, hidden, params in (("small", 32, 64, 2242), ("projected", 64, 128, 8578)):
        for method in ("influence_sgd", "influence_adam"):
            rows.append({
                "config": config, "d": d, "hidden": hidden, "classes": 2, "method": method,
                "device": "cpu", "n": 20000, "n_params": params,
                "d_proj": min(params, 8192), "jl_epsilon": 0.123,
                "train_s": 12.34, "score_s": 5.67, "rows_per_s_scoring": 3527.3,
                "rows_per_s_total": 1111.6, "rss_before_mb": 512.4, "peak_rss_mb": 1234.5,
            })
    if gpu:
        rows.append({**rows[0], "device": "cuda", "peak_gpu_mb": 2048.7})
    rows.append({"config": "projected", "method": "influence_adam", "device": "cuda",
                 "n": 20000, "error": "Traceback ...\nRuntimeError: CUDA out of memory"})
    return rows


def influence_report(seeds: int = 3, gpu: bool = False, notes: str = "") -> dict[str, Any]:
    return {
        "detection": _influence_detection(seeds),
        "throughput": _influence_throughput(gpu),
        "notes": notes,
        "environment": {
            "date": "2026-11-29 10:00 UTC", "cpu": "2 x Test CPU", "memory_gb": 24,
            "torch": "2.13.0+cpu", "torch_threads": 1, "matmul_dtype": "bfloat16",
            "load_before": [11.72, 12.1, 10.5], "load_after": [8.6, 10.33, 10.5],
            "gpu_note": "GPU: none in this fixture.",
        },
    }


def detection_report() -> dict[str, Any]:
    rows = []
    tables = {"credit_data": [1200, 500], "breast_cancer": [200, 141]}
    for t, (table, clean) in enumerate(tables.items()):
        for n, noise in enumerate(("symmetric10", "under40")):
            for seed in range(2):
                for m, method in enumerate(("knn_shapley", "data_oob", "cleanlab", "consensus")):
                    common = {"dataset": table, "noise": noise, "seed": seed, "n_train": 1700,
                              "n_features": 23 - 5 * t, "clean_counts": clean, "method": method}
                    if method == "data_oob" and table == "breast_cancer" and noise == "under40":
                        rows.append({**common, "ok": False, "error": "not here"})
                        continue
                    value = 0.7 + 0.04 * m - 0.03 * n + 0.01 * seed + 0.02 * t
                    rows.append({**common, "ok": True, "auroc": value, "ap": value - 0.25,
                                 "seconds": 1.0 + m})
    return {"rows": rows, "environment": {"date": "2026-12-01 12:00 UTC", "cpu": "2 x Test CPU",
                                          "load_before": 3.25}}


READ_PATH_RESULT: dict[str, Any] = {
    "rows": 200000, "features": 32, "repeats": 5,
    "best_s": {"mendb": 0.512, "pandas": 2.101, "bulk_copy": 0.335, "mendb_text_key": 0.7},
    "median_s": {"mendb": 0.6, "pandas": 2.5, "bulk_copy": 0.4, "mendb_text_key": 0.81},
    "pandas_over_mendb": 4.1, "pandas_over_mendb_median": 4.17, "mendb_over_bulk_copy": 1.53,
}
READ_PATH_LOAD = ((1.1, 1.25, 0.9), (1.3, 1.2, 1.0))

CLI_START_RESULT: dict[str, Any] = {
    "repeats": 3,
    "best_s": {"--help": 0.11, "datasets --json": 0.38},
    "median_s": {"--help": 0.12, "datasets --json": 0.52},
}


def quality_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for d, dataset in enumerate(("breast_cancer", "wine")):
        for n, noise in enumerate(("flip10", "features10")):
            base = {"dataset": dataset, "noise": noise, "n_train": 341 - 200 * d,
                    "n_valid": 113 - 70 * d}
            for lib, method, auroc, evals in (
                ("mendb", "knn_shapley", 0.91, 341), ("mendb", "tmc_shapley", 0.8 + 0.2 * n, 12000),
                ("pydvl", "knn_shapley", 0.91, None), ("cleanlab", "label_quality", 0.95 - d, 5),
            ):
                rows.append({**base, "lib": lib, "method": method, "ok": True, "auroc": auroc,
                             "ap": auroc - 0.3, "p_at_k": auroc - 0.2, "seconds": 1.234,
                             "peak_mb": 55.6, "evaluations": evals})
            rows.append({**base, "lib": "odv", "method": "loo", "ok": False,
                         "error": "not run: N + 1 = 342 full fits"})
    rows.append({"dataset": "digits", "noise": "flip10", "n_train": 1078, "n_valid": 359,
                 "lib": "odv", "method": "loo", "ok": False, "error": "failed"})
    return rows


def scaling_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for n in (10_000, 50_000):
        rows.append({"method": "knn_shapley", "n": n, "mendb_s": 0.123, "pydvl_s": 4.56,
                     "ratio": 37.07, "mendb_mb": 45.4, "pydvl_mb": 300.6,
                     "max_abs_diff": 1.2e-17, "max_value": 3.4e-3, "mendb_auroc": 0.912,
                     "pydvl_auroc": 0.912})
    rows.append({"method": "data_oob", "n": 10_000, "mendb_s": 2.0, "pydvl_s": 3.0, "ratio": 1.5,
                 "mendb_mb": 100.0, "pydvl_mb": 120.0, "max_abs_diff": 0.5, "max_value": 1.0,
                 "mendb_auroc": 0.81, "pydvl_auroc": 0.8})
    rows.append({"method": "data_oob", "n": 200_000, "error": "timed out"})
    return rows


def tmc_result(reached: bool = True) -> dict[str, Any]:
    return {
        "dataset": "wine", "noise": "flip10", "n_train": 106, "max_seconds": 300.0,
        "odv_seconds": 300.0,
        "mendb": {"ok": True, "samples": 1234, "evaluations": 56789, "rhat": 1.0432,
                  "reached_at": 23456, "seconds": 12.34, "auroc": 0.8765},
        "odv": {"ok": True, "samples": 1500, "evaluations": 98765, "rhat": None,
                "reached_at": 90000 if reached else None, "seconds": 300.1, "auroc": 0.85},
    }


def million_result() -> dict[str, Any]:
    runs = [{"method": m, "read_s": 3.21, "value_s": 45.6, "write_s": 7.8, "total_s": 56.61,
             "scores_written": 999000, "auroc": 0.9123} for m in ("knn_shapley", "data_oob")]
    return {"rows": 1_000_000, "setup": {"table_mb": 312.4, "copy_s": 12.3, "index_s": 4.5},
            "value": {"runs": runs, "peak_mb": 2345.6, "baseline_mb": 234.5,
                      "server_peak_mb": 1456.7}}


BENCH_ENVIRONMENT: dict[str, Any] = {
    "date": "2026-12-02 08:00 UTC", "cpu": "2 x Test CPU", "memory_gb": 24,
    "load_before": (1.04, 2.0, 3.0), "load_after": (4.0, 5.0, 6.06), "python": "3.11.9",
    "mendb_env": {"numpy": "2.1.0", "torch": "2.13.0"},
    "blas_mendb": "[[\"openblas\", \"Haswell\", 2]]",
    "refs": {"pydvl": [True, "ready"], "odv": [False, "not built"]},
    "blas_refs": {"pydvl": [["openblas", "Haswell", 2]]},
    "openblas_env_dropped": [],
}
