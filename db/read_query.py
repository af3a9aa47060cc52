"""The values COPY of one table of a read, and the layout of its records.

Each field is a `read_field_*` query of `sql/read.sql`, cast to a fixed width
(float8, or pgvector's own binary form for vectors), so the stream is a sequence
of equal-sized records that `db.read_parts.Layout` describes. Values are
parameters: those a field needs once per feature (its categories, a vector's
dimension) are named after the feature's position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from psycopg import sql

from mendb.db.catalog import TableRef
from mendb.db.datasets import Dataset
from mendb.db.features import Feature
from mendb.db.queries import query
from mendb.db.read_parts import NULL_LABEL, LabelCodes, Layout


@dataclass
class _Record:
    """The fields of a values record as they are added, with their parameters, the
    numpy layout of each and the framing words it must carry."""

    fields: list[sql.Composable] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    layout: list[tuple[Any, ...]] = field(default_factory=lambda: [("count", ">i2")])
    # the field count's value is set once the fields are known
    framing: dict[str, int] = field(default_factory=lambda: {"count": 0})

    def add(self, statement: sql.SQL, **parts: sql.Composable) -> None:
        alias = sql.Identifier(f"_mendb_{len(self.fields)}")
        self.fields.append(statement.format(alias=alias, **parts))


def values_query(
    dataset: Dataset,
    table: TableRef,
    features: tuple[Feature, ...],
    classes: tuple[str, ...],
    categories: dict[str, tuple[str, ...]],
    labels: LabelCodes | None,
    integer_key: bool,
    models: dict[str, str],
    predictions: str | None = None,
) -> tuple[sql.Composed, dict[str, Any], Layout]:
    """The values COPY, its parameters, and the layout of its records. Output
    columns have aliases of their own, so that ORDER BY names the table's key
    column, never an output column that happens to share its name. `predictions`
    names a numeric column of stored predictions, read as the last field."""
    record = _select_list(dataset, table, features, classes, categories, labels, integer_key)
    if predictions is not None:
        record.add(query("read_field_number"), column=sql.Identifier(predictions))
        record.layout += [("plen", ">i4"), ("pred", ">f8")]
        record.framing["plen"] = 8
        record.framing["count"] = len(record.fields)
    joins = _embedding_joins(dataset, table, features, models, record.params)
    statement = query("read_values_copy").format(
        fields=sql.SQL(", ").join(record.fields),
        table=table.identifier,
        joins=joins,
        key=sql.Identifier(dataset.key),
    )
    layout = Layout(
        np.dtype(record.layout),
        record.framing,
        features,
        labels or LabelCodes(),
        integer_key,
        predictions is not None,
    )
    return statement, record.params, layout


def _embedding_joins(
    dataset: Dataset,
    table: TableRef,
    features: tuple[Feature, ...],
    models: dict[str, str],
    params: dict[str, Any],
) -> sql.Composable:
    """One lateral join per text feature, bringing its current cached embedding
    as `_mendb_e{i}.v` (null when there is none for the row's current text)."""
    joins: list[sql.Composable] = []
    params |= {"dataset": dataset.name, "table_name": str(table)}
    for i, feature in enumerate(features, start=2):
        if feature.kind != "text":
            continue
        joins.append(
            query("read_embedding_join").format(
                table=table.identifier,
                key=sql.Identifier(dataset.key),
                column=sql.Identifier(feature.name),
                column_name=sql.Placeholder(f"column_{i}"),
                model=sql.Placeholder(f"model_{i}"),
                alias=sql.Identifier(f"_mendb_e{i}"),
            )
        )
        params |= {f"column_{i}": feature.name, f"model_{i}": models[feature.name]}
    return sql.SQL(" ").join(joins)


# Deliberately like values_query's signature: it passes its inputs through, less the
# embeddings' models and the predictions column, which are not fields of this list.
def _select_list(
    dataset: Dataset,
    table: TableRef,
    features: tuple[Feature, ...],
    classes: tuple[str, ...],
    categories: dict[str, tuple[str, ...]],
    labels: LabelCodes | None,
    integer_key: bool,
) -> _Record:
    """The fields of the record `read_parts.Layout` describes; an integer label
    travels as itself, so the server does not look it up among the classes row
    by row, and a regression target as its float8 value (NaN for a null)."""
    key, label = sql.Identifier(dataset.key), sql.Identifier(dataset.label)
    record = _Record()
    if integer_key:
        record.add(query("read_field_key"), table=table.identifier, key=key)
        record.layout += [("keylen", ">i4"), ("key", ">i8")]
        record.framing["keylen"] = 8
    # The digest `mendb.split_unit` maps to [0, 1), sent as its hex text: the
    # mapping itself goes through numeric division and a float parse on the
    # server for every row, and `read_parts.split_units` does it in bulk.
    record.add(query("read_field_split_digest"), key=key)
    record.params["seed"] = dataset.split.seed
    record.layout += [("len0", ">i4"), ("f0", "u1", (32,))]
    if labels is not None and labels.target:
        record.add(query("read_field_number"), column=label)
        record.layout += [("len1", ">i4"), ("f1", ">f8")]
    elif labels is not None:
        record.add(query("read_field_label_integer"), label=label)
        record.params["null_label"] = NULL_LABEL
        record.layout += [("len1", ">i4"), ("f1", ">i8")]
    else:
        record.add(query("read_field_label_class"), label=label)
        record.params["classes"] = list(classes)
        record.layout += [("len1", ">i4"), ("f1", ">f8")]
    record.framing |= {"len0": 32, "len1": 8}
    for i, feature in enumerate(features, start=2):
        _add_feature(record, i, feature, categories)
    record.framing["count"] = len(record.fields)
    return record


def _add_feature(
    record: _Record, i: int, feature: Feature, categories: dict[str, tuple[str, ...]]
) -> None:
    column = sql.Identifier(feature.name)
    if feature.kind == "text":
        column = sql.Identifier(f"_mendb_e{i}", "v")
    if feature.kind in ("vector", "text"):
        dim = int(feature.dim or 0)
        record.add(query("read_field_vector"), column=column, dim=sql.Placeholder(f"dim_{i}"))
        record.params[f"dim_{i}"] = dim
        record.add(query("read_field_vector_null"), column=column)
        record.layout += [
            (f"len{i}", ">i4"),
            (f"dim{i}", ">i2"),
            (f"pad{i}", ">i2"),
            (f"f{i}", ">f4", (dim,)),
            (f"nlen{i}", ">i4"),
            (f"null{i}", ">f8"),
        ]
        record.framing |= {f"len{i}": 4 + 4 * dim, f"dim{i}": dim, f"pad{i}": 0, f"nlen{i}": 8}
        return
    if feature.kind == "categorical":
        placeholder = sql.Placeholder(f"categories_{i}")
        record.add(query("read_field_categorical"), column=column, categories=placeholder)
        record.params[f"categories_{i}"] = list(categories[feature.name])
    else:
        record.add(query("read_field_number"), column=column)
    record.layout += [(f"len{i}", ">i4"), (f"f{i}", ">f8")]
    record.framing[f"len{i}"] = 8


def feature_layout(features: tuple[Feature, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names and kinds of the feature matrix's columns: one per scalar
    feature, one per dimension of a vector (or embedded text)."""
    names: list[str] = []
    kinds: list[str] = []
    for feature in features:
        if feature.kind in ("vector", "text"):
            names += [f"{feature.name}[{j}]" for j in range(int(feature.dim or 0))]
            kinds += ["vector"] * int(feature.dim or 0)
        else:
            names.append(feature.name)
            kinds.append(feature.kind)
    return tuple(names), tuple(kinds)
