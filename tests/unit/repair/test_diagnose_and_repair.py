"""Diagnosis and the repairers on planted errors of each kind, without a database:
a flipped label, a missing and an outlying number, a corrupted vector. The
suspects are the planted rows plus clean ones, as valuation would hand them over."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mendb.repair.diagnose import diagnose
from mendb.repair.proposals import Column, RepairContext
from mendb.repair.repairers import default_repairers
from mendb.repair.verify import Verifier
from mendb.valuation.data import Split, TrainingArrays
from mendb.valuation.preprocess import prepare
from mendb.valuation.result import ValuationResult

PLANTED = {"label": range(0, 6), "missing": range(6, 10), "numeric": range(10, 14)}
PLANTED["vector"] = range(14, 18)
CLEAN_SUSPECTS = range(18, 24)


def _rows(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, 2, n)
    numbers = rng.normal(size=(n, 3)) + 2.0 * y[:, None]
    vectors = rng.normal(size=(n, 4)) * 0.3 + np.where(y[:, None] == 1, 1.0, -1.0)
    return np.hstack([numbers, vectors]), y


@pytest.fixture(scope="module")
def planted() -> tuple[RepairContext, TrainingArrays, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x, y = _rows(rng, 200)
    clean_x, clean_y = x.copy(), y.copy()
    y[list(PLANTED["label"])] = 1 - y[list(PLANTED["label"])]
    x[list(PLANTED["missing"]), 0] = np.nan
    x[list(PLANTED["numeric"]), 1] = 40.0
    x[list(PLANTED["vector"]), 3:] = rng.normal(size=(4, 4)) * 6.0
    vx, vy = _rows(rng, 120)
    names = ("a", "b", "c", "v[0]", "v[1]", "v[2]", "v[3]")
    raw = TrainingArrays(
        Split(x, y, np.array([str(i) for i in range(200)], dtype=object)),
        Split(vx, vy, np.array([f"v{i}" for i in range(120)], dtype=object)),
        Split(vx[:0], vy[:0], np.array([], dtype=object)),
        ("no", "yes"),
        names,
        np.isnan(x),
        ("numeric",) * 3 + ("vector",) * 4,
    )
    suspects = np.array([i for r in (*PLANTED.values(), CLEAN_SUSPECTS) for i in r])
    values = np.full(200, 0.01)
    values[suspects] = -0.01
    result = ValuationResult.exact(raw.train.keys, values, "test", {})
    columns = (
        *(Column(n, "numeric", x[:, j], "double precision") for j, n in enumerate("abc")),
        Column("v", "vector", x[:, 3:], "vector(4)"),
    )
    context = RepairContext(prepare(raw), result, suspects, "label", columns)
    return context, raw, clean_x, clean_y


def test_each_planted_error_is_diagnosed_as_its_kind(planted) -> None:  # type: ignore[no-untyped-def]
    context, *_ = planted
    kinds = {d.index: d.kind for d in diagnose(context)}
    right = {k: sum(kinds.get(i) == k for i in rows) for k, rows in PLANTED.items()}
    # Stated precision: every planted error of each kind, at most one miss in all.
    assert sum(right.values()) >= sum(map(len, PLANTED.values())) - 1, right
    assert all(right[k] >= len(rows) - 1 for k, rows in PLANTED.items()), right
    # Precision: of the clean suspects, at most one gets any diagnosis.
    assert sum(i in kinds for i in CLEAN_SUSPECTS) <= 1


def test_repairs_restore_the_planted_values_and_verify(planted) -> None:  # type: ignore[no-untyped-def]
    context, raw, clean_x, clean_y = planted
    context = replace(context, diagnoses=diagnose(context))
    proposals = [p for r in default_repairers() for p in r.propose(context)]
    by_kind = {
        k: [p for p in proposals if p.kind == k and int(p.row_key) in rows]
        for k, rows in PLANTED.items()
    }
    labels = by_kind["label"]
    assert len(labels) >= 5 and all(
        p.new_value == ("no", "yes")[clean_y[int(p.row_key)]] for p in labels
    )
    for kind, column in (("missing", 0), ("numeric", 1)):
        errors = [abs(float(p.new_value) - clean_x[int(p.row_key), column]) for p in by_kind[kind]]
        assert len(errors) >= 3 and max(errors) < 2.0  # within 2 sd of the truth
    vectors = by_kind["vector"]
    assert len(vectors) >= 3
    for p in vectors:
        new = np.array([float(v) for v in p.new_value.strip("[]").split(",")])
        assert np.linalg.norm(new - clean_x[int(p.row_key), 3:]) < 1.5
    verified = Verifier("label").fit(raw).verify(proposals)
    verdicts = [p.verification["verdict"] for p in verified if p.kind == "label"]
    assert verdicts.count("improves") >= len(verdicts) - 1  # at most one not confirmed
