"""The command line of `python -m bench.loop`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench.loop import planting, runner
from bench.loop.experiment import VALIDATIONS, CellSpec
from bench.loop.tables import TABLES

DEFAULT_SEEDS = 3
DEFAULT_MAX_ROWS = 1500
DEFAULT_JOBS = 2
# --quick: a taste in a few minutes.
QUICK_TABLES = ("breast_cancer", "credit_data")
QUICK_NOISE = ("symmetric", "under_report")
QUICK_MAX_ROWS = 1000


def parse_names(value: str | None, allowed: tuple[str, ...], default: tuple[str, ...]) -> list[str]:
    if not value:
        return list(default)
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise SystemExit(f"unknown {unknown[0]!r}; one of {', '.join(allowed)}")
    return names


def grid(args: argparse.Namespace) -> list[CellSpec]:
    tables = parse_names(args.tables, TABLES, QUICK_TABLES if args.quick else TABLES)
    quick_noises = QUICK_NOISE if args.quick else planting.NOISES
    noises = parse_names(args.noise, planting.NOISES, quick_noises)
    validations = parse_names(args.validation, VALIDATIONS, VALIDATIONS)
    seeds = args.seeds or (1 if args.quick else DEFAULT_SEEDS)
    max_rows = args.max_rows or (QUICK_MAX_ROWS if args.quick else DEFAULT_MAX_ROWS)
    return [
        CellSpec(t, n, v, s, max_rows)
        for s in range(seeds)
        for t in tables
        for n in noises
        for v in validations
    ]


def parser() -> argparse.ArgumentParser:
    from bench.loop import __doc__ as about

    p = argparse.ArgumentParser(prog="python -m bench.loop", description=about,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--tables", help=f"comma-separated, of {', '.join(TABLES)} (default all)")
    p.add_argument("--noise", help=f"comma-separated, of {', '.join(planting.NOISES)}")
    p.add_argument("--validation", help=f"comma-separated, of {', '.join(VALIDATIONS)}")
    p.add_argument("--seeds", type=int, help=f"seeds 0 .. N-1 (default {DEFAULT_SEEDS})")
    p.add_argument(
        "--max-rows", type=int, help=f"subsample bigger tables to this (default {DEFAULT_MAX_ROWS})"
    )
    p.add_argument("--quick", action="store_true",
                   help="a taste: 1 seed, breast cancer and credit data, symmetric and"
                   " under-reporting, at most 1,000 rows")  # fmt: skip
    p.add_argument(
        "--jobs",
        type=int,
        default=DEFAULT_JOBS,
        help=f"worker processes, each with its own embedded PostgreSQL (default {DEFAULT_JOBS})",
    )
    p.add_argument(
        "--report",
        action="store_true",
        help="only rebuild the section from the cells already under bench/out/loop",
    )
    p.add_argument("--no-write", action="store_true", help="do not touch docs/BENCHMARKS.md")
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.worker:
        specs = [CellSpec(**s) for s in json.loads(args.worker.read_text())]
        return 1 if runner.run_serial(specs, args.home) else 0
    specs = grid(args)
    failed = 0
    if not args.report:
        started = time.perf_counter()
        print(f"{len(runner.pending(specs))} of {len(specs)} cells to run", flush=True)
        failed = runner.run_parallel(specs, args.jobs)
        print(f"done in {time.perf_counter() - started:.0f} s; {failed} failed", flush=True)
    from bench.loop.report import write

    write(specs, args, no_write=args.no_write)
    return 1 if failed else 0
