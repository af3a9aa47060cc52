"""The loop section of docs/BENCHMARKS.md, from the cells' JSON files: the numbers
are computed by `stats`, laid out here, and the prose is `report.md.j2`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bench.loop import stats
from bench.loop.baselines import BASELINES
from bench.loop.cli import DEFAULT_JOBS
from bench.loop.downstream import METRICS, MODELS
from bench.loop.experiment import METHODS, VALIDATIONS, CellSpec
from bench.loop.planting import NOISES, RATES
from bench.loop.runner import cell_path
from bench.loop.tables import TABLES
from bench.report import DOC, replace_sections

TITLE = "The self-improving loop"
TEMPLATE = "report.md.j2"
CLASS_CONDITIONAL = ("under_report", "pairwise")
TARGETS = {"precision": 0.9, "trusted_symmetric": 0.9, "trusted_class": 0.8, "noisy_class": 0.5}
NAMES = {"mendb": "loop", "cleanlab": "cleanlab", "random": "random",
         "activeclean": "ActiveClean"}  # fmt: skip
Cell = dict[str, Any]


def load_cells(specs: list[CellSpec]) -> list[Cell]:
    return [json.loads(cell_path(s).read_text()) for s in specs if cell_path(s).exists()]


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.0f} %"


def _interval(pair: tuple[float, float]) -> str:
    low, high = pair
    return "" if math.isnan(low) else f" [{_pct(low)}, {_pct(high)}]"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _by(cells: list[Cell], **spec: str) -> list[Cell]:
    return [c for c in cells if all(c["spec"][k] == v for k, v in spec.items())]


def _gap_rows(cells: list[Cell], method: str, model: str, metric: str) -> np.ndarray:
    """(final, clean, noisy) per seed."""
    return np.array(
        [[c["scores"][m][model][metric] for m in (method, "clean", "noisy")] for c in cells],
        dtype=np.float64,
    )


def recovered(
    groups: list[list[Cell]], method: str, model: str, metric: str
) -> tuple[float, tuple[float, float]]:
    """The mean over groups (tables) of the recovered share, with its interval."""
    higher = METRICS[metric]
    arrays = [_gap_rows(g, method, model, metric) for g in groups if g]

    def statistic(drawn: list[np.ndarray]) -> float:
        return stats.mean_of_shares(drawn, higher)

    return statistic(arrays), stats.bootstrap_interval(arrays, statistic)


def _share(groups: list[list[Cell]], method: str, model: str, metric: str, ci: bool) -> str:
    value, interval = recovered(groups, method, model, metric)
    return _pct(value) + (_interval(interval) if ci and not math.isnan(value) else "")


def verdict(cells: list[Cell], method: str = "mendb") -> tuple[bool, list[str]]:
    """Never worse: no model's balanced accuracy or log-loss is worse than the
    noisy rows', by the interval over seeds; returns it and what was worse."""
    worse = []
    for model in MODELS:
        for metric in ("balanced_accuracy", "log_loss"):
            final = np.array([c["scores"][method][model][metric] for c in cells])
            noisy = np.array([c["scores"]["noisy"][model][metric] for c in cells])
            v = stats.never_worse(final, noisy, METRICS[metric])
            if v.worse:
                worse.append(f"{model} {metric.replace('_', ' ')} {v.mean:+.3f}")
    return not worse, worse


def _precision(cells: list[Cell], method: str = "mendb") -> tuple[float, int, int]:
    right = sum(c["relabels"][method]["right"] for c in cells)
    wrong = sum(c["relabels"][method]["wrong"] for c in cells)
    return stats.precision(right, wrong), right, wrong


def _present(cells: list[Cell], key: str, order: tuple[str, ...]) -> list[str]:
    seen = {c["spec"][key] for c in cells}
    return [v for v in order if v in seen]


def _groups(cells: list[Cell]) -> Iterator[tuple[str, str, str, list[Cell]]]:
    """(validation, table, noise, their cells) for each group that has cells, in the
    tables' order."""
    for v in _present(cells, "validation", VALIDATIONS):
        for t in _present(cells, "table", TABLES):
            for n in _present(cells, "noise", NOISES):
                mine = _by(cells, table=t, noise=n, validation=v)
                if mine:
                    yield v, t, n, mine


def tables_table(cells: list[Cell]) -> str:
    rows = []
    for t in _present(cells, "table", TABLES):
        mine = _by(cells, table=t)
        c = mine[0]
        counts = c["class_counts"]
        total = sum(counts.values())
        rows.append([
            t, str(total), str(len(counts)),
            f"{c['minority']} ({_pct(counts[c['minority']] / total)})",
            f"{c['majority']} ({_pct(counts[c['majority']] / total)})",
            " / ".join(f"{k}: {v}" for k, v in c["rows"].items()),
            " / ".join(
                f"{np.mean([x['scores']['clean'][m]['balanced_accuracy'] for x in mine]):.3f}"
                for m in MODELS
            ),
        ])  # fmt: skip
    return _table(["table", "rows", "classes", "minority", "majority",
                   "rows (first cell)", "clean bal. acc.: " + " / ".join(MODELS)],
                  rows)  # fmt: skip


def cells_table(cells: list[Cell], setting: str) -> str:
    rows = []
    for t in _present(cells, "table", TABLES):
        for n in _present(cells, "noise", NOISES):
            mine = _by(cells, table=t, noise=n, validation=setting)
            if not mine:
                continue
            ba = {m: np.mean([c["scores"][m]["logistic"]["balanced_accuracy"] for c in mine])
                  for m in ("clean", "noisy", "mendb")}  # fmt: skip
            ok, worse = verdict(mine)
            prec, right, wrong = _precision(mine)
            rows.append([
                t, n, f"{ba['clean']:.3f} / {ba['noisy']:.3f} / {ba['mendb']:.3f}",
                *(_share([mine], m, "logistic", "balanced_accuracy", m == "mendb")
                  for m in METHODS),
                _share([mine], "mendb", "logistic", "log_loss", True),
                _share([mine], "cleanlab", "logistic", "log_loss", False),
                f"{_pct(prec)} ({right} / {wrong})",
                "yes" if ok else "**no**: " + ", ".join(worse),
            ])  # fmt: skip
    header = ["table", "noise", "bal. acc. clean / noisy / loop",
              *(f"bal. acc. recovered: {NAMES[m]}" for m in METHODS),
              "log-loss recovered: loop", "log-loss recovered: cleanlab",
              "loop relabel precision (right / wrong)", "never worse"]  # fmt: skip
    return _table(header, rows)


def averages_table(cells: list[Cell]) -> str:
    rows = []
    tables = _present(cells, "table", TABLES)
    for v in _present(cells, "validation", VALIDATIONS):
        for n in _present(cells, "noise", NOISES):
            groups = [_by(cells, table=t, noise=n, validation=v) for t in tables]
            for model in MODELS:
                rows.append([
                    v, n, model,
                    *(_share(groups, m, model, "balanced_accuracy", m == "mendb")
                      for m in METHODS),
                    *(_share(groups, m, model, "log_loss", m == "mendb") for m in METHODS),
                    _share(groups, "mendb", model, "accuracy", False),
                    _share(groups, "mendb", model, "macro_f1", False),
                ])  # fmt: skip
    header = ["validation", "noise", "model",
              *(f"bal. acc.: {NAMES[m]}" for m in METHODS),
              *(f"log-loss: {NAMES[m]}" for m in METHODS),
              "accuracy: loop", "macro-F1: loop"]  # fmt: skip
    return _table(header, rows)


def relabels_table(cells: list[Cell]) -> str:
    rows = []
    for v, t, n, mine in _groups(cells):

        def total(method: str, key: str, mine: list[Cell] = mine) -> int:
            return sum(c["relabels"][method][key] for c in mine)

        def share(m: str, mine: list[Cell] = mine) -> str:
            return f"{100 * np.mean([c['minority_share'][m] for c in mine]):.1f} %"

        rows.append([
            v, t, n, str(sum(c["planted"]["flipped_train"] for c in mine)),
            str(sum(c["budget"] for c in mine)),
            *(f"{total(m, 'right')} / {total(m, 'wrong')}"
              f" ({total(m, 'wrong_into_majority')})" for m in METHODS),
            f"{share('clean')} / {share('noisy')} / {share('mendb')}",
        ])  # fmt: skip
    header = ["validation", "table", "noise", "flipped train rows", "budget B",
              *(f"{NAMES[m]}: right / wrong (into majority)" for m in METHODS),
              "minority share clean / noisy / loop"]  # fmt: skip
    return _table(header, rows)


def stops_table(cells: list[Cell]) -> str:
    counts: Counter[tuple[str, str]] = Counter(
        (c["spec"]["validation"], c["stop_kind"]) for c in cells
    )
    rows = [[v, kind.replace("|", "\\|"), str(n)] for (v, kind), n in sorted(counts.items())]
    header = ["validation", "stop reason (# stands for a figure, '…' for a name)", "cells"]
    return _table(header, rows)


def models_table(cells: list[Cell]) -> str:
    rows = [
        [v, t, n, *(
            f"{_share([mine], 'mendb', model, 'balanced_accuracy', False)} /"
            f" {_share([mine], 'mendb', model, 'log_loss', False)}"
            for model in MODELS)]
        for v, t, n, mine in _groups(cells)
    ]  # fmt: skip
    return _table(["validation", "table", "noise", *MODELS], rows)


def _check(ok: bool) -> str:
    return "met" if ok else "**not met**"


def targets_table(cells: list[Cell]) -> str:
    tables = _present(cells, "table", TABLES)
    groups = {
        (v, n, t): _by(cells, table=t, noise=n, validation=v)
        for v in VALIDATIONS for n in NOISES for t in tables
    }  # fmt: skip
    groups = {k: g for k, g in groups.items() if g}
    verdicts = {k: verdict(g)[0] for k, g in groups.items()}
    precisions = {k: _precision(g)[0] for k, g in groups.items()}
    low = [f"{'/'.join(k)} {_pct(p)}" for k, p in precisions.items()
           if not math.isnan(p) and p < TARGETS["precision"]]  # fmt: skip
    rows = [
        ["never worse in every cell", _check(all(verdicts.values())),
         f"{sum(verdicts.values())} of {len(verdicts)} cells"],
        [f"relabel precision >= {_pct(TARGETS['precision'])} in every cell", _check(not low),
         f"{len(low)} cells below" + (": " + ", ".join(low) if low else "")],
    ]  # fmt: skip

    def recovery_row(v: str, noises: tuple[str, ...], target: float, ahead: bool) -> list[str]:
        parts, met = [], True
        for n in noises:
            g = [groups.get((v, n, t), []) for t in tables]
            if not any(g):
                continue
            value, interval = recovered(g, "mendb", "logistic", "balanced_accuracy")
            others = {m: recovered(g, m, "logistic", "balanced_accuracy")[0] for m in BASELINES}
            beats = all(math.isnan(o) or value > o for o in others.values())
            met = met and value >= target and (beats or not ahead)
            against = ", ".join(f"{NAMES[m]} {_pct(o)}" for m, o in others.items())
            parts.append(f"{n}: {_pct(value)}{_interval(interval)} ({against})")
        return [
            f"validation {v}: >= {_pct(target)} of the balanced-accuracy gap on"
            f" {' and '.join(noises)}" + (", ahead of the baselines" if ahead else ""),
            _check(met) if parts else "n/a",
            "; ".join(parts),
        ]

    rows.append(recovery_row("trusted", CLASS_CONDITIONAL, TARGETS["trusted_class"], True))
    rows.append(recovery_row("trusted", ("symmetric",), TARGETS["trusted_symmetric"], True))
    rows.append(recovery_row("noisy", CLASS_CONDITIONAL, TARGETS["noisy_class"], False))
    return _table(["target", "", "measured (logistic regression, mean over tables)"], rows)


def summary(cells: list[Cell]) -> dict[str, Any]:
    """The headline figures: cells never worse, and the relabels' precision per
    validation setting, for the loop and cleanlab."""
    keys = {(c["spec"]["table"], c["spec"]["noise"], c["spec"]["validation"]) for c in cells}
    groups = [_by(cells, table=t, noise=n, validation=v) for t, n, v in sorted(keys)]
    out: dict[str, Any] = {
        "cells": len(groups),
        "never_worse": sum(verdict(g)[0] for g in groups),
        "baseline_never_worse": {m: sum(verdict(g, m)[0] for g in groups) for m in BASELINES},
        "precision": [],
    }
    for v in _present(cells, "validation", VALIDATIONS):
        mine = _by(cells, validation=v)
        for m in ("mendb", "cleanlab"):
            p, right, wrong = _precision(mine, m)
            out["precision"].append(f"{NAMES[m]} {_pct(p)} ({right} / {wrong}) with {v} validation")
    return out


def _flags(args: argparse.Namespace) -> str:
    flags = []
    for name in ("tables", "noise", "validation", "seeds", "max_rows", "jobs"):
        value = getattr(args, name, None)
        if value and not (name == "jobs" and value == DEFAULT_JOBS):
            flags.append(f"--{name.replace('_', '-')} {value}")
    if getattr(args, "quick", False):
        flags.insert(0, "--quick")
    return (" " + " ".join(flags)) if flags else ""


def _load_range(loads: list[float]) -> str:
    """The 1-minute load average as the cells finished, lowest to highest."""
    return f"{min(loads):.1f} to {max(loads):.1f} as cells finished" if loads else ""


def render(cells: list[Cell], args: argparse.Namespace) -> str:
    specs = [c["spec"] for c in cells]
    stamp = max((c.get("finished", "") for c in cells), default="") or dt.date.today().isoformat()
    meta = {
        "date": stamp[:10],
        "cells": len(cells),
        "tables": sorted({s["table"] for s in specs}),
        "noises": sorted({s["noise"] for s in specs}),
        "validations": sorted({s["validation"] for s in specs}),
        "seeds": len({s["seed"] for s in specs}),
        "max_rows": max((s["max_rows"] for s in specs), default=0),
        "seconds": round(sum(c["seconds"]["cell"] for c in cells)),
        "load": _load_range([float(c["load"]) for c in cells if "load" in c]),
        "flags": _flags(args),
    }
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent), undefined=StrictUndefined,
        keep_trailing_newline=True, autoescape=False,
    )  # fmt: skip
    settings = _present(cells, "validation", VALIDATIONS)
    return env.get_template(TEMPLATE).render(
        meta=meta,
        rates={k: _pct(v) for k, v in RATES.items()},
        min_gap=stats.MIN_GAP,
        summary=summary(cells),
        names=NAMES,
        tables_table=tables_table(cells),
        targets_table=targets_table(cells),
        cells_tables=[(v, cells_table(cells, v)) for v in settings],
        averages_table=averages_table(cells),
        relabels_table=relabels_table(cells),
        stops_table=stops_table(cells),
        models_table=models_table(cells),
    )


def write(specs: list[CellSpec], args: argparse.Namespace, no_write: bool = False) -> str:
    cells = load_cells(specs)
    if not cells:
        print("no cells to report", flush=True)
        return ""
    body = render(cells, args)
    if not no_write and not os.environ.get("BENCH_LOOP_NO_DOC"):
        replace_sections({TITLE: body})
        print(f"wrote {DOC}", flush=True)
    print(f"\n## {TITLE}\n\n{body}", flush=True)
    return body
