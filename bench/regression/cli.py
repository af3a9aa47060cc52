"""The command line of `python -m bench.regression`."""

from __future__ import annotations

import argparse
import sys
import time

from bench.loop.cli import parse_names
from bench.regression import anchors, planting
from bench.regression.detection import DetectionSpec
from bench.regression.loop import WHERE, LoopSpec
from bench.regression.tables import TABLES

DEFAULT_SEEDS = 3
DETECTION_ROWS = 5000  # at most 3,000 training rows: a Monte Carlo anchor's budget means something
LOOP_ROWS = 2000
TMC_SECONDS = 60.0
# --quick: the small tables, 2 seeds, a short Monte Carlo budget.
QUICK_TABLES = ("diabetes", "wages1")
QUICK_SEEDS = 2
QUICK_ROWS = 1000
QUICK_TMC_SECONDS = 10.0
PARTS = ("detection", "loop")


def grids(
    args: argparse.Namespace, every_part: bool = False
) -> tuple[list[DetectionSpec], list[LoopSpec]]:
    """The cells to run; with `every_part` those of both parts whatever `--only`
    says (the section is rebuilt from every stored cell, so a loop-only run keeps
    the detection tables)."""
    tables = parse_names(args.tables, TABLES, QUICK_TABLES if args.quick else TABLES)
    noises = parse_names(args.noise, planting.NOISES, planting.NOISES)
    seeds = args.seeds or (QUICK_SEEDS if args.quick else DEFAULT_SEEDS)
    detect_rows = args.max_rows or (QUICK_ROWS if args.quick else DETECTION_ROWS)
    loop_rows = args.max_rows or (QUICK_ROWS if args.quick else LOOP_ROWS)
    parts = PARTS if every_part else parse_names(args.only, PARTS, PARTS)
    cells = [(t, n, s) for s in range(seeds) for t in tables for n in noises]
    detection = [DetectionSpec(t, n, s, detect_rows) for t, n, s in cells]
    wheres = parse_names(args.where, WHERE, WHERE)
    loops = [LoopSpec(t, n, s, loop_rows, w) for w in wheres for t, n, s in cells]
    return (detection if "detection" in parts else [], loops if "loop" in parts else [])


def parser() -> argparse.ArgumentParser:
    from bench.regression import __doc__ as about

    p = argparse.ArgumentParser(prog="python -m bench.regression", description=about,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--tables", help=f"comma-separated, of {', '.join(TABLES)} (default all)")
    p.add_argument("--noise", help=f"comma-separated, of {', '.join(planting.NOISES)}")
    p.add_argument("--seeds", type=int, help=f"seeds 0 .. N-1 (default {DEFAULT_SEEDS})")
    p.add_argument("--max-rows", type=int,
                   help=f"subsample bigger tables to this (default {DETECTION_ROWS} for"
                   f" detection, {LOOP_ROWS} for the loop)")  # fmt: skip
    p.add_argument("--anchors", help=f"comma-separated, of {', '.join(anchors.ANCHORS)}")
    p.add_argument(
        "--tmc-seconds",
        type=float,
        help=f"pyDVL TMC's time budget per cell (default {TMC_SECONDS:.0f})",
    )
    p.add_argument("--only", help="detection or loop (default both)")
    p.add_argument("--where", help="the loop's noise in the training rows ('train') or the"
                   " training and validation rows ('table'); default both")  # fmt: skip
    p.add_argument("--quick", action="store_true",
                   help=f"a taste: {QUICK_SEEDS} seeds, {' and '.join(QUICK_TABLES)}, at most"
                   f" {QUICK_ROWS:,} rows, TMC {QUICK_TMC_SECONDS:.0f} s")  # fmt: skip
    p.add_argument("--report", action="store_true",
                   help="only rebuild the section from the cells already under"
                   " bench/out/regression")  # fmt: skip
    p.add_argument("--no-write", action="store_true", help="do not touch docs/BENCHMARKS.md")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    detection, loops = grids(args)
    named = tuple(parse_names(args.anchors, anchors.ANCHORS, anchors.ANCHORS))
    tmc = args.tmc_seconds or (QUICK_TMC_SECONDS if args.quick else TMC_SECONDS)
    failed = 0
    if not args.report:
        from bench.regression import runner

        started = time.perf_counter()
        print(f"{len(detection)} detection and {len(loops)} loop cells", flush=True)
        failed += runner.run_detection(detection, named, tmc)
        failed += runner.run_loops(loops)
        print(f"done in {time.perf_counter() - started:.0f} s; {failed} failed", flush=True)
    from bench.regression.report import write

    write(*grids(args, every_part=True), args, no_write=args.no_write)
    return 1 if failed else 0
