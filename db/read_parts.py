"""The arrays of one table's read, filled block by block as its binary COPY
streams in, each row going straight to its part (training, validation, test).

Nothing here touches a connection: `db.read` builds the query and the record
layout, `db.copy_stream` hands over blocks of records, and a `TableSink` checks
each block's framing, decodes its fields, hashes it and appends its rows to the
part its split unit routes them to, all while the server is producing the next
rows. Each part is allocated for every row of the table and only its first rows
are written and returned, so no pass over the finished matrix is needed to split
it: pages never written are never committed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import compress, pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mendb.db.copy_stream import TRAILER, framing_error
from mendb.db.features import Feature
from mendb.valuation.data import Split

NULL_LABEL = -(2**63)  # what an integer label field holds for a null label
PARTS = 3  # training, validation, test
_HEX_VALUE = np.zeros(256, dtype=np.uint8)
_HEX_VALUE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16)


@dataclass(frozen=True)
class LabelCodes:
    """How a record's label field (`f1`) becomes a class code, -1 for a null.
    Without `values` the field already holds the 1-based position of the label
    in the classes, 0 for a null. With them it holds the integer label itself,
    or NULL_LABEL, and `codes` are the codes of `values` (ascending). `raw`
    keeps the integer labels as they are, for classes not known before the
    read; `TableSink.recode` gives them their codes afterwards. `target` is a
    regression target: the field holds its float8 value, NaN for a null, and
    decodes to itself."""

    values: NDArray[np.int64] | None = None
    codes: NDArray[np.int64] | None = None
    raw: bool = False
    target: bool = False

    @classmethod
    def for_integers(cls, classes: tuple[str, ...], marks_null: bool = True) -> LabelCodes | None:
        """None when a class is not the text of an int8, or is NULL_LABEL while
        that marks a null."""
        try:
            values = [int(c) for c in classes]
        except ValueError:
            return None
        for value, text in zip(values, classes, strict=True):
            if str(value) != text or not -(2**63) <= value < 2**63:
                return None
            if marks_null and value == NULL_LABEL:
                return None
        order = np.argsort(values, kind="stable")
        return cls(np.array(values, dtype=np.int64)[order], order.astype(np.int64))

    def decode(self, field: NDArray[Any]) -> NDArray[Any]:
        if self.target:
            return field.astype(np.float64)
        if self.raw:
            return field.astype(np.int64)
        if self.values is None or self.codes is None:
            return field.astype(np.int64) - 1
        labels = field.astype(np.int64)
        if not len(self.values):
            return np.full(len(labels), -1, dtype=np.int64)
        at = np.searchsorted(self.values, labels).clip(0, len(self.values) - 1)
        return np.where(self.values[at] == labels, self.codes[at], -1)

    def nulls(self, decoded: NDArray[Any]) -> NDArray[np.bool_]:
        """Labels that are null; a target's NaN or infinity counts as one."""
        if self.target:
            finite: NDArray[np.bool_] = np.isfinite(decoded)
            return ~finite
        return decoded == NULL_LABEL if self.raw else decoded < 0


@dataclass(frozen=True)
class Layout:
    """What a values record holds: the key (an int8 field `key`) or not, the md5
    digest behind the split unit `f0` (see `split_units`), the label `f1`, then
    one field `f{i}` per feature from i = 2 (a vector also has `null{i}`).
    `framing` holds the value every count, length, dimension and padding word
    must have for the fields to sit where `dtype` says. With `predictions` the
    record ends with a float8 field `pred`: the user's stored prediction."""

    dtype: np.dtype[Any]
    framing: Mapping[str, int]
    features: tuple[Feature, ...]
    labels: LabelCodes
    key_in_stream: bool
    predictions: bool = False


class _Part:
    def __init__(self, capacity: int, width: int, target: bool, predictions: bool) -> None:
        self.x = np.empty((capacity, width))
        self.y = np.empty(capacity, dtype=np.float64 if target else np.int64)
        self.p = np.empty(capacity) if predictions else None
        self.keys: list[str] = []

    def append(
        self, x: NDArray[np.float64], y: NDArray[Any], keys: list[str], p: NDArray[Any] | None
    ) -> None:
        low, high = len(self.keys), len(self.keys) + len(keys)
        self.x[low:high], self.y[low:high] = x, y
        if self.p is not None and p is not None:
            self.p[low:high] = p
        self.keys.extend(keys)

    def split(self) -> Split:
        n = len(self.keys)
        return Split(self.x[:n], self.y[:n], np.array(self.keys, dtype=object))

    def predictions(self) -> NDArray[np.float64] | None:
        return None if self.p is None else self.p[: len(self.keys)]


class TableSink:
    """Takes the blocks of one table's values COPY. `routing` is (v, t): a row
    whose split unit is below v is a validation row, else below t a test row,
    else a training row. `keys` are given in stream order when the records do
    not carry them."""

    def __init__(
        self, layout: Layout, rows: int, routing: tuple[float, float], keys: list[str] | None
    ) -> None:
        self.layout, self.rows, self.routing = layout, rows, routing
        self.given_keys = keys
        self.width = width(layout.features)
        self.parts = [
            _Part(rows, self.width, layout.labels.target, layout.predictions) for _ in range(PARTS)
        ]
        self.digest = hashlib.sha256()
        self.filled = 0
        self.error: str | None = None
        self.null_label_key: str | None = None
        self.label_values: set[int] = set()  # the distinct labels, when read raw

    def take(self, records: NDArray[Any]) -> None:
        if self.error is not None:
            return
        low, high = self.filled, self.filled + len(records)
        if high > self.rows:
            self.error = f"more than {self.rows} rows"
            return
        if (bad := framing_error(records, self.layout.framing)) is not None:
            self.error = f"field {bad[0]} of row {low + bad[1] + 1} has another width"
            return
        self.digest.update(records.view(np.uint8).data)
        keys = self._keys(records, low, high)
        y = self.layout.labels.decode(records["f1"])
        nulls = self.layout.labels.nulls(y)
        if self.null_label_key is None and nulls.any():
            self.null_label_key = keys[int(np.argmax(nulls))]
        if self.layout.labels.raw:
            self.label_values.update(np.unique(y).tolist())
        x = np.empty((len(records), self.width))
        fill_features(x, records, self.layout.features)
        p = records["pred"] if self.layout.predictions else None
        units = split_units(records["f0"])
        part = np.where(units < self.routing[0], 1, np.where(units < self.routing[1], 2, 0))
        for index, destination in enumerate(self.parts):
            chosen = part == index
            if chosen.all():
                destination.append(x, y, keys, p)
            elif chosen.any():
                destination.append(
                    x[chosen],
                    y[chosen],
                    list(compress(keys, chosen.tolist())),
                    None if p is None else p[chosen],
                )
        self.filled = high

    def complete(self, rest: bytes) -> bool:
        """Whether every row arrived, framed as expected, and nothing more."""
        if self.error is None and (self.filled != self.rows or rest != TRAILER):
            self.error = f"{self.filled} rows of {self.rows}, then {len(rest)} bytes"
        return self.error is None

    def recode(self, codes: LabelCodes) -> None:
        """Replace the raw integer labels by their codes."""
        for part in self.parts:
            n = len(part.keys)
            part.y[:n] = codes.decode(part.y[:n])

    def splits(self) -> list[Split]:
        return [part.split() for part in self.parts]

    def train_predictions(self) -> NDArray[np.float64] | None:
        """The stored predictions of the training rows, in their order; None when
        the records do not carry them."""
        return self.parts[0].predictions()

    def _keys(self, records: NDArray[Any], low: int, high: int) -> list[str]:
        if self.given_keys is not None:
            return self.given_keys[low:high]
        return list(map(str, records["key"].tolist()))


def split_units(md5_hex: NDArray[np.uint8]) -> NDArray[np.float64]:
    """`mendb.split_unit` from the md5 digests it starts from, one row of 32
    lowercase hex digits each: the first 8 digits read as an unsigned integer,
    over 2**32. Exact in float64, as is the server's result, so both agree."""
    nibbles = _HEX_VALUE[md5_hex[:, :8]]
    octets = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    value = np.ascontiguousarray(octets).view(">u4")[:, 0]
    return value.astype(np.float64) / 2.0**32


def fill_features(
    x: NDArray[np.float64], records: NDArray[Any], features: tuple[Feature, ...]
) -> None:
    column, run = 0, list[str]()
    for i, feature in enumerate(features, start=2):
        if feature.kind in ("vector", "text"):
            column += _fill_scalars(x[:, column:], records, run)
            run = []
            dim = int(feature.dim or 0)
            block = x[:, column : column + dim]
            block[...] = records[f"f{i}"].reshape(len(records), dim)
            block[records[f"null{i}"] == 1.0] = np.nan
            column += dim
        else:
            run.append(f"f{i}")
    _fill_scalars(x[:, column:], records, run)


def _fill_scalars(x: NDArray[np.float64], records: NDArray[Any], names: list[str]) -> int:
    """Fill the first columns of `x` from float8 fields that follow each other at
    a constant distance, all in one strided copy rather than one per field."""
    if not names:
        return 0
    fields: Mapping[str, Any] = records.dtype.fields or {}
    offsets = [fields[name][1] for name in names]
    step = offsets[1] - offsets[0] if len(offsets) > 1 else 8
    if any(b - a != step for a, b in pairwise(offsets)):
        for column, name in enumerate(names):
            x[:, column] = records[name]
        return len(names)
    values = np.ndarray(
        (len(records), len(names)),
        dtype=fields[names[0]][0],
        buffer=records,
        offset=offsets[0],
        strides=(records.dtype.itemsize, step),
    )
    x[:, : len(names)] = values
    return len(names)


def width(features: tuple[Feature, ...]) -> int:
    return sum(int(f.dim or 0) if f.kind in ("vector", "text") else 1 for f in features)
