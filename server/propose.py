"""The propose step on a connection: embed text columns, read, choose the suspects,
read the table's state for them, run the propose chain (`repair.pipeline.propose`:
diagnose each suspect, let the repairer for its kind propose, verify every proposal
by a counterfactual retrain), and write the proposals to the audit table.

The rows looked at are those with hard evidence of a broken cell (a null, an
extreme number, a broken vector: valuation can miss a row pushed far from the
data), then the rows valued below the method's harm threshold (0 for Shapley-style
values, 0.5 for Data-OOB), then low-valued rows whose label their neighbours and a
classifier both contradict (valuation can miss a flip few validation rows reach);
never a row that helps for no reason. For a regression dataset the last are the
rows whose target `repair.target` doubts, the label's expert is the numeric-target
repairer, and verification retrains the user's model (`estimator`) where given;
`predictions` names the column of the user's stored out-of-fold predictions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray

from mendb.db import catalog, datasets
from mendb.db.datasets import Dataset
from mendb.db.embeddings import SyncReport, read_texts, sync_text_column
from mendb.db.neighbours import PgvectorNeighbours
from mendb.db.proposal_inputs import cached_models, table_state
from mendb.db.read import DatasetRead, read_dataset
from mendb.db.repairs import insert_proposals, values_before_repair
from mendb.repair import pipeline
from mendb.repair.diagnose import Thresholds, broken_cell_rows, doubted_label_rows
from mendb.repair.embedder import encoder as load_encoder
from mendb.repair.pipeline import ProposeOutcome
from mendb.repair.proposals import Column, RepairContext, Repairer, TextEncoder
from mendb.repair.repairers import default_repairers
from mendb.repair.selection import doubt_pool, select_suspects
from mendb.repair.target import TargetSettings, assess_targets
from mendb.repair.verify import Verifier
from mendb.valuation.data import Task, TrainingArrays
from mendb.valuation.models import ModelSpec
from mendb.valuation.preprocess import prepare
from mendb.valuation.result import ValuationResult

Progress = Callable[[float], None]


@dataclass(frozen=True)
class Proposed:
    """The ids of the proposals written, and why there are none where there are
    none: a user told "0 proposals" and nothing more cannot tell a clean table
    from one mendb could not read."""

    ids: list[int]
    reason: str = ""


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
    estimator: ModelSpec | None = None,
    predictions: str | None = None,
) -> Proposed:
    dataset = datasets.get(conn, name)
    encoder = load_encoder(model) if text_columns(dataset) else None
    if encoder is not None:
        embed(conn, dataset, encoder, progress)
    read = read_dataset(conn, dataset, cached_models(conn, dataset, model), predictions)
    data = prepare(read.arrays)
    run_id, values = values_of(data)
    columns = _columns(conn, dataset, read)
    broken = broken_cell_rows(columns)
    doubted, doubt = _doubted(data, values, dataset.label, max_rows, k)
    suspects = select_suspects(values, max_rows, broken, doubted)
    regression = data.task is Task.REGRESSION
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
        label_type=_label_type(conn, dataset) if regression else "",
    )
    # Proposals come for suspects only, in the label or a read column.
    keys = [str(key) for key in data.train.keys[suspects]]
    table = table_state(conn, dataset, keys, [dataset.label, *(c.name for c in columns)])
    outcome = pipeline.propose(
        context,
        repairers or default_repairers(k, data.task),
        Verifier(dataset.label, encoder, model=estimator) if verify else None,
        raw=read.arrays,
        k=k,
        table=table,
    )
    ids = insert_proposals(conn, name, run_id, outcome.proposals, actor)
    most_doubted = float(doubt[suspects].max()) if doubt is not None and len(suspects) else None
    return Proposed(ids, "" if ids else why_none(
        outcome, name, values.harmful_below, regression=regression,
        most_doubted=most_doubted, trusted_validation=context.trusted_validation,
    ))  # fmt: skip


def why_none(
    outcome: ProposeOutcome,
    name: str,
    harmful_below: float | None,
    *,
    regression: bool = False,
    most_doubted: float | None = None,
    trusted_validation: bool = False,
) -> str:
    """Why the propose chain left no proposal: the first of its links that came up
    empty. `most_doubted`: the highest doubt among a regression table's suspects."""
    label = "target" if regression else "label"
    if outcome.suspects == 0:
        harm = f"below {harmful_below:g} (harmful)" if harmful_below is not None else "harmful"
        return (
            f"no row of {name} is valued {harm}, and none has a broken cell or a"
            f" contradicted {label} to repair"
        )
    if not outcome.diagnoses:
        reason = (
            f"none of the {outcome.suspects} rows looked at has a broken cell or a"
            f" {label} doubted at {Thresholds().label:g} or more"
        )
        if most_doubted is None:
            return reason
        reason += f" (the most doubted target: {most_doubted:.2f})"
        if trusted_validation:
            return reason
        # Doubt is calibrated on the validation rows; drawn from the table, they
        # carry its errors, and a null that holds the errors hides them.
        return (
            f"{reason}; doubt is calibrated on validation rows drawn from {name} itself,"
            " which carry its errors too: a small trusted validation table"
            " (mendb register --validation-table) makes it sharper"
        )
    if outcome.made == 0:
        rows = len({d.index for d in outcome.diagnoses})
        return f"no repair was found for the {rows} diagnosed row{'s' if rows > 1 else ''}"
    return (
        f"the {outcome.made} repairs found would change nothing, or are for rows with an"
        " open proposal"
    )


def _doubted(
    data: TrainingArrays, values: ValuationResult, label: str, max_rows: int, k: int
) -> tuple[NDArray[np.int64], NDArray[np.float64] | None]:
    """Rows valued just above harm whose label the data contradicts: a class its
    neighbours and a classifier vote against, or a target `repair.target` doubts;
    with every training row's target doubt on a regression table."""
    pool = doubt_pool(values, max_rows)
    if data.task is not Task.REGRESSION:
        return doubted_label_rows(data, pool, k=k), None
    context = RepairContext(data, values, np.zeros(0, dtype=np.int64), label)
    assessment = assess_targets(context, TargetSettings(k=k))
    return assessment.doubted(pool, Thresholds().label), assessment.doubt


def _label_type(conn: psycopg.Connection[Any], dataset: Dataset) -> str:
    """The label column's SQL type, so a new target keeps its text form."""
    column = catalog.table_columns(conn, dataset.table).get(dataset.label)
    return column.type_name if column is not None else ""


def source_labels(
    conn: psycopg.Connection[Any], dataset: Dataset, data: TrainingArrays
) -> NDArray[np.int64] | None:
    """Each training row's label before any applied relabel, as class indices; None
    when no label was changed, or the label is a regression target."""
    if data.task is Task.REGRESSION:
        return None
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
