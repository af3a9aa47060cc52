"""A binary COPY out, delivered as blocks of fixed-width numpy records.

PostgreSQL sends a binary COPY as one message per row. Each message is written
into its place in one reused block of records, and every full block is handed
to the caller while the server goes on producing the next rows, so the work done
on a block overlaps the transfer and memory holds one block, whatever the size
of the table. A block is small enough to stay in cache while the caller reads
its fields one after the other, and small enough that the server, which stops
sending once the socket's buffer is full, is not kept waiting while the caller
decodes it, as it was with blocks of a megabyte (docs/BENCHMARKS.md,
"Measurements behind design choices").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql

HEADER = 19  # PGCOPY signature (11) + flags (4) + header extension length (4)
TRAILER = b"\xff\xff"  # a field count of -1 ends the stream
BLOCK_BYTES = 1 << 18


def stream_records(
    conn: psycopg.Connection[Any],
    query: sql.Composed,
    params: Mapping[str, Any],
    dtype: np.dtype[Any],
    rows: int,
    take: Callable[[NDArray[Any]], None],
) -> bytes:
    """Run `query` (a `COPY ... TO STDOUT (FORMAT BINARY)` expected to return
    `rows` rows) and call `take` with each block of whole records, in order;
    `take` must copy what it keeps, since the block is reused. Returns the bytes
    that followed the last whole record: exactly `TRAILER` when every row had
    the width of `dtype`."""
    block = _Block(dtype, BLOCK_BYTES, take)
    with conn.cursor() as cur, cur.copy(query, params) as copy:
        # The protocol sends one message per row, so the first `rows` messages
        # can be taken straight from libpq, without a generator round trip per
        # row, and never include the end of the COPY, which psycopg reads
        # below. When no message is ready yet, psycopg waits for the next one.
        get_copy_data = conn.pgconn.get_copy_data
        target, size = block.target, block.size
        data: Any
        for _ in range(rows):
            length, data = get_copy_data(1)
            if length == 0:
                data = copy.read()
                if not data:
                    break
                length = len(data)
            elif length < 0:
                raise psycopg.OperationalError("the COPY ended before its rows")
            end = block.position + length
            if block.position >= 0 and end < size:
                target[block.position : end] = data
                block.position = end
            else:
                block.write(data)
        for data in copy:
            block.write(data)
    return block.finish()


class _Block:
    """One reused block of records, written a message at a time."""

    def __init__(
        self, dtype: np.dtype[Any], block_bytes: int, take: Callable[[NDArray[Any]], None]
    ) -> None:
        self.records = np.empty(max(1, block_bytes // dtype.itemsize), dtype=dtype)
        self.target = self.records.view(np.uint8).data
        self.size = len(self.target)
        self.take = take
        self.position = -HEADER  # of the next byte written; negative in the header

    def write(self, chunk: Any) -> None:
        position, end = self.position, self.position + len(chunk)
        if position >= 0 and end < self.size:
            self.target[position:end] = chunk
            self.position = end
            return
        data: Any = memoryview(chunk)
        if position < 0:
            skipped = min(-position, len(data))
            data, position = data[skipped:], position + skipped
        while data:
            n = min(self.size - position, len(data))
            self.target[position : position + n] = data[:n]
            data, position = data[n:], position + n
            if position == self.size:
                self.take(self.records)
                position = 0
        self.position = position

    def finish(self) -> bytes:
        """Hand over the last whole records; return the bytes after them."""
        written = max(self.position, 0)
        rows = written // self.records.dtype.itemsize
        if rows:
            self.take(self.records[:rows])
        return bytes(self.target[rows * self.records.dtype.itemsize : written])


def framing_error(records: NDArray[Any], framing: Mapping[str, int]) -> tuple[str, int] | None:
    """The first row whose framing fields (count, length, dimension and padding
    words) do not all hold the values given, and the first such field of it, in
    the order of `framing`; None when every row is framed as expected. A null
    field, or one of another width, shifts everything after it in the stream, so
    the first wrong word marks the row and the field at fault."""
    if not any((view != value).any() for view, value in _framing_views(records, framing)):
        return None
    found: tuple[str, int] | None = None
    for name, value in framing.items():
        wrong = records[name] != value
        if wrong.any() and (found is None or int(np.argmax(wrong)) < found[1]):
            found = name, int(np.argmax(wrong))
    return found


def _framing_views(
    records: NDArray[Any], framing: Mapping[str, int]
) -> list[tuple[NDArray[Any], int]]:
    """The framing fields as few strided views as possible: fields of one type and
    expected value, each the same distance after the one before, are one view."""
    fields: Mapping[str, Any] = records.dtype.fields or {}
    runs: list[tuple[list[str], int]] = []
    for name, value in framing.items():
        if runs and _extends(fields, runs[-1], name, value):
            runs[-1][0].append(name)
        else:
            runs.append(([name], value))
    views = []
    for names, value in runs:
        first, offset = fields[names[0]][0], fields[names[0]][1]
        step = fields[names[1]][1] - offset if len(names) > 1 else first.itemsize
        view = np.ndarray(
            (len(records), len(names)),
            dtype=first,
            buffer=records,
            offset=offset,
            strides=(records.dtype.itemsize, step),
        )
        views.append((view, value))
    return views


def _extends(fields: Mapping[str, Any], run: tuple[list[str], int], name: str, value: int) -> bool:
    names, run_value = run
    if value != run_value or fields[name][0] != fields[names[0]][0]:
        return False
    if len(names) == 1:
        return bool(fields[name][1] > fields[names[0]][1])
    step = fields[names[1]][1] - fields[names[0]][1]
    return bool(fields[name][1] - fields[names[-1]][1] == step)
