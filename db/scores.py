"""Per-row scores in `mendb.scores`, written with one binary COPY.

The fixed-width parts of each COPY row are packed by numpy; only the variable
length row keys are interleaved in Python.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import psycopg

from mendb.db.queries import query
from mendb.valuation.result import ValuationResult

_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)
_PREFIX = np.dtype([("fields", ">i2"), ("run_len", ">i4"), ("run", ">i8"), ("key_len", ">i4")])
_SUFFIX = np.dtype([
    ("value_len", ">i4"), ("value", ">f8"), ("stderr_len", ">i4"), ("stderr", ">f8"),
    ("samples_len", ">i4"), ("samples", ">i8"), ("rank_len", ">i4"), ("rank", ">i4"),
])  # fmt: skip


def write_scores(conn: psycopg.Connection[Any], run_id: int, result: ValuationResult) -> int:
    keys = [str(k).encode() for k in result.row_keys]
    n = len(keys)
    prefix = np.empty(n, dtype=_PREFIX)
    prefix["fields"], prefix["run_len"], prefix["run"], prefix["key_len"] = 6, 8, run_id, 0
    prefix["key_len"] = [len(k) for k in keys]
    suffix = np.empty(n, dtype=_SUFFIX)
    suffix["value_len"] = suffix["stderr_len"] = suffix["samples_len"] = 8
    suffix["rank_len"] = 4
    suffix["value"], suffix["stderr"] = result.values, result.stderr
    suffix["samples"], suffix["rank"] = result.counts, result.ranks()
    pre, suf = prefix.tobytes(), suffix.tobytes()
    p, s = _PREFIX.itemsize, _SUFFIX.itemsize
    buffer = bytearray(_HEADER)
    for i, key in enumerate(keys):
        buffer += pre[i * p : (i + 1) * p]
        buffer += key
        buffer += suf[i * s : (i + 1) * s]
    buffer += _TRAILER
    with (
        conn.transaction(),
        conn.cursor() as cur,
        cur.copy(query("scores_copy_in")) as copy,
    ):
        copy.write(buffer)
    return n


def read_scores(
    conn: psycopg.Connection[Any], run_id: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(row keys, values) of one run, by binary COPY."""
    keys: list[str] = []
    values: list[float] = []
    with (
        conn.cursor() as cur,
        cur.copy(query("scores_copy_out"), {"run_id": run_id}) as copy,
    ):
        copy.set_types(["text", "float8"])
        for key, value in copy.rows():
            keys.append(key)
            values.append(value)
    return np.array(keys, dtype=object), np.array(values, dtype=np.float64)
