"""The section "Regression" of docs/BENCHMARKS.md, from the cells' JSON files: the
numbers come from `stats`, the tables are laid out here, the prose is
`bench/templates/regression.md.j2`."""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
from typing import Any

import numpy as np

from bench.regression import anchors, planting, runner, stats
from bench.regression.detection import DEFAULT, MENDB, DetectionSpec
from bench.regression.loop import BASELINES, METHODS, MODELS, OWN, OWN_MODEL, LoopSpec
from bench.regression.tables import TABLES
from bench.render import render
from bench.report import DOC, replace_sections

TITLE = "Regression"
TEMPLATE = "regression.md.j2"
LOOP_TARGET = 0.8
Cell = dict[str, Any]


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _f(value: float, spec: str = ".3f") -> str:
    return "n/a" if value is None or math.isnan(value) else format(value, spec)


def _pct(value: float, spec: str = ".0f") -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:{spec}} %"


def _groups(cells: list[Cell]) -> dict[tuple[str, str], list[Cell]]:
    out: dict[tuple[str, str], list[Cell]] = {}
    for c in sorted(cells, key=lambda c: (TABLES.index(c["spec"]["table"]), c["spec"]["noise"])):
        out.setdefault((c["spec"]["table"], c["spec"]["noise"]), []).append(c)
    return out


def _methods(cells: list[Cell]) -> list[str]:
    order = [*MENDB, DEFAULT, *anchors.ANCHORS]
    seen = {m for c in cells for m in c["methods"]}
    return [m for m in order if m in seen]


def _mean(cells: list[Cell], method: str, key: str) -> float:
    return stats.mean_finite(
        [
            c["methods"][method].get(key, math.nan)
            for c in cells
            if method in c["methods"] and c["methods"][method].get("ok")
        ]
    )


def detection_table(cells: list[Cell], key: str) -> str:
    methods = _methods(cells)
    rows = []
    for (t, n), group in _groups(cells).items():
        best = max(
            (_mean(group, m, key) for m in methods if m in anchors.ANCHORS),
            key=lambda v: -math.inf if math.isnan(v) else v,
            default=math.nan,
        )
        rows.append([t, n, str(sum(c["planted"] for c in group)),
                     *(_f(_mean(group, m, key)) for m in methods), _f(best)])  # fmt: skip
    return _table(["table", "noise", "planted rows", *methods, "best anchor"], rows)


def seconds_table(cells: list[Cell]) -> str:
    methods = _methods(cells)
    rows = []
    for (t, n), group in _groups(cells).items():
        rows.append([t, n, str(group[0]["rows"]["train"]),
                     *(_f(_mean(group, m, "seconds"), ".2f") for m in methods)])  # fmt: skip
    return _table(["table", "noise", "training rows", *methods], rows)


def not_run(cells: list[Cell]) -> list[str]:
    """Each method that failed somewhere, with its first error and how often."""
    errors: dict[str, tuple[str, int]] = {}
    for c in cells:
        for m, row in c["methods"].items():
            if not row.get("ok"):
                first, count = errors.get(m, (str(row.get("error", "?")), 0))
                errors[m] = (first, count + 1)
    return [f"{m} ({n} of {len(cells)} cells): {e}" for m, (e, n) in errors.items()]


def tables_table(detect: list[Cell], loops: list[Cell]) -> str:
    rows = []
    for t in TABLES:
        d = [c for c in detect if c["spec"]["table"] == t]
        lo = [c for c in loops if c["spec"]["table"] == t]
        if not d and not lo:
            continue
        first = (d or lo)[0]
        rows.append([t, first.get("source", ""),
                     " / ".join(f"{k} {v}" for k, v in d[0]["rows"].items()) if d else "-",
                     " / ".join(f"{k} {v}" for k, v in lo[0]["rows"].items()) if lo else "-",
                     str(d[0]["features"]) if d else "-"])  # fmt: skip
    return _table(["table", "source", "detection rows", "loop rows",
                   "prepared features"], rows)  # fmt: skip


def _gap_rows(cells: list[Cell], method: str, model: str, metric: str) -> np.ndarray:
    return np.array([[c["scores"][m][model][metric] for m in (method, "clean", "noisy")]
                     for c in cells], dtype=np.float64)  # fmt: skip


def recovered(cells: list[Cell], method: str, model: str, metric: str = "rmse") -> float:
    return stats.share_of_mean_gap(_gap_rows(cells, method, model, metric))


def never_worse(cells: list[Cell], method: str = "mendb") -> tuple[bool, list[str]]:
    from bench.loop.stats import never_worse as verdict

    worse = []
    for model in MODELS:
        for metric in ("rmse", "mae"):
            final = np.array([c["scores"][method][model][metric] for c in cells])
            noisy = np.array([c["scores"]["noisy"][model][metric] for c in cells])
            v = verdict(final, noisy, higher_is_better=False)
            if v.worse:
                worse.append(f"{model} {metric} {v.mean:+.4g}")
    return not worse, worse


def loop_table(cells: list[Cell]) -> str:
    rows = []
    for (t, n), group in _groups(cells).items():
        rm = {m: np.mean([c["scores"][m]["linear"]["rmse"] for c in group])
              for m in ("clean", "noisy", "mendb")}  # fmt: skip
        ok, worse = never_worse(group)
        changes = [c["changes"]["mendb"] for c in group]
        rows.append([
            t, n, f"{rm['clean']:.4g} / {rm['noisy']:.4g} / {rm['mendb']:.4g}",
            *(_pct(recovered(group, m, model)) for model in MODELS for m in METHODS),
            f"{sum(c['budget'] for c in group)} ({sum(x['changed_planted'] for x in changes)}"
            f" planted of {sum(c['planted'] for c in group)})",
            "yes" if ok else "**no**: " + ", ".join(worse),
        ])  # fmt: skip
    header = ["table", "noise", "linear RMSE clean / noisy / loop",
              *(f"{model}: {m}" for model in MODELS for m in METHODS),
              "budget B (of them planted, of planted)", "never worse"]  # fmt: skip
    return _table(header, rows)


def _with_own(cells: list[Cell]) -> dict[tuple[str, str], list[Cell]]:
    """The groups whose every cell also ran the loop with the user's model."""
    return {k: g for k, g in _groups(cells).items() if all(OWN in c["scores"] for c in g)}


def own_shares(group: list[Cell], model: str = "boosting") -> tuple[float, float]:
    """The recovered share of `model`'s RMSE gap with the proxy's loop and with the
    loop run with the user's model, on the same planted rows."""
    return recovered(group, "mendb", model), recovered(group, OWN, model)


def own_table(cells: list[Cell]) -> str:
    rows = []
    for (t, n), group in _with_own(cells).items():
        rm = {m: np.mean([c["scores"][m]["boosting"]["rmse"] for c in group])
              for m in ("clean", "noisy", "mendb", OWN)}  # fmt: skip
        proxy, own = own_shares(group)
        planted = {m: sum(c["changes"][m]["changed_planted"] for c in group)
                   for m in ("mendb", OWN)}  # fmt: skip
        verdict = "n/a" if math.isnan(proxy) else ("yes" if own >= proxy else "**no**")
        rows.append([
            t, n, " / ".join(f"{rm[m]:.4g}" for m in ("clean", "noisy", "mendb", OWN)),
            _pct(proxy, ".1f"), _pct(own, ".1f"),
            f"{sum(c['budget'] for c in group)} / {sum(c[OWN]['budget'] for c in group)}",
            f"{planted['mendb']} / {planted[OWN]} of {sum(c['planted'] for c in group)}",
            verdict,
        ])  # fmt: skip
    header = ["table", "noise", "boosting RMSE clean / noisy / proxy loop / own loop",
              "recovered, proxy loop", "recovered, own loop", "budget B proxy / own",
              "planted rows changed proxy / own", "own >= proxy"]  # fmt: skip
    return _table(header, rows)


def _own_target(loops: list[Cell]) -> list[str]:
    target = "own model: boosting's recovery with --model >= with the proxy"
    groups = _with_own(loops)
    without = len(_groups(loops)) - len(groups)
    shares = {k: own_shares(g) for k, g in groups.items()}
    # As for the loop's own targets, a cell without a gap is neither met nor missed.
    gaps = {k: s for k, s in shares.items() if not math.isnan(s[0])}
    behind = [f"{t}/{n} {_pct(own, '.1f')} < {_pct(proxy, '.1f')}"
              for (t, n), (proxy, own) in gaps.items() if not own >= proxy]  # fmt: skip
    measured = f"{len(gaps) - len(behind)} of {len(gaps)} cells with a gap"
    if behind:
        measured += "; behind: " + ", ".join(behind)
    if len(gaps) < len(shares):
        measured += f"; {len(shares) - len(gaps)} cells without a gap"
    if without:
        measured += f"; {without} cells not run with --model"
    verdict = "n/a" if not gaps else ("**not met**" if behind else "met")
    return [target, verdict, measured]


def _best(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return max(finite) if finite else math.nan


def _detection_target(detect: list[Cell]) -> list[str]:
    groups = _groups(detect)
    target = "detection: mendb's default AUROC >= the best anchor in every cell"
    if not any(DEFAULT in c["methods"] for c in detect):
        return [target, "n/a", "mendb's default for regression not chosen yet"]
    behind = []
    for (t, n), group in groups.items():
        mine = _mean(group, DEFAULT, "auroc")
        best = _best([_mean(group, a, "auroc") for a in anchors.ANCHORS])
        if math.isnan(mine) or (not math.isnan(best) and mine < best):
            behind.append(f"{t}/{n} {_f(mine)} < {_f(best)}")
    measured = f"{len(groups) - len(behind)} of {len(groups)} cells"
    if behind:
        measured += "; behind: " + ", ".join(behind)
    return [target, "**not met**" if behind else "met", measured]


def _loop_targets(loops: list[Cell]) -> list[list[str]]:
    groups = _groups(loops)
    rows = []
    for model in MODELS:
        shares = {k: recovered(g, "mendb", model) for k, g in groups.items()}
        # A cell whose noise did not raise the test RMSE has no gap to win back: it
        # is counted apart, neither met nor missed.
        gaps = {k: s for k, s in shares.items() if not math.isnan(s)}
        low = [f"{t}/{n} {_pct(s)}" for (t, n), s in gaps.items() if s < LOOP_TARGET]
        measured = f"{len(gaps) - len(low)} of {len(gaps)} cells with a gap"
        if low:
            measured += "; below: " + ", ".join(low)
        if len(gaps) < len(shares):
            measured += f"; {len(shares) - len(gaps)} cells without a gap"
        verdict = "n/a" if not gaps else ("**not met**" if low else "met")
        rows.append([f"loop, {model}: >= {_pct(LOOP_TARGET)} of the RMSE gap recovered",
                     verdict, measured])  # fmt: skip
    verdicts = [never_worse(g)[0] for g in groups.values()]
    rows.append(["loop: never worse than noisy (RMSE, MAE, both models)",
                 "met" if all(verdicts) else "**not met**",
                 f"{sum(verdicts)} of {len(verdicts)} cells"])  # fmt: skip
    return [*rows, _own_target(loops)]


def targets_table(detect: list[Cell], loops: list[Cell]) -> str:
    rows = ([_detection_target(detect)] if detect else []) + (_loop_targets(loops) if loops else [])
    return _table(["target", "", "measured"], rows)


def _cell_seconds(cell: Cell) -> float:
    seconds = cell["seconds"]
    return float(seconds if isinstance(seconds, (int, float)) else seconds["cell"])


def grid_flags(args: argparse.Namespace) -> str:
    """The options that chose the cells, as typed: the command that runs the grid
    again, and the `--report` that finds its cells."""
    flags = []
    for name in ("quick", "tables", "noise", "seeds", "max_rows", "tmc_seconds"):
        flag, value = "--" + name.replace("_", "-"), getattr(args, name, None)
        if value is True:
            flags.append(f" {flag}")
        elif value not in (None, False):
            flags.append(f" {flag} {value:g}" if isinstance(value, float) else f" {flag} {value}")
    return "".join(flags)


def render_section(detect: list[Cell], loops: list[Cell], args: argparse.Namespace) -> str:
    """The section; the issue's loop targets and the own-model comparison read the
    cells with noise in the training rows only, the table-wide cells get a table of
    their own."""
    cells = detect + loops
    wide = [c["spec"].get("where", "train") == "table" for c in loops]
    table_wide = [c for c, w in zip(loops, wide, strict=True) if w]
    loops = [c for c, w in zip(loops, wide, strict=True) if not w]
    stamp = max((c.get("finished", "") for c in cells), default="") or dt.date.today().isoformat()
    loads = [float(c["load"]) for c in cells if "load" in c]
    meta = {
        "date": stamp[:10],
        "detection_cells": len(detect),
        "loop_cells": len(loops) + len(table_wide),
        "seeds": len({c["spec"]["seed"] for c in cells}),
        "seconds": round(sum(_cell_seconds(c) for c in cells)),
        "load": f"{min(loads):.1f} to {max(loads):.1f}" if loads else "",
        "flags": grid_flags(args),
        "max_rows": max((c["spec"]["max_rows"] for c in cells), default=0),
    }
    return render(
        TEMPLATE, meta=meta, rate=_pct(planting.RATE), df=planting.DF,
        mendb=MENDB, baselines=BASELINES, min_gap=_pct(stats.MIN_GAP_RATIO),
        tables_table=tables_table(detect, loops),
        targets_table=targets_table(detect, loops),
        auroc_table=detection_table(detect, "auroc") if detect else "",
        ap_table=detection_table(detect, "ap") if detect else "",
        seconds_table=seconds_table(detect) if detect else "",
        not_run=not_run(detect), loop_table=loop_table(loops) if loops else "",
        table_wide_table=loop_table(table_wide) if table_wide else "",
        own_table=own_table(loops) if _with_own(loops) else "", own_model=OWN_MODEL,
    )  # fmt: skip


def write(detection: list[DetectionSpec], loops: list[LoopSpec], args: argparse.Namespace,
          no_write: bool = False) -> str:  # fmt: skip
    detect_cells = runner.load_cells([s.key for s in detection])
    loop_cells = runner.load_cells([s.key for s in loops])
    if not detect_cells and not loop_cells:
        print("no cells to report", flush=True)
        return ""
    body = render_section(detect_cells, loop_cells, args)
    if not no_write and not os.environ.get("BENCH_REGRESSION_NO_DOC"):
        replace_sections({TITLE: body})
        print(f"wrote {DOC}", flush=True)
    print(f"\n## {TITLE}\n\n{body}", flush=True)
    return body
