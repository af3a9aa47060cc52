"""The propose step: embed text columns, read, diagnose each low-valued row, let
the repairer for its kind propose, verify every proposal by a counterfactual
retrain, and write them to the audit table.

The rows looked at are those with hard evidence of a broken cell (a null, an
extreme number, a broken vector: valuation can miss a row pushed far from the
data), then the rows valued below the method's harm threshold (0 for Shapley-style
values, 0.5 for Data-OOB), then low-valued rows whose label their neighbours and a
classifier both contradict (valuation can miss a flip few validation rows reach);
never a row that helps for no reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql

from mendb.db import datasets
from mendb.db.datasets import Dataset
from mendb.db.embeddings import SyncReport, read_texts, sync_text_column
from mendb.db.neighbours import PgvectorNeighbours
from mendb.db.read import DatasetRead, read_dataset
from mendb.db.repairs import insert_proposals, list_repairs, values_before_repair
from mendb.repair.diagnose import broken_cell_rows, diagnose, doubted_label_rows
from mendb.repair.embedder import encoder as load_encoder
from mendb.repair.proposals import Column, RepairContext, Repairer, RepairProposal, TextEncoder
from mendb.repair.repairers import default_repairers
from mendb.repair.selection import doubt_pool, select_suspects
from mendb.repair.verify import Verifier
from mendb.valuation.data import TrainingArrays
from mendb.valuation.preprocess import prepare

Progress = Callable[[float], None]


def text_columns(dataset: Dataset) -> list[str]:
    """Text features, and the text columns vector features derive from."""
    names = [f.name for f in dataset.features if f.kind == "text"]
    return names + [f.source for f in dataset.features if f.source and f.source not in names]


def embed(
    conn: psycopg.Connection[Any], dataset: Dataset, encoder: Any, progress: Progress | None
) -> list[SyncReport]:
    """Bring the cached embeddings of the text features up to date."""
    return [
        sync_text_column(conn, dataset, f.name, encoder.name, encoder.encode, progress)
        for f in dataset.features
        if f.kind == "text"
    ]


def cached_models(
    conn: psycopg.Connection[Any], dataset: Dataset, model: str
) -> dict[str, tuple[str, int]]:
    """Text features with cached embeddings of `model`: column -> (model, dims)."""
    rows = conn.execute(
        "SELECT column_name, max(dims) FROM mendb.embeddings WHERE dataset = %s"
        " AND model = %s AND table_name = %s GROUP BY column_name",
        [dataset.name, model, str(dataset.table)],
    ).fetchall()
    text = {f.name for f in dataset.features if f.kind == "text"}
    return {column: (model, int(dims)) for column, dims in rows if column in text}


def propose(
    conn: psycopg.Connection[Any],
    name: str,
    values_of: Callable[[TrainingArrays], tuple[int, Any]],
    *,
    max_rows: int = 100,
    k: int = 10,
    model: str,
    repairers: Sequence[Repairer] | None = None,
    verify: bool = True,
    actor: str | None = None,
    progress: Progress | None = None,
) -> list[int]:
    dataset = datasets.get(conn, name)
    encoder = load_encoder(model) if text_columns(dataset) else None
    if encoder is not None:
        embed(conn, dataset, encoder, progress)
    read = read_dataset(conn, dataset, cached_models(conn, dataset, model))
    data = prepare(read.arrays)
    run_id, values = values_of(data)
    columns = _columns(conn, dataset, read)
    broken = broken_cell_rows(columns)
    doubted = doubted_label_rows(data, doubt_pool(values, max_rows), k=k)
    suspects = select_suspects(values, max_rows, broken, doubted)
    context = RepairContext(
        data,
        values,
        suspects,
        dataset.label,
        columns=columns,
        neighbours=_neighbours(conn, dataset, data, encoder),
        encoder=encoder,
        source_labels=source_labels(conn, dataset, data),
        trusted_validation=dataset.split.validation_table is not None,
    )
    context = replace(context, diagnoses=diagnose(context, k=k))
    proposals = [p for r in repairers or default_repairers(k) for p in r.propose(context)]
    proposals = _with_current_values(conn, dataset, _without_open(conn, name, proposals))
    if verify and proposals:
        proposals = Verifier(read.arrays, dataset.label, encoder).verify(proposals)
    return insert_proposals(conn, name, run_id, proposals, actor)


def _without_open(
    conn: psycopg.Connection[Any], name: str, proposals: list[RepairProposal]
) -> list[RepairProposal]:
    """Rows with an open (proposed or accepted) repair are not proposed again. They
    stay suspects while proposing, so that they are nobody's trusted neighbour and
    proposing twice sees the same evidence."""
    open_rows = {
        r["row_key"] for r in list_repairs(conn, dataset=name, status=["proposed", "accepted"])
    }
    return [p for p in proposals if p.row_key not in open_rows]


def source_labels(
    conn: psycopg.Connection[Any], dataset: Dataset, data: TrainingArrays
) -> NDArray[np.int64] | None:
    """Each training row's label before any applied relabel, as class indices; None
    when no label was changed."""
    before = values_before_repair(conn, dataset.name, dataset.label)
    if not before:
        return None
    labels = data.train.y.copy()
    keys = data.train.keys.astype(str)
    for position in np.flatnonzero(np.isin(keys, list(before))):
        old = before[keys[position]]
        if old is not None and old in data.classes:
            labels[position] = data.classes.index(old)
    return labels


def _columns(
    conn: psycopg.Connection[Any], dataset: Dataset, read: DatasetRead
) -> tuple[Column, ...]:
    raw = read.arrays
    names = raw.feature_names
    columns: list[Column] = []
    for feature in dataset.features:
        if feature.kind == "numeric":
            values = raw.train.x[:, names.index(feature.name)]
            columns.append(Column(feature.name, "numeric", values, feature.type_name))
        elif feature.kind == "vector":
            picked = [j for j, n in enumerate(names) if n.startswith(f"{feature.name}[")]
            columns.append(
                Column(feature.name, "vector", raw.train.x[:, picked], feature.type_name,
                       feature.source)
            )  # fmt: skip
    for text in text_columns(dataset):
        by_key = {key: value for key, value, _ in read_texts(conn, dataset, text, dataset.table)}
        values = np.array([by_key.get(str(k)) for k in raw.train.keys], dtype=object)
        columns.append(Column(text, "text", values, "text"))
    return tuple(columns)


def _neighbours(
    conn: psycopg.Connection[Any],
    dataset: Dataset,
    data: TrainingArrays,
    encoder: TextEncoder | None,
) -> PgvectorNeighbours | None:
    text = [f.name for f in dataset.features if f.kind == "text"]
    if not text or encoder is None:
        return None
    return PgvectorNeighbours(
        conn, dataset.name, text[0], encoder.name, str(dataset.table), encoder.dim, data.train.keys
    )


def _with_current_values(
    conn: psycopg.Connection[Any], dataset: Dataset, proposals: list[RepairProposal]
) -> list[RepairProposal]:
    """Old values exactly as PostgreSQL prints them (what apply compares), and no
    proposal that would change nothing."""
    out = []
    for column in sorted({p.column for p in proposals}):
        keys = [p.row_key for p in proposals if p.column == column]
        query = sql.SQL("SELECT {k}::text, {c}::text FROM {t} WHERE {k}::text = ANY(%s)").format(
            k=sql.Identifier(dataset.key), c=sql.Identifier(column), t=dataset.table.identifier
        )
        current = dict(conn.execute(query, [keys]).fetchall())
        for p in proposals:
            if p.column == column and current.get(p.row_key) != p.new_value:
                out.append(replace(p, old_value=current.get(p.row_key)))
    return out
