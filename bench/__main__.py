"""`python -m bench`: run the benchmarks and write their sections of docs/BENCHMARKS.md.

Parts: quality (detection on real datasets), scaling (KNN-Shapley and Data-OOB
against pyDVL at growing N), tmc (TMC to R-hat <= 1.05 against OpenDataVal),
million (a 1,000,000-row table valued end to end through PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from bench import million, quality, report, scaling, tmc
from bench.data import LOADERS, NOISES
from bench.envs import ENVS, ensure
from bench.runner import OUT

PARTS = ("quality", "scaling", "tmc", "million")
TITLES = {
    "quality": "Detection quality",
    "scaling": "KNN-Shapley and Data-OOB scaling",
    "tmc": "TMC convergence",
    "million": "One million rows end to end",
}


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="a fast subset: 2 datasets, 2 noises, short budgets, smaller N")
    p.add_argument("--only", default=",".join(PARTS),
                   help=f"comma-separated parts to run, of {', '.join(PARTS)}")
    p.add_argument("--datasets", help=f"quality datasets, of {', '.join(LOADERS)}")
    p.add_argument("--noises", help=f"quality noise settings, of {', '.join(NOISES)}")
    p.add_argument("--mc-seconds", type=float, help="time budget of each Monte Carlo method")
    p.add_argument("--million-rows", type=int, help="rows of the end-to-end table")
    p.add_argument("--sizes", help="scaling: KNN-Shapley N, comma-separated")
    p.add_argument("--oob-sizes", help="scaling: Data-OOB N, comma-separated")
    p.add_argument("--trees", type=int, help="scaling: Data-OOB trees")
    p.add_argument("--no-write", action="store_true", help="do not touch docs/BENCHMARKS.md")
    p.add_argument("--resume", action="store_true",
                   help="reuse finished jobs of an earlier run with the same settings"
                   " (quality, scaling)")
    args = p.parse_args(argv)
    args.parts = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        p.error(f"unknown part {unknown[0]!r}; choose from {', '.join(PARTS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    OUT.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    print("reference environments (created on first use) ...", flush=True)
    available = {name: ensure(env) for name, env in ENVS.items()}
    for name, (ok, why) in available.items():
        print(f"  {name}: {'ok' if ok else 'unavailable'} ({why})", flush=True)
    bodies: dict[str, str] = {}
    if "quality" in args.parts:
        budget = quality.QUICK if args.quick else quality.FULL
        if args.mc_seconds:
            budget = quality.Budget(args.mc_seconds, budget.trees, budget.loo_max_rows,
                                    budget.permutation_max_rows)
        datasets = _list(args.datasets, ["breast_cancer", "wine"] if args.quick
                         else list(LOADERS))
        noises = _list(args.noises, ["flip10", "features10"] if args.quick else list(NOISES))
        rows = quality.run(datasets, noises, budget, available, resume=args.resume)
        bodies["quality"] = quality.markdown(rows, budget)
    if "scaling" in args.parts:
        sizes = _ints(args.sizes, [10_000, 50_000] if args.quick else [10_000, 50_000, 200_000])
        oob = _ints(args.oob_sizes, [10_000] if args.quick else [10_000, 50_000, 200_000])
        trees = args.trees or (10 if args.quick else 25)
        rows = scaling.run(sizes, oob, trees, resume=args.resume)
        bodies["scaling"] = scaling.markdown(rows, trees)
    if "tmc" in args.parts:
        result = tmc.run("wine", "flip10", 120 if args.quick else 300,
                         60 if args.quick else 300, available)
        bodies["tmc"] = tmc.markdown(result)
    if "million" in args.parts:
        rows_n = args.million_rows or (100_000 if args.quick else 1_000_000)
        bodies["million"] = million.markdown(million.run(rows_n))
    env = report.environment(load_before, available)
    env["seconds"] = round(time.perf_counter() - started)
    (OUT / "environment.json").write_text(json.dumps(env, indent=1, default=str))
    sections = {TITLES[k]: f"{report.stamp(env)}\n\n{v}" for k, v in bodies.items()}
    if not args.no_write:
        sections[report.HOW_TO_RUN] = report.how_to_run(env)
        report.replace_sections(sections)
        print(f"wrote {report.DOC}", flush=True)
    for title, body in sections.items():
        print(f"\n## {title}\n\n{body}")
    print(f"\nbench took {env['seconds']} s", flush=True)
    return 0


def _ints(given: str | None, default: list[int]) -> list[int]:
    if given is None:
        return default
    return [int(s.replace("_", "")) for s in given.split(",") if s.strip()]


def _list(given: str | None, default: list[str]) -> list[str]:
    return [s.strip() for s in given.split(",")] if given else default


if __name__ == "__main__":
    sys.exit(main())
