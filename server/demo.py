"""`mendb demo`: one whole round on a real dataset with known label errors.

scikit-learn's bundled handwritten digits (1,797 rows, 64 pixel features, 10
classes; `--source breast_cancer` for 569 rows and 2 classes) go into
`public.demo_train`; 10 % of the training split's labels are flipped with a seeded
generator, and which rows were flipped goes into `public.demo_flips`, so the demo
can score its own flags. Then: register, value (exact KNN-Shapley), propose,
accept the proposals that are confident and that a counterfactual retrain says
improve the model, apply them in one transaction, retrain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits

from mendb.db import datasets, demo_tables
from mendb.db.datasets import SplitSpec
from mendb.db.repairs import list_repairs, review
from mendb.server import applying, operations
from mendb.server.context import Mendb
from mendb.server.loop import LoopConfig

DATASET = "demo"
LOADERS = {"breast_cancer": load_breast_cancer, "digits": load_digits}


@dataclass(frozen=True)
class DemoReport:
    source: str
    rows: int
    flipped: int
    flagged: int
    correct_flags: int
    applied: int
    correct_repairs: int
    accuracy_clean: float
    accuracy_noisy: float
    accuracy_repaired: float
    url: str

    @property
    def precision(self) -> float:
        return self.correct_flags / self.flagged if self.flagged else float("nan")

    @property
    def recall(self) -> float:
        return self.correct_flags / self.flipped if self.flipped else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "precision": self.precision, "recall": self.recall}


def run_demo(
    app: Mendb,
    source: str = "digits",
    flip_fraction: float = 0.1,
    seed: int = 0,
    min_confidence: float = LoopConfig.min_confidence,
    k: int = 10,
    max_rows: int | None = None,
) -> DemoReport:
    x, y = LOADERS[source](return_X_y=True)
    rows = max_rows or len(y)
    x, y = x[:rows], y[:rows]
    with app.connection() as conn, conn.transaction():
        demo_tables.reset_digits(conn, DATASET)
        demo_tables.load_digits(conn, x, y)
    with app.connection() as conn:
        datasets.register(
            conn,
            DATASET,
            demo_tables.DIGITS_TABLE,
            "id",
            "label",
            split=SplitSpec(0.2, 0.2, seed),
        )
        _, data, _ = operations.load(conn, DATASET)
        accuracy_clean = operations.model_accuracy(conn, DATASET, seed)
    flipped = _flip(app, data.train.keys, data.n_classes, flip_fraction, seed)
    with app.connection() as conn:
        accuracy_noisy = operations.model_accuracy(conn, DATASET, seed)
        operations.value_run(conn, app.settings, DATASET, "knn_shapley", {"k": k})
        proposed = operations.propose(conn, app.settings, DATASET, max_rows=len(data.train), k=k)
        if proposed.ids:
            review(
                conn,
                "accepted",
                dataset=DATASET,
                min_confidence=min_confidence,
                verified_only=True,
                actor=app.settings.actor,
            )
        applying.apply(app, DATASET)
        repairs = list_repairs(conn, dataset=DATASET)
        truth = demo_tables.flipped_truth(conn)
        accuracy_repaired = operations.model_accuracy(conn, DATASET, seed)
    applied = [r for r in repairs if r["status"] == "applied"]
    return DemoReport(
        source=source,
        rows=rows,
        flipped=len(flipped),
        flagged=len(repairs),
        correct_flags=sum(r["row_key"] in truth for r in repairs),
        applied=len(applied),
        correct_repairs=sum(truth.get(r["row_key"]) == r["new_value"] for r in applied),
        accuracy_clean=accuracy_clean,
        accuracy_noisy=accuracy_noisy,
        accuracy_repaired=accuracy_repaired,
        url=app.url,
    )


def _flip(app: Mendb, train_keys: Any, n_classes: int, fraction: float, seed: int) -> list[int]:
    """Flip `fraction` of the training rows' labels to another class, by plain SQL
    (this is the dirt the demo plants, not a repair), and record the truth."""
    rng = np.random.default_rng(seed)
    keys = np.array(sorted(int(k) for k in train_keys))
    chosen = rng.choice(keys, size=round(fraction * len(keys)), replace=False)
    shifts = rng.integers(1, n_classes, size=len(chosen))
    with app.connection() as conn:
        demo_tables.flip_labels(conn, chosen.tolist(), shifts.tolist(), n_classes)
    return sorted(chosen.tolist())
