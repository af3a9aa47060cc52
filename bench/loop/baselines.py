"""What a user could do instead of the loop, with the same budget B (the rows the
loop spent a repair on), on the same noisy training rows, in memory:

- cleanlab: `find_label_issues` on out-of-fold logistic probabilities (5 folds),
  ranked by self-confidence; the top B are relabelled with the predicted class;
- random: B random training rows handed to mendb's own experts (the service's
  propose chain, `repair.pipeline.propose`: diagnose, the default repairers,
  verification; proposals accepted by the loop's own rule applied);
- ActiveClean-style: B / rounds rows per iteration with the largest norm of the
  logistic loss gradient (|p - e_y| * |(x, 1)|) under the current model, handed
  to the same experts, then retrain; as many iterations as the loop had rounds
  that applied repairs.

Each returns the repaired arrays and the training rows (positions) it changed.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from mendb.repair.pipeline import propose
from mendb.repair.proposals import Column, RepairContext, RepairProposal
from mendb.repair.repairers import default_repairers
from mendb.repair.verify import Verifier
from mendb.server.loop import LoopConfig
from mendb.valuation.data import TrainingArrays
from mendb.valuation.preprocess import prepare
from mendb.valuation.result import ValuationResult

BASELINES = ("cleanlab", "random", "activeclean")
Repaired = tuple[TrainingArrays, set[int]]


def _expert(
    raw: TrainingArrays, rows: NDArray[np.int64], config: LoopConfig,
    source_labels: NDArray[np.int64] | None = None,
) -> Repaired:  # fmt: skip
    """mendb's experts on chosen rows, no valuation: every other row is trusted.
    Proposals the loop's auto policy would accept are applied in memory.
    `source_labels`: the labels before earlier iterations relabelled any."""
    if len(rows) == 0:
        return raw, set()
    data = prepare(raw)
    values = np.ones(len(raw.train))
    values[rows] = -1.0
    result = ValuationResult.exact(raw.train.keys, values, "bench", {})
    kinds = raw.feature_kinds or ("numeric",) * len(raw.feature_names)
    columns = tuple(
        Column(name, "numeric", raw.train.x[:, j], "double precision")
        for j, (name, kind) in enumerate(zip(raw.feature_names, kinds, strict=True))
        if kind == "numeric"
    )
    context = RepairContext(
        data, result, rows, "label", columns=columns, source_labels=source_labels
    )
    repairers, verifier = default_repairers(config.k), Verifier("label")
    proposals = propose(context, repairers, verifier, raw=raw, k=config.k).proposals
    return apply(raw, [p for p in proposals if config.accepts(p.confidence, p.verification)])


def apply(raw: TrainingArrays, proposals: list[RepairProposal]) -> Repaired:
    x, y = raw.train.x.copy(), raw.train.y.copy()
    position = {str(k): i for i, k in enumerate(raw.train.keys)}
    touched = set()
    for p in proposals:
        i = position[p.row_key]
        if p.column == "label":
            y[i] = raw.classes.index(str(p.new_value))
        else:
            x[i, raw.feature_names.index(p.column)] = float(p.new_value or "nan")
        touched.add(i)
    return replace(raw, train=replace(raw.train, x=x, y=y)), touched


def _oof_probabilities(data: TrainingArrays, seed: int) -> NDArray[np.float64]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    y = data.train.y
    folds = max(2, min(5, int(np.bincount(y).min())))
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proba: NDArray[np.float64] = cross_val_predict(
            LogisticRegression(max_iter=2000), data.train.x, y, cv=cv, method="predict_proba"
        )
    return proba


def cleanlab_baseline(raw: TrainingArrays, budget: int, seed: int) -> Repaired:
    from cleanlab.filter import find_label_issues

    proba = _oof_probabilities(prepare(raw), seed)
    ranked = find_label_issues(raw.train.y, proba, return_indices_ranked_by="self_confidence")
    ranked = ranked[:budget]
    y = raw.train.y.copy()
    y[ranked] = proba[ranked].argmax(axis=1)
    touched = {int(i) for i in ranked if y[i] != raw.train.y[i]}
    return replace(raw, train=replace(raw.train, y=y)), touched


def random_baseline(raw: TrainingArrays, budget: int, seed: int, config: LoopConfig) -> Repaired:
    rng = np.random.default_rng(seed + 2000)
    rows = rng.choice(len(raw.train), min(budget, len(raw.train)), replace=False)
    return _expert(raw, np.sort(rows).astype(np.int64), config)


def gradient_norms(
    proba: NDArray[np.float64], y: NDArray[np.int64], x: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The norm of each row's logistic-loss gradient: |p - e_y| * |(x, 1)|."""
    residual = proba.copy()
    residual[np.arange(len(residual)), y] -= 1.0
    norms: NDArray[np.float64] = np.linalg.norm(residual, axis=1) * np.sqrt(
        1.0 + (x**2).sum(axis=1)
    )
    return norms


def activeclean_baseline(
    raw: TrainingArrays, budget: int, iterations: int, seed: int, config: LoopConfig
) -> Repaired:
    from sklearn.linear_model import LogisticRegression

    source_labels = raw.train.y
    seen = np.zeros(len(raw.train), dtype=bool)
    touched: set[int] = set()
    left = budget
    steps = max(1, iterations)
    for step in range(steps):
        batch = math.ceil(left / (steps - step))
        if batch <= 0:
            break
        data = prepare(raw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = LogisticRegression(max_iter=2000, random_state=seed).fit(
                data.train.x, data.train.y
            )
        proba = np.zeros((len(data.train), raw.n_classes))
        proba[:, model.classes_] = model.predict_proba(data.train.x)
        grad = gradient_norms(proba, data.train.y, data.train.x)
        grad[seen] = -np.inf
        rows = np.argsort(-grad, kind="stable")[:batch].astype(np.int64)
        seen[rows] = True
        raw, done = _expert(raw, np.sort(rows), config, source_labels)
        touched |= done
        left -= len(rows)
    return raw, touched


def run_baseline(
    method: str, raw: TrainingArrays, budget: int, iterations: int, seed: int,
    config: LoopConfig,
) -> Repaired:  # fmt: skip
    if method == "cleanlab":
        return cleanlab_baseline(raw, budget, seed)
    if method == "random":
        return random_baseline(raw, budget, seed, config)
    if method == "activeclean":
        return activeclean_baseline(raw, budget, iterations, seed, config)
    raise ValueError(f"unknown baseline {method!r}; one of {', '.join(BASELINES)}")
