"""The command line of `python -m bench.influence`: run the grid (or one measured
child fit), save bench/out/influence.json, write the section."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import bench.influence
from bench.influence.data import DATASETS
from bench.influence.experiment import child, detection_rows, environment, throughput_rows
from bench.influence.report import TITLE, section
from bench.report import replace_sections

OUT = Path(__file__).resolve().parents[1] / "out"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.influence",
                                     description=bench.influence.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="one seed, breast cancer and wine, N = 2,000; leaves the doc alone")
    parser.add_argument("--seeds", type=int, help="split seeds 0 .. S-1 (default 3, quick 1)")
    parser.add_argument("--rows", type=int, help="N for throughput (default 20,000)")
    parser.add_argument("--only", choices=("detection", "throughput"))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: see the notes on a loaded machine)")
    parser.add_argument("--no-doc", action="store_true", help="do not touch BENCHMARKS.md")
    parser.add_argument("--report", action="store_true",
                        help="only rewrite the section from the saved JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def measure(args: argparse.Namespace, path: Path, load_before: tuple[float, ...]
            ) -> dict[str, Any]:
    """Run what `args` asks for and merge it into the report saved at `path`."""
    import torch

    seeds = list(range(args.seeds or (1 if args.quick else 3)))
    datasets = ("breast_cancer", "wine") if args.quick else DATASETS
    n = args.rows or (2_000 if args.quick else 20_000)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    fresh: dict[str, Any] = {}
    if args.only != "throughput":
        fresh["detection"] = detection_rows(datasets, seeds)
    if args.only != "detection":
        fresh["throughput"] = throughput_rows(n, devices, args.threads)
    # read what is there only now: a detection and a throughput run may overlap
    previous = json.loads(path.read_text()) if path.exists() else {}
    report = {"detection": [], "throughput": [], "notes": "", **previous, **fresh}
    report["environment"] = environment(load_before)
    if previous.get("environment") and args.only:
        report["environment"]["load_before"] = tuple(
            max(a, b) for a, b in zip(previous["environment"]["load_before"], load_before,
                                      strict=True))
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    import torch

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    path = OUT / ("influence-quick.json" if args.quick else "influence.json")
    report = json.loads(path.read_text()) if args.report else measure(args, path, load_before)
    OUT.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))
    if not (args.no_doc or args.quick) and report["detection"] and report["throughput"]:
        replace_sections({TITLE: section(report)})
    print(section(report))
    return 0
