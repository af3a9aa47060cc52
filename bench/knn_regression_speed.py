"""Time the exact KNN-Shapley regression kernel against the classification kernel on
the same synthetic rows, and print one JSON line.

    python -m bench.knn_regression_speed --rows 200000 --valid 500 --features 64

The target (issue 20): at 200,000 training rows the regression kernel takes at most
1.5x the classification kernel's time. Both kernels see the same features and the
same validation rows; the label is the target's sign, so the two runs differ only
in the recursion. Each kernel runs `--repeats` times, alternating, and the fastest
run of each is reported (the machine may be shared; the ratio is of the same run).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

import numpy as np

from mendb.valuation.methods.knn_regression import knn_shapley_regression
from mendb.valuation.methods.knn_shapley import knn_shapley


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="training rows")
    parser.add_argument("--valid", type=int, default=500, help="validation rows")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    x = rng.normal(size=(args.rows, args.features))
    xv = rng.normal(size=(args.valid, args.features))
    w = rng.normal(size=args.features)
    y = x @ w + rng.normal(size=args.rows)
    yv = xv @ w + rng.normal(size=args.valid)
    labels, labels_v = (y > 0).astype(np.int64), (yv > 0).astype(np.int64)

    times: dict[str, list[float]] = {"classification": [], "regression": []}
    for _ in range(args.repeats):
        times["classification"].append(_timed(lambda: knn_shapley(x, labels, xv, labels_v, args.k)))
        times["regression"].append(_timed(lambda: knn_shapley_regression(x, y, xv, yv, args.k)))
    best = {name: min(runs) for name, runs in times.items()}
    record: dict[str, object] = {
        "bench": "knn_regression_speed",
        "rows": args.rows,
        "valid": args.valid,
        "features": args.features,
        "k": args.k,
        "seed": args.seed,
        "repeats": args.repeats,
        "cores": len(os.sched_getaffinity(0)),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "classification_s": round(best["classification"], 3),
        "regression_s": round(best["regression"], 3),
        "ratio": round(best["regression"] / best["classification"], 3),
        "target_ratio": 1.5,
    }
    print(json.dumps(record))
    return record


if __name__ == "__main__":
    main()
