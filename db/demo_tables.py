"""The tables the demos plant their errors in, and the truth they score against.

`mendb demo` loads scikit-learn's digits into `public.demo_train` and records the
labels it flips in `public.demo_flips`; the text demo loads reviews into
`public.demo_text_train` and records every planted error in
`public.demo_text_truth`. The planting is plain SQL on purpose: it is the dirt,
not a repair.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql

from mendb.db import datasets
from mendb.db.queries import query

# The tables the queries of `sql/demo.sql` name.
DIGITS_TABLE = "public.demo_train"
TEXT_TABLE = "public.demo_text_train"


def reset_digits(conn: psycopg.Connection[Any], dataset: str) -> None:
    """Forget the demo's registration and drop its tables."""
    with conn.transaction():
        datasets.delete(conn, dataset)
        conn.execute(query("demo_drop_tables"))


def load_digits(
    conn: psycopg.Connection[Any], x: NDArray[np.float64], y: NDArray[np.int64]
) -> None:
    """The rows, with features f00, f01, ..., by binary COPY, and an empty record
    of flips."""
    names = [f"f{j:02d}" for j in range(x.shape[1])]
    features = sql.SQL(", ").join(
        query("demo_feature_column").format(column=sql.Identifier(n)) for n in names
    )
    with conn.transaction():
        conn.execute(query("demo_create_train").format(features=features))
        conn.execute(query("demo_create_flips"))
        with conn.cursor() as cur, cur.copy(query("demo_copy_train")) as copy:
            copy.set_types(["int4", *["float8"] * len(names), "int4"])
            for i, (row, label) in enumerate(zip(x, y, strict=True)):
                copy.write_row([i, *map(float, row), int(label)])


def flip_labels(
    conn: psycopg.Connection[Any], ids: list[int], shifts: list[int], classes: int
) -> None:
    """Shift the label of each row of `ids` by its shift (modulo `classes`),
    recording the true one first."""
    with conn.transaction():
        conn.execute(
            query("demo_record_flips"), {"ids": ids, "shifts": shifts, "classes": classes}
        )
        conn.execute(query("demo_apply_flips"))


def flipped_truth(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """The true label of each flipped row, both as text."""
    return dict(conn.execute(query("demo_flipped_truth")).fetchall())


def reset_text(conn: psycopg.Connection[Any], dataset: str) -> None:
    with conn.transaction():
        datasets.delete(conn, dataset)
        conn.execute(query("demo_text_drop_tables"))


def load_reviews(
    conn: psycopg.Connection[Any], texts: Sequence[str], labels: Sequence[str]
) -> None:
    """The reviews and their labels (the vector column empty), and an empty truth."""
    with conn.transaction():
        conn.execute(query("demo_text_create_train"))
        conn.execute(query("demo_text_create_truth"))
        with conn.cursor() as cur, cur.copy(query("demo_text_copy_train")) as copy:
            for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
                copy.write_row([i, text, label])


def record_truth(conn: psycopg.Connection[Any], kind: str, rows: list[tuple[int, str]]) -> None:
    """What rows held before an error of `kind` was planted in them."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            query("demo_text_record_truth"),
            [{"kind": kind, "id": key, "true_value": value} for key, value in rows],
        )


def set_reviews(conn: psycopg.Connection[Any], reviews: dict[int, str]) -> None:
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            query("demo_text_set_review"), [{"review": v, "id": k} for k, v in reviews.items()]
        )


def set_labels(conn: psycopg.Connection[Any], labels: dict[int, str]) -> None:
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            query("demo_text_set_label"), [{"label": v, "id": k} for k, v in labels.items()]
        )


def derive_vectors(conn: psycopg.Connection[Any], dataset: str) -> None:
    """Fill the vector column with each review's cached embedding."""
    with conn.transaction():
        conn.execute(query("demo_text_derive_vectors"), {"dataset": dataset})


def vectors(conn: psycopg.Connection[Any], ids: list[int]) -> list[tuple[int, str]]:
    """(id, vector as text) of the rows `ids`."""
    return conn.execute(query("demo_text_vectors"), {"ids": ids}).fetchall()


def copy_vectors(conn: psycopg.Connection[Any], sources: dict[int, int]) -> None:
    """Each row of `sources` takes the vector of the row it maps to."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            query("demo_text_copy_vector"), [{"source": s, "id": k} for k, s in sources.items()]
        )


def text_truth(conn: psycopg.Connection[Any]) -> dict[tuple[str, str], str]:
    """The value each planted error replaced, by (kind, row key)."""
    return {(kind, key): value for kind, key, value in conn.execute(query("demo_text_truth"))}
