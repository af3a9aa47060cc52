"""The influence benchmark's measurements: detection rows per (table, noise, seed,
method), throughput rows from one fresh process per (configuration, method, device),
and the machine they ran on."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.influence.data import (
    CONFIGS,
    D_PROJ,
    METHODS,
    NOISES,
    TMC_MAX_ROWS,
    Config,
    method_params,
    synthetic,
)
from bench.report import cpu_name

ROOT = Path(__file__).resolve().parents[2]


def detection_rows(datasets: tuple[str, ...], seeds: list[int],
                   log: Any = print) -> list[dict[str, Any]]:
    from bench.data import load, make_cell
    from bench.metrics import detection
    from mendb.valuation.methods import make_valuation

    rows: list[dict[str, Any]] = []
    for name in datasets:
        table = load(name)
        for noise in NOISES:
            for seed in seeds:
                data, noisy = make_cell(table, noise, seed)
                for method in METHODS:
                    if method == "tmc_shapley" and len(data.train) > TMC_MAX_ROWS:
                        continue
                    params = method_params(method, seed)
                    start = time.perf_counter()
                    result = make_valuation(method, **params).fit(data).result
                    seconds = time.perf_counter() - start
                    row = {"dataset": name, "noise": noise, "seed": seed, "method": method,
                           "n_train": len(data.train), "n_valid": len(data.valid),
                           "n_features": data.train.x.shape[1], "n_noisy": int(noisy.sum()),
                           **detection(result.values, noisy), "seconds": seconds,
                           "params": params, "diagnostics": _small(result.diagnostics)}
                    rows.append(row)
                    log(f"{name:>13} {noise} seed {seed} {method:<14} AUROC {row['auroc']:.3f}"
                        f" AP {row['ap']:.3f} {seconds:6.2f}s")
    return rows


def _small(diagnostics: dict[str, Any]) -> dict[str, Any]:
    """The JSON-friendly scalars of a result's diagnostics."""
    return {k: v for k, v in diagnostics.items()
            if isinstance(v, (int, float, str, bool)) or v is None}


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One measured fit, in this (fresh) process."""
    import psutil
    import torch

    from mendb.valuation.methods import make_valuation

    torch.set_num_threads(spec["threads"])
    config = Config(**spec["config"])
    data = synthetic(config, spec["n"])
    method = make_valuation(spec["method"], hidden=config.hidden, d_proj=D_PROJ, seed=0,
                            device=spec["device"])
    train_done: list[float] = []

    def progress(fraction: float) -> None:  # training covers [0, 0.2] of the bar
        if fraction <= 0.2 + 1e-12:
            train_done[:] = [time.perf_counter()]

    rss_before = psutil.Process().memory_info().rss
    if spec["device"] == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = method.fit(data, progress=progress).result
    if spec["device"] == "cuda":
        torch.cuda.synchronize()
    end = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    n = spec["n"]
    train_s = train_done[0] - start if train_done else float("nan")
    out = {
        "config": config.name, "d": config.d, "hidden": config.hidden,
        "classes": config.classes, "method": spec["method"], "device": spec["device"],
        "n": n, "n_params": result.diagnostics["n_params"],
        "d_proj": result.diagnostics["d_proj"], "jl_epsilon": result.diagnostics["jl_epsilon"],
        "train_s": train_s, "score_s": end - start - train_s, "total_s": end - start,
        "rows_per_s_scoring": n / (end - start - train_s),
        "rows_per_s_total": n / (end - start),
        "rss_before_mb": rss_before / 2**20, "peak_rss_mb": peak / 2**20,
        "torch_threads": torch.get_num_threads(), "finite": bool(np.isfinite(result.values).all()),
    }
    if spec["device"] == "cuda":
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def throughput_rows(n: int, devices: list[str], threads: int, log: Any = print
                    ) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for device in devices:
        for config in CONFIGS:
            for method in ("influence_sgd", "influence_adam"):
                spec = {"config": config.__dict__, "n": n, "method": method, "device": device,
                        "threads": threads}
                done = subprocess.run(
                    [sys.executable, "-m", "bench.influence", "--child", json.dumps(spec)],
                    cwd=ROOT, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    rows.append({"config": config.name, "method": method, "device": device,
                                 "n": n, "error": done.stderr.strip()[-400:]})
                    log(f"{config.name} {method} {device}: failed\n{done.stderr[-400:]}")
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                rows.append(row)
                log(f"{config.name:>9} {method:<14} {device} P={row['n_params']:,}"
                    f" k={row['d_proj']:,} train {row['train_s']:.1f}s score"
                    f" {row['score_s']:.1f}s -> {row['rows_per_s_scoring']:,.0f} rows/s"
                    f" ({row['rows_per_s_total']:,.0f} with training), peak RSS"
                    f" {row['peak_rss_mb']:,.0f} MB")
    return rows


def environment(load_before: tuple[float, ...]) -> dict[str, Any]:
    import torch

    from mendb.valuation.influence.projection import matmul_dtype

    gpu = torch.cuda.is_available()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{os.cpu_count()} x {cpu_name()}",
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "load_before": load_before, "load_after": os.getloadavg(),
        "python": platform.python_version(), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "matmul_dtype": str(matmul_dtype(torch.device("cpu"))).removeprefix("torch."),
        "gpu": torch.cuda.get_device_name(0) if gpu else None,
        "gpu_note": (f"GPU: {torch.cuda.get_device_name(0)}; the `cuda` lines above."
                     if gpu else "GPU: no GPU was lent for this run (torch sees no CUDA"
                     " device), so there are no GPU figures; on a machine with one, the same"
                     " command adds `cuda` lines to the throughput table."),
    }
