"""One cell of the benchmark: a table, a noise kind, a validation setting and a
seed. The table goes into PostgreSQL, is registered, the noise is planted by SQL,
the real `server.loop.run_loop` runs, and the loop's final training rows, the
baselines' and the clean and noisy ones are scored by every downstream model on
the sealed test rows (which always keep their clean labels).

Validation settings: `trusted` registers a clean validation table (mendb splits
it into validation and test rows) beside the noisy training table; `noisy` draws
validation and test rows from the one table and plants the noise on training and
validation rows alike."""

from __future__ import annotations

import json
import os
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.loop import baselines, downstream, planting, stats, store
from bench.loop.tables import Table, load_table
from mendb.db.repairs import list_repairs
from mendb.server.context import Mendb
from mendb.server.loop import LoopConfig, run_loop
from mendb.valuation.data import TrainingArrays
from mendb.valuation.preprocess import prepare

VALIDATIONS = ("trusted", "noisy")
METHODS = ("mendb", *baselines.BASELINES)
Log = Callable[[str], None]


# Deliberately like bench/regression/loop.py:LoopSpec in shape only: each benchmark's
# cell names its own settings and files.
@dataclass(frozen=True)
class CellSpec:
    table: str
    noise: str
    validation: str
    seed: int
    max_rows: int

    @property
    def name(self) -> str:
        return f"loop_{self.table}_{self.noise}_{self.validation}_{self.seed}"

    @property
    def key(self) -> str:
        """The cell's file name: the name and the subsample size."""
        return f"{self.name}_{self.max_rows}"


def _trusted_split(labels: NDArray[np.str_], seed: int) -> NDArray[np.bool_]:
    """Which rows go to the training table (60 %, stratified); the rest form the
    clean validation table that mendb splits into validation and test rows."""
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(labels))
    train, _ = train_test_split(
        positions, test_size=store.VALIDATION_FRACTION + store.TEST_FRACTION,
        stratify=labels, random_state=seed,
    )  # fmt: skip
    mask = np.zeros(len(labels), dtype=bool)
    mask[train] = True
    return mask


def _load(app: Mendb, spec: CellSpec, table: Table) -> tuple[str, ...]:
    """Create and register the cell's tables; returns their names."""
    keys = np.arange(len(table.labels), dtype=np.int64)
    if spec.validation == "noisy":
        store.create_table(app, spec.name, table.features, table.labels, keys)
        store.register(app, spec.name, spec.name, spec.seed, None)
        return (spec.name,)
    main = _trusted_split(table.labels, spec.seed)
    valid = f"{spec.name}_valid"
    for name, rows in ((spec.name, main), (valid, ~main)):
        store.create_table(
            app, name, table.features[rows].reset_index(drop=True), table.labels[rows], keys[rows]
        )
    store.register(app, spec.name, spec.name, spec.seed, valid)
    return (spec.name, valid)


def _noise_context(
    raw: TrainingArrays, table: Table, x: NDArray[np.float64], y: NDArray[np.int64], seed: int
) -> planting.NoiseContext:
    """The classes and a clean logistic model's probabilities on the eligible rows
    (fitted on them: the model that defines where the boundary is)."""
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(max_iter=2000, random_state=seed).fit(x, y)
    proba = np.zeros((len(y), raw.n_classes))
    proba[:, model.classes_] = model.predict_proba(x)
    index = raw.classes.index
    if table.pairs:
        pairs = tuple((index(a), index(b)) for a, b in table.pairs)
    else:
        pairs = (planting.most_confused_pair(y, proba),)
    return planting.NoiseContext(
        raw.n_classes, index(table.minority), index(table.majority), pairs, proba
    )


def _plant(app: Mendb, spec: CellSpec, table: Table, clean: TrainingArrays) -> dict[str, Any]:
    """Plant the noise on the eligible rows by SQL; returns what was planted."""
    prepared = prepare(clean)
    parts = [clean.train] + ([clean.valid] if spec.validation == "noisy" else [])
    prepared_parts = [prepared.train] + ([prepared.valid] if spec.validation == "noisy" else [])
    keys = np.concatenate([p.keys for p in parts]).astype(str)
    y = np.concatenate([p.y for p in parts])
    x = np.vstack([p.x for p in prepared_parts])
    context = _noise_context(clean, table, x, y, spec.seed)
    rng = np.random.default_rng([spec.seed, planting.NOISES.index(spec.noise), 1000])
    planted = planting.plant(spec.noise, y, np.ones(len(y), dtype=bool), context, rng)
    flipped = np.flatnonzero(planted.flipped)
    store.set_labels(
        app, spec.name, keys[flipped].tolist(),
        [clean.classes[int(c)] for c in planted.labels[flipped]],
    )  # fmt: skip
    in_train = np.isin(keys[flipped], clean.train.keys.astype(str))
    return {
        "eligible_rows": len(y),
        "flipped": len(flipped),
        "flipped_train": int(in_train.sum()),
        "flipped_valid": int((~in_train).sum()),
        "pairs": [[clean.classes[a], clean.classes[b]] for a, b in context.pairs],
    }


def label_changes(
    clean: NDArray[np.int64], noisy: NDArray[np.int64], after: NDArray[np.int64], majority: int
) -> dict[str, int]:
    """Relabels (rows whose label differs from the noisy one) that are right (now
    the clean label) or wrong, the wrong ones into the majority class, and the
    planted flips left wrong."""
    changed = after != noisy
    right = changed & (after == clean)
    wrong = changed & (after != clean)
    return {
        "right": int(right.sum()),
        "wrong": int(wrong.sum()),
        "wrong_into_majority": int((wrong & (after == majority)).sum()),
        "flips_left": int(((after != clean) & (noisy != clean)).sum()),
    }


def _rounds(outcome_rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The round rows as plain values; columns come and go as the loop grows."""
    kept = []
    for r in outcome_rounds:
        row = {}
        for key, value in r.items():
            if key in ("proposal_ids", "dataset", "loop_id", "id"):
                continue
            plain = isinstance(value, (int, float, str, bool, type(None)))
            row[key] = value if plain else str(value)
        kept.append(row)
    return kept


def stop_kind(reason: str) -> str:
    """A stop reason with its figures and quoted names (classes, columns) taken
    out, so that reasons can be counted."""
    without_names = re.sub(r"'[^']*'", "'…'", reason)
    return re.sub(r"[-+]?\d+(\.\d+)?", "#", without_names)


def _clean_scores(
    spec: CellSpec, clean: TrainingArrays, cache: Path | None
) -> dict[str, dict[str, float]]:
    """The clean rows' scores, shared by the noise kinds of a table, setting and
    seed (the same rows, split the same way), so computed once."""
    if cache is None:
        return downstream.evaluate(clean, spec.seed)
    path = cache / f"{spec.table}_{spec.validation}_{spec.seed}_{spec.max_rows}.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    scores = downstream.evaluate(clean, spec.seed)
    cache.mkdir(parents=True, exist_ok=True)
    path.with_suffix(f".{os.getpid()}.tmp").write_text(json.dumps(scores))
    path.with_suffix(f".{os.getpid()}.tmp").replace(path)
    return scores


def run_cell(
    app: Mendb, spec: CellSpec, log: Log, clean_cache: Path | None = None
) -> dict[str, Any]:
    started = time.perf_counter()
    table = load_table(spec.table, spec.max_rows, spec.seed)
    store.drop(app, spec.name, [spec.name, f"{spec.name}_valid"])
    tables = _load(app, spec, table)
    clean = store.read(app, spec.name)
    planted = _plant(app, spec, table, clean)
    noisy = store.read(app, spec.name)
    keys = clean.train.keys.astype(str).tolist()
    assert noisy.train.keys.astype(str).tolist() == keys, "the training rows moved"
    assert np.array_equal(noisy.test.y, clean.test.y), "noise reached the test rows"
    config = LoopConfig(seed=spec.seed)
    loop_started = time.perf_counter()
    outcome = run_loop(app, spec.name, config, log=lambda s: log(f"    {s}"))
    seconds = {"mendb": time.perf_counter() - loop_started}
    final = store.read(app, spec.name)
    assert final.train.keys.astype(str).tolist() == keys, "the loop moved training rows"
    with app.connection() as conn:
        repairs = list_repairs(conn, dataset=spec.name)
    # The budget the loop spent: rows with a repair applied at some point (kept,
    # or reverted with a rolled-back round).
    spent = {r["row_key"] for r in repairs if r["status"] in ("applied", "reverted")}
    budget = len(spent & set(keys))
    iterations = max(1, sum(1 for r in outcome.rounds if r.get("applied")))
    after, touched, baseline_seconds = _baselines(noisy, budget, iterations, spec.seed, config)
    after = {"mendb": final, **after}
    touched = {"mendb": budget, **touched}
    seconds |= baseline_seconds
    majority = clean.classes.index(table.majority)
    minority = clean.classes.index(table.minority)
    scores = {
        "clean": _clean_scores(spec, clean, clean_cache),
        "noisy": downstream.evaluate(noisy, spec.seed),
        **{m: downstream.evaluate(raw, spec.seed) for m, raw in after.items()},
    }
    ys = {"clean": clean.train.y, "noisy": noisy.train.y}
    ys |= {m: r.train.y for m, r in after.items()}
    kinds = [r.get("decision") for r in outcome.rounds]
    return {
        "spec": asdict(spec),
        "classes": list(clean.classes),
        "minority": table.minority,
        "majority": table.majority,
        "class_counts": table.counts(),
        "rows": {"train": len(clean.train), "valid": len(clean.valid), "test": len(clean.test)},
        "tables": list(tables),
        "planted": planted,
        "budget": budget,
        "iterations": iterations,
        "touched": touched,
        "scores": scores,
        "relabels": {
            m: label_changes(clean.train.y, noisy.train.y, ys[m], majority) for m in METHODS
        },
        "minority_share": {m: stats.minority_share(y, minority) for m, y in ys.items()},
        "repairs": _repair_counts(repairs),
        "reason": outcome.reason,
        "stop_kind": stop_kind(outcome.reason),
        "decisions": kinds,
        "rounds": _rounds(outcome.rounds),
        "seconds": {**seconds, "cell": time.perf_counter() - started},
    }


def _baselines(
    noisy: TrainingArrays, budget: int, iterations: int, seed: int, config: LoopConfig
) -> tuple[dict[str, TrainingArrays], dict[str, int], dict[str, float]]:
    """Every baseline on the noisy rows with the loop's budget: the repaired rows,
    how many rows each changed, and its seconds."""
    after: dict[str, TrainingArrays] = {}
    touched: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for method in baselines.BASELINES:
        started = time.perf_counter()
        after[method], rows = baselines.run_baseline(
            method, noisy, budget, iterations, seed, config
        )
        seconds[method] = time.perf_counter() - started
        touched[method] = len(rows)
    return after, touched, seconds


def _repair_counts(repairs: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in repairs:
        tag = f"{r['kind']}:{r['status']}"
        counts[tag] = counts.get(tag, 0) + 1
    return counts


def cleanup(app: Mendb, spec: CellSpec) -> None:
    store.drop(app, spec.name, [spec.name, f"{spec.name}_valid"])
