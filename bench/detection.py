"""Detection of realistic label noise on real tables: which method finds the rows.

    .venv/bin/python -m bench.detection              # the default grid: every table, noise and seed
    .venv/bin/python -m bench.detection --quick      # one seed, two tables; doc untouched
    .venv/bin/python -m bench.detection --report     # rewrite the doc from the saved JSON

Tables (`bench.detection_tables`): breast cancer, wine, digits and three real
imbalanced ones (credit_data Status, lending_club Class, CPS1988 parttime),
subsampled to at most 3,000 training rows and prepared by mendb's own `prepare`.
Noises (`bench.detection_noise`): symmetric flips, under-reporting of the smallest
class, confused pairs and flips near a clean model's boundary, in the training
labels only. Methods (`bench.detection_methods`): mendb's KNN-Shapley and Data-OOB
(logistic bags, probability score) under both utilities, gradient influence (SGD and
Adam), consensuses of them, and cleanlab's label quality as the reference.

Writes bench/out/detection.json and the section "## Detection on real tables" of
docs/BENCHMARKS.md (every other section is kept as it is).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from bench.detection_methods import CONSENSUS, consensus_values, detectors, run_detector
from bench.detection_noise import NOISES, applies, clean_cell, noisy_cell
from bench.detection_tables import REAL, TABLES, load_table
from bench.metrics import detection
from bench.render import render
from bench.report import cpu_name, replace_sections

OUT = Path(__file__).resolve().parent / "out"
TITLE = "Detection on real tables"
SKLEARN = tuple(name for name in TABLES if name not in REAL)


def cell_rows(
    table_name: str, noise: str, seed: int, only: set[str] | None = None, log: Any = print
) -> list[dict[str, Any]]:
    """Every detector (or those named in `only`) on one (table, noise, seed) cell."""
    table = load_table(table_name)
    data, noisy = noisy_cell(table, noise, seed)
    counts = np.bincount(data.train.y, minlength=data.n_classes)
    base = {
        "dataset": table_name,
        "noise": noise,
        "seed": seed,
        "n_train": len(data.train),
        "n_valid": len(data.valid),
        "n_features": data.train.x.shape[1],
        "n_noisy": int(noisy.sum()),
        "recorded_counts": counts.tolist(),
        "clean_counts": np.bincount(
            clean_cell(table, seed).train.y, minlength=data.n_classes
        ).tolist(),
    }
    values: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    rows = []
    for detector in detectors(seed):
        if only is not None and detector.name not in only:
            continue
        try:
            values[detector.name], seconds[detector.name] = run_detector(detector, data)
        except (ValueError, TypeError) as error:  # a setting this checkout lacks
            rows.append({**base, "method": detector.name, "ok": False, "error": str(error)})
            continue
        rows.append(
            {
                **base,
                "method": detector.name,
                "reference": detector.reference,
                "ok": True,
                "seconds": seconds[detector.name],
                **detection(values[detector.name], noisy),
            }
        )
    for name, parts in CONSENSUS.items():
        if all(p in values for p in parts):
            combined = consensus_values([values[p] for p in parts])
            rows.append(
                {
                    **base,
                    "method": name,
                    "reference": False,
                    "ok": True,
                    "seconds": sum(seconds[p] for p in parts),
                    **detection(combined, noisy),
                }
            )
    for row in rows:
        shown = (
            f"AUROC {row['auroc']:.3f} AP {row['ap']:.3f} {row['seconds']:.1f}s"
            if row["ok"]
            else row["error"]
        )
        log(f"{table_name:>13} {noise:>11} seed {seed} {row['method']:<24} {shown}")
    return rows


def _mean(rows: list[dict[str, Any]], metric: str) -> float:
    return float(np.mean([r[metric] for r in rows])) if rows else float("nan")


def cells(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    present = {(r["dataset"], r["noise"]) for r in rows}
    return [(t, n) for t in TABLES for n in NOISES if (t, n) in present]


def methods(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["method"] for r in rows))


def summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean AUROC and AP over seeds, by cell ("table/noise") and method."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for table, noise in cells(rows):
        here = [r for r in rows if (r["dataset"], r["noise"]) == (table, noise) and r["ok"]]
        out[f"{table}/{noise}"] = {
            m: {
                "auroc": _mean([r for r in here if r["method"] == m], "auroc"),
                "ap": _mean([r for r in here if r["method"] == m], "ap"),
                "seconds": _mean([r for r in here if r["method"] == m], "seconds"),
            }
            for m in methods(here)
        }
    return out


def metric_table(rows: list[dict[str, Any]], metric: str, tables: tuple[str, ...]) -> str:
    """Methods as rows, the cells of `tables` as columns, mean over seeds; the best
    mendb figure of each column in bold, and each method's mean over the columns."""
    table = {n: v for n, v in summary(rows).items() if n.split("/")[0] in tables}
    names = list(table)
    if not names:
        return "(not run)"
    head = "| method | " + " | ".join(n.replace("/", " ") for n in names) + " | mean |"
    lines = [head, "|---|" + "---:|" * (len(names) + 1)]
    best = {
        n: max((v[metric] for m, v in table[n].items() if m != "cleanlab"), default=0.0)
        for n in names
    }
    for method in methods(rows):
        parts, shown = [], []
        for n in names:
            got = table[n].get(method)
            if got is None:
                parts.append("-")
                continue
            figure = f"{got[metric]:.3f}"
            bold = method != "cleanlab" and got[metric] == best[n]
            parts.append(f"**{figure}**" if bold else figure)
            shown.append(got[metric])
        mean = f"{np.mean(shown):.3f}" if len(shown) == len(names) else "-"
        lines.append(f"| {method} | " + " | ".join(parts) + f" | {mean} |")
    return "\n".join(lines)


def tables_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each table's size, prepared width and smallest class share of the clean rows."""
    out = []
    for table in dict.fromkeys(r["dataset"] for r in rows):
        first = next(r for r in rows if r["dataset"] == table)
        clean = first["clean_counts"]
        out.append({"name": table, "n_train": first["n_train"],
                    "n_features": first["n_features"],
                    "smallest": 100 * min(clean) / max(1, sum(clean))})
    return out


def section(report: dict[str, Any], notes: str) -> str:
    """The section's text; the prose is bench/templates/detection.md.j2."""
    rows = report["rows"]
    return render(
        "detection.md.j2", env=report["environment"], tables=tables_summary(rows),
        seeds=sorted({r["seed"] for r in rows}),
        auroc_real=metric_table(rows, "auroc", REAL),
        auroc_sklearn=metric_table(rows, "auroc", SKLEARN),
        ap_real=metric_table(rows, "ap", REAL), ap_sklearn=metric_table(rows, "ap", SKLEARN),
        notes=notes,
    )  # fmt: skip


NOTES = Path(__file__).resolve().parent / "detection_notes.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.detection",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--noises", default=",".join(NOISES))
    parser.add_argument(
        "--json", default=None, help="where to save the rows (default bench/out/detection.json)"
    )
    parser.add_argument(
        "--report",
        default=None,
        metavar="JSON,...",
        help="only rewrite the doc section from saved JSON files (merged)",
    )
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--only", default=None, help="comma-separated detector names")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    path = (
        Path(args.json)
        if args.json
        else OUT / ("detection-quick.json" if args.quick else "detection.json")
    )
    if args.report:
        parts = [json.loads(Path(p).read_text()) for p in args.report.split(",")]
        merged = [r for part in parts for r in part["rows"]]
        report = {
            "rows": merged,
            "environment": parts[0]["environment"],
            "summary": summary(merged),
        }
        if len(parts) > 1:
            path.write_text(json.dumps(report, indent=1))
    else:
        load_before = os.getloadavg()[0]
        seeds = range(args.seeds or (1 if args.quick else 3))
        tables = ["breast_cancer", "credit_data"] if args.quick else args.tables.split(",")
        only = set(args.only.split(",")) if args.only else None
        rows: list[dict[str, Any]] = []
        for name in tables:
            table = load_table(name)
            for noise in args.noises.split(","):
                if applies(noise, table):
                    for seed in seeds:
                        rows += cell_rows(name, noise, seed, only)
        report = {
            "rows": rows,
            "environment": {
                "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "cpu": f"{os.cpu_count()} x {cpu_name()}",
                "load_before": load_before,
                "torch_threads": 1,
            },
        }
        report["summary"] = summary(rows)
        OUT.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1))
    notes = NOTES.read_text() if NOTES.exists() else ""
    text = section(report, notes)
    if not (args.quick or args.no_doc):
        replace_sections({TITLE: text})
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
